// A buyer writes a question in Spanish on the demo page, sees the answer stream in with its
// sources, and finds the same conversation again after reloading the page.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { framesWhere, launchBrowser, screenshot, waitForFrame } from '../helpers/browser.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, logEntries, openWidget, selectors, sendText } from '../helpers/widget.mjs';

const QUESTION = '¿Cuál es el pedido mínimo?';
const LINK_PROTOCOLS = ['http:', 'https:', 'mailto:'];

// Records, from inside the page, every streaming reply bubble the widget adds and the text it showed.
function recordStreaming() {
  const host = document.getElementById('crossdesk-widget');
  window.streamed = [];
  new MutationObserver((records) => {
    for (const record of records) {
      const item = record.target.closest ? record.target.closest('.cd-streaming') : null;
      if (item && item.classList.contains('cd-started')) {
        window.streamed.push(item.querySelector('.cd-bubble').textContent);
      }
    }
  }).observe(host.shadowRoot, { childList: true, subtree: true, characterData: true });
}

function linkHref(url) {
  try {
    const parsed = new URL(url);
    return LINK_PROTOCOLS.includes(parsed.protocol) ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

describe('chat on the demo page', () => {
  let server;
  let browser;
  let answer;

  before(async () => {
    server = new TestServer();
    await server.start();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it('streams a Spanish answer with its sources', async () => {
    const { page, watch } = browser;
    await page.goto(server.baseUrl + '/');
    await openWidget(page);
    await page.evaluate(recordStreaming);
    await sendText(page, QUESTION);

    const ack = await waitForFrame(watch, 'received', (f) => f.type === 'ack');
    answer = await waitForFrame(
      watch,
      'received',
      (f) => f.type === 'event' && f.author === 'bot' && f.reply_to === ack.seq,
      60000,
    );
    const deltas = framesWhere(watch, 'received', (f) => f.type === 'delta');
    assert.ok(deltas.length > 0, 'the server sent no delta frames for the answer');
    assert.equal(answer.language, 'es');

    const bubble = page.locator(`.cd-msg[data-seq="${answer.seq}"] .cd-bubble`);
    await eventually(async () => (await bubble.textContent()) === answer.text, 'the final text');
    const streamed = await page.evaluate(() => window.streamed);
    assert.ok(streamed.length > 0, 'the page never showed streamed text before the final event');

    assert.ok(Array.isArray(answer.sources), 'the answer has no sources array');
    assert.ok(answer.sources.length > 0, 'the answer has no sources');
    const sourceItems = page.locator(`.cd-msg[data-seq="${answer.seq}"] .cd-source-list > li`);
    assert.equal(await sourceItems.count(), answer.sources.length);
    for (const [index, source] of answer.sources.entries()) {
      const item = sourceItems.nth(index);
      const href = source.url ? linkHref(source.url) : null;
      const link = item.locator('a');
      assert.equal(await link.count(), href ? 1 : 0, `source ${index} link count`);
      if (href) assert.equal(await link.getAttribute('href'), href);
    }
    await screenshot(page, 'chat-spanish-answer');
  });

  it('switches its own strings to the conversation language', async () => {
    const { page } = browser;
    await eventually(
      async () => (await page.locator(selectors.input).getAttribute('placeholder')) === 'Escribe un mensaje…',
      'the Spanish placeholder',
    );
    assert.equal(await page.locator('.cd-root').getAttribute('lang'), 'es');
  });

  it('shows the same history after a reload', async () => {
    const { page, watch } = browser;
    const historyBefore = await logEntries(page);
    const token = framesWhere(watch, 'received', (f) => f.type === 'welcome').at(-1).token;
    watch.frames.length = 0;

    await page.reload();
    await openWidget(page);
    const hello = await waitForFrame(watch, 'sent', (f) => f.type === 'hello');
    assert.equal(hello.token, token);
    assert.equal(hello.resume_from, 0);
    const welcome = await waitForFrame(watch, 'received', (f) => f.type === 'welcome');
    assert.equal(welcome.resumed, true);

    await eventually(
      async () => JSON.stringify(await logEntries(page)) === JSON.stringify(historyBefore),
      'the history after the reload',
    );
    const sources = page.locator(`.cd-msg[data-seq="${answer.seq}"] .cd-source-list > li`);
    assert.equal(await sources.count(), answer.sources.length);
    await screenshot(page, 'chat-after-reload');
  });

  it('raised no page errors', () => {
    assert.deepEqual(browser.watch.pageErrors, []);
    assert.deepEqual(browser.watch.dialogs, []);
  });
});
