// Launches Debian's Chromium through playwright-core (no browser download) with a fresh
// profile, and records what a test needs to check: WebSocket frames, dialogs, page errors.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const SCREENSHOT_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'screenshots');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
const FRAME_TIMEOUT_MS = 20000;

/** Launches Chromium with a profile in a temporary directory, which `close` removes. */
export async function launchBrowser(options = {}) {
  const profileDir = mkdtempSync(join(tmpdir(), 'crossdesk-chromium-'));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: options.viewport || { width: 1280, height: 800 },
    locale: options.locale || 'en-US',
    ...options.contextOptions,
  });
  const pages = context.pages();
  const page = pages.length ? pages[0] : await context.newPage();
  const watch = watchPage(page);
  return {
    context,
    page,
    watch,
    async close() {
      await context.close();
      rmSync(profileDir, { recursive: true, force: true });
    },
  };
}

/** Records dialogs (and dismisses them), uncaught page errors and every WebSocket frame. */
export function watchPage(page) {
  const watch = { dialogs: [], pageErrors: [], consoleErrors: [], frames: [], sockets: 0 };
  page.on('dialog', (dialog) => {
    watch.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => watch.pageErrors.push(String(error)));
  page.on('console', (message) => {
    if (message.type() === 'error') watch.consoleErrors.push(message.text());
  });
  page.on('websocket', (socket) => {
    watch.sockets += 1;
    const id = watch.sockets;
    const record = (direction) => (event) => {
      let frame = null;
      try {
        frame = JSON.parse(event.payload);
      } catch (_) {
        frame = { unparsed: String(event.payload) };
      }
      watch.frames.push({ direction, socket: id, at: Date.now(), frame });
    };
    socket.on('framesent', record('sent'));
    socket.on('framereceived', record('received'));
  });
  return watch;
}

/** Frames of one direction whose JSON matches `predicate`. */
export function framesWhere(watch, direction, predicate) {
  return watch.frames
    .filter((entry) => entry.direction === direction && predicate(entry.frame))
    .map((entry) => entry.frame);
}

/** Waits until a frame of `direction` matches `predicate` and returns it. */
export async function waitForFrame(watch, direction, predicate, timeoutMs = FRAME_TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = framesWhere(watch, direction, predicate);
    if (found.length) return found[0];
    await new Promise((done) => setTimeout(done, 25));
  }
  throw new Error(`no ${direction} frame matched within ${timeoutMs} ms; last frames: ${JSON.stringify(watch.frames.slice(-8).map((entry) => entry.frame))}`);
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOT_DIR, name + '.png') });
}

/**
 * Routes the page's chat WebSocket through Playwright, forwarding every frame both ways,
 * so a test can push extra server frames with `inject`.
 */
export async function routeChatSocket(page) {
  const route = { socket: null, welcome: null };
  await page.routeWebSocket(/\/ws\/chat$/, (pageSide) => {
    const serverSide = pageSide.connectToServer();
    route.socket = pageSide;
    serverSide.onMessage((message) => {
      pageSide.send(message);
      const frame = parseFrame(message);
      if (frame && frame.type === 'welcome') route.welcome = frame;
    });
  });
  route.inject = (frame) => {
    if (!route.socket) throw new Error('the widget has not opened its WebSocket yet');
    route.socket.send(JSON.stringify(frame));
  };
  return route;
}

function parseFrame(message) {
  try {
    return JSON.parse(String(message));
  } catch (_) {
    return null;
  }
}
