// Measures the widget as buyers get it and prints one line per figure:
// - size of widget.js, widget.css and en.json, raw and gzip-compressed (level 9);
// - time from widget.js finishing its download to the launcher being visible, over
//   SAMPLES page loads with the browser cache disabled;
// - time from pressing Enter to the first words of the bot's reply in the page's DOM,
//   over SAMPLES questions in one conversation.
// Usage: node measure.mjs  (CROSSDESK_BIN and CROSSDESK_MOCK=1 work as for the tests)

import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { launchBrowser } from './helpers/browser.mjs';
import { TestServer } from './helpers/server.mjs';
import { openWidget } from './helpers/widget.mjs';

const SAMPLES = 10;
const WIDGET_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'widget');
const QUESTIONS = [
  '¿Cuál es el pedido mínimo?',
  'What is the minimum order quantity?',
  'Quel est le délai de production ?',
  'Do you send samples?',
  'Wie lange ist die Garantie?',
  'Qual é o prazo de entrega?',
  'Do you ship DDP to Germany?',
  'ما هو الحد الأدنى للطلب؟',
  'Which payment terms do you accept?',
  '最小起订量是多少？',
];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function describeTimes(values) {
  const rounded = values.map((value) => Math.round(value));
  return `median ${Math.round(median(values))} ms (min ${Math.min(...rounded)}, max ${Math.max(...rounded)}, n=${values.length})`;
}

function reportSizes() {
  for (const file of ['widget.js', 'widget.css', 'i18n/en.json']) {
    const body = readFileSync(join(WIDGET_DIR, file));
    const gzip = gzipSync(body, { level: 9 }).length;
    console.log(`size ${file}: ${body.length} bytes raw, ${gzip} bytes gzip`);
  }
}

// Runs in the page before any script: notes when the launcher first has a visible box.
function watchLauncher() {
  const check = () => {
    const host = document.getElementById('crossdesk-widget');
    const launcher = host && host.shadowRoot && host.shadowRoot.querySelector('.cd-launcher');
    if (launcher && launcher.checkVisibility() && launcher.getBoundingClientRect().width > 0) {
      window.launcherVisibleAt = performance.now();
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
}

async function measureLauncher(page, url) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await page.addInitScript(watchLauncher);

  const fromScript = [];
  for (let sample = 0; sample < SAMPLES; sample += 1) {
    await page.goto(url);
    await page.waitForFunction(() => window.launcherVisibleAt !== undefined);
    const timing = await page.evaluate(() => {
      const entry = performance.getEntriesByType('resource').find((item) => item.name.endsWith('/widget/v1/widget.js'));
      return { loaded: entry.responseEnd, visible: window.launcherVisibleAt };
    });
    fromScript.push(timing.visible - timing.loaded);
  }
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: false });
  console.log(`widget.js loaded -> launcher visible: ${describeTimes(fromScript)}`);
}

// Runs in the page: sends `text` through the composer and resolves with the milliseconds
// until a new bot bubble shows text (the first delta, or the final event if nothing streamed).
function sendAndTimeFirstToken(text) {
  return new Promise((done) => {
    const shadow = document.getElementById('crossdesk-widget').shadowRoot;
    const log = shadow.querySelector('.cd-log');
    const earlier = new Set(log.querySelectorAll('.cd-from-bot'));
    let start = 0;
    const observer = new MutationObserver(() => {
      for (const item of log.querySelectorAll('.cd-from-bot')) {
        const streaming = item.classList.contains('cd-streaming');
        if (earlier.has(item) || (streaming && !item.classList.contains('cd-started'))) continue;
        observer.disconnect();
        done(performance.now() - start);
        return;
      }
    });
    observer.observe(log, { childList: true, subtree: true, characterData: true, attributes: true });

    const input = shadow.querySelector('.cd-textarea');
    input.value = text;
    start = performance.now();
    input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true }));
  });
}

async function measureFirstToken(page, url) {
  await page.goto(url);
  await openWidget(page);
  const times = [];
  for (const question of QUESTIONS.slice(0, SAMPLES)) {
    times.push(await page.evaluate(sendAndTimeFirstToken, question));
    await page.locator('.cd-streaming').waitFor({ state: 'detached', timeout: 60000 });
    await page.waitForTimeout(300);
  }
  console.log(`Enter -> first reply text in the DOM: ${describeTimes(times)}`);
}

async function main() {
  reportSizes();
  const server = new TestServer();
  const browser = await launchBrowser();
  try {
    const url = (await server.start()) + '/';
    await measureLauncher(browser.page, url);
    await measureFirstToken(browser.page, url);
  } finally {
    await browser.close();
    await server.dispose();
  }
}

await main();
