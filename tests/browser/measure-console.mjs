// Measures the staff console with a long queue and prints a table:
// - time from pressing "Sign in" to QUEUE_SIZE queue rows in the DOM and painted;
// - time from the `notify` frame of one more chat reaching the page to its toast painted,
//   and from the buyer's request_person leaving Node to that toast painted;
// - JS heap and DOM node count with the full queue (CDP Performance.getMetrics);
// - frame intervals while the queue list scrolls, and long tasks while it sits idle with
//   every row's waiting time ticking.
// The chats come from QUEUE_SIZE buyer WebSockets (the `ws` package) that each send hello,
// one message and request_person, and close once the chat is queued. At most
// BUYER_CONCURRENCY are open at once (the server allows 20 per address), and each sends
// 3 frames (the server allows 5 per second).
// Usage: node measure-console.mjs  (CROSSDESK_BIN works as for the tests)

import WebSocket from 'ws';
import { launchBrowser } from './helpers/browser.mjs';
import { signIn, waitForOnline } from './helpers/console.mjs';
import { TestServer } from './helpers/server.mjs';

const QUEUE_SIZE = 200;
const BUYER_CONCURRENCY = 10;
const BUYER_TIMEOUT_MS = 30000;
const SCROLL_FRAMES = 180;
const SCROLL_STEP_PX = 60;
const IDLE_MS = 5000;
const ADMIN = { name: 'measure', password: 'measure-console-2026', role: 'admin', language: 'en', displayName: 'Measure' };
const QUESTIONS = [
  ['es', 'Hola, necesito hablar con alguien sobre mi pedido.'],
  ['de', 'Guten Tag, ich brauche Hilfe bei meiner Bestellung.'],
  ['fr', 'Bonjour, j’ai besoin d’aide pour ma commande.'],
  ['en', 'Hello, I need help with my order.'],
  ['pt', 'Olá, preciso de ajuda com o meu pedido.'],
];

// Runs one buyer until its chat is queued; resolves with the time request_person was sent.
function queueOneBuyer(baseUrl, index) {
  const [locale, text] = QUESTIONS[index % QUESTIONS.length];
  const socket = new WebSocket(baseUrl.replace(/^http/, 'ws') + '/ws/chat');
  return new Promise((done, fail) => {
    let requestedAt = 0;
    const timer = setTimeout(() => {
      socket.terminate();
      fail(new Error(`buyer ${index} was not queued within ${BUYER_TIMEOUT_MS} ms`));
    }, BUYER_TIMEOUT_MS);
    const send = (frame) => socket.send(JSON.stringify(frame));
    socket.on('open', () => send({ type: 'hello', token: null, locale, resume_from: 0 }));
    socket.on('message', (data) => {
      const frame = JSON.parse(String(data));
      if (frame.type === 'welcome') {
        send({ type: 'message', client_id: `m-${index}`, text: `${text} (#${index})` });
      } else if (frame.type === 'ack' && !requestedAt) {
        requestedAt = Date.now();
        send({ type: 'request_person', client_id: `p-${index}` });
      } else if (frame.type === 'event' && frame.kind === 'state' && frame.state === 'queued') {
        clearTimeout(timer);
        socket.close();
        done(requestedAt);
      } else if (frame.type === 'error') {
        console.warn(`buyer ${index}: server error ${frame.code}: ${frame.message}`);
      }
    });
    socket.on('error', (problem) => {
      clearTimeout(timer);
      fail(problem);
    });
  });
}

async function queueBuyers(baseUrl, count) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await queueOneBuyer(baseUrl, index);
    }
  };
  await Promise.all(Array.from({ length: BUYER_CONCURRENCY }, worker));
}

// Runs in the page before its scripts: records when `notify` frames arrive and when toasts
// are added, each with performance.now() and Date.now().
function recordNotifyTimes() {
  const Native = window.WebSocket;
  window.measured = { notifies: [], toasts: [] };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (typeof event.data === 'string' && event.data.includes('"type":"notify"')) {
          window.measured.notifies.push(performance.now());
        }
      });
    }
  };
  document.addEventListener('DOMContentLoaded', () => {
    new MutationObserver((records) => {
      if (!records.some((record) => record.addedNodes.length)) return;
      requestAnimationFrame(() => window.measured.toasts.push({ painted: performance.now(), wall: Date.now() }));
    }).observe(document.getElementById('toasts'), { childList: true });
  });
}

// Runs in the page: presses "Sign in" and resolves with the milliseconds until `rows` queue
// rows exist and a frame has been painted with them.
function timeSignInToRows(rows) {
  return new Promise((done) => {
    const list = document.getElementById('queue-list');
    const start = performance.now();
    const check = () => {
      if (list.children.length >= rows) {
        requestAnimationFrame(() => done(performance.now() - start));
        return;
      }
      requestAnimationFrame(check);
    };
    document.getElementById('sign-in-button').click();
    requestAnimationFrame(check);
  });
}

// Runs in the page: scrolls the queue list by `step` pixels per frame for `frames` frames
// (back to the top at the end) and resolves with the interval of each frame in ms.
function scrollQueue({ frames, step }) {
  return new Promise((done) => {
    const list = document.getElementById('queue-list');
    const intervals = [];
    let last = performance.now();
    let count = 0;
    const tick = (now) => {
      intervals.push(now - last);
      last = now;
      count += 1;
      if (list.scrollTop + list.clientHeight >= list.scrollHeight) list.scrollTop = 0;
      else list.scrollTop += step;
      if (count < frames) requestAnimationFrame(tick);
      else done(intervals.slice(1));
    };
    requestAnimationFrame(tick);
  });
}

// Runs in the page: resolves with the durations of long tasks during `ms` milliseconds.
function longTasksDuring(ms) {
  return new Promise((done) => {
    const tasks = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) tasks.push(entry.duration);
    });
    observer.observe({ type: 'longtask', buffered: false });
    setTimeout(() => {
      observer.disconnect();
      done(tasks);
    }, ms);
  });
}

function percentile(values, share) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))];
}

function formatMs(value) {
  return `${value.toFixed(1)} ms`;
}

function printTable(rows) {
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`| ${'measure'.padEnd(width)} | value |`);
  console.log(`| ${'-'.repeat(width)} | --- |`);
  for (const [name, value] of rows) console.log(`| ${name.padEnd(width)} | ${value} |`);
}

async function main() {
  const server = new TestServer();
  const browser = await launchBrowser({ viewport: { width: 1280, height: 800 } });
  try {
    await server.addStaff(ADMIN);
    const baseUrl = await server.start();
    const queueStart = Date.now();
    await queueBuyers(baseUrl, QUEUE_SIZE);
    console.log(`queued ${QUEUE_SIZE} chats in ${((Date.now() - queueStart) / 1000).toFixed(1)} s`);

    const { page } = browser;
    await page.addInitScript(recordNotifyTimes);
    await page.goto(baseUrl + '/console');
    await page.locator('#sign-in-name').fill(ADMIN.name);
    await page.locator('#sign-in-password').fill(ADMIN.password);
    const toRows = await page.evaluate(timeSignInToRows, QUEUE_SIZE);
    await waitForOnline(page);
    const rows = await page.locator('#queue-list > li').count();

    const requestedAt = await queueOneBuyer(baseUrl, QUEUE_SIZE);
    await page.waitForFunction(() => window.measured.toasts.length > 0, null, { timeout: 20000 });
    const notify = await page.evaluate(() => ({ received: window.measured.notifies[0], toast: window.measured.toasts[0] }));

    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    await cdp.send('HeapProfiler.collectGarbage');
    const metrics = Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));

    const intervals = await page.evaluate(scrollQueue, { frames: SCROLL_FRAMES, step: SCROLL_STEP_PX });
    const idleTasks = await page.evaluate(longTasksDuring, IDLE_MS);

    printTable([
      ['queue rows rendered', String(rows)],
      ['sign-in click -> all rows painted', formatMs(toRows)],
      ['notify frame received -> toast painted', formatMs(notify.toast.painted - notify.received)],
      ['request_person sent (Node) -> toast painted', `${notify.toast.wall - requestedAt} ms`],
      ['JS heap used (after GC)', `${(metrics.JSHeapUsedSize / 1048576).toFixed(1)} MiB`],
      ['DOM nodes', String(metrics.Nodes)],
      [`scroll frame interval, median (${intervals.length} frames)`, formatMs(percentile(intervals, 0.5))],
      ['scroll frame interval, p95', formatMs(percentile(intervals, 0.95))],
      ['scroll frame interval, max', formatMs(Math.max(...intervals))],
      ['scroll frames over 25 ms', String(intervals.filter((value) => value > 25).length)],
      [`long tasks while idle for ${IDLE_MS / 1000} s`, idleTasks.length ? idleTasks.map(formatMs).join(', ') : 'none'],
    ]);
  } finally {
    await browser.close();
    await server.dispose();
  }
}

await main();
