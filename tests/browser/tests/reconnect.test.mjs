// The server goes away in the middle of a conversation and comes back on the same port and
// data directory. Messages written meanwhile are sent once, get one reply and are shown once.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { framesWhere, launchBrowser, screenshot, waitForFrame } from '../helpers/browser.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, logEntries, openWidget, selectors, sendText } from '../helpers/widget.mjs';

const REPLY_TIMEOUT_MS = 60000;

async function waitForReply(watch, text) {
  const sent = await waitForFrame(watch, 'sent', (f) => f.type === 'message' && f.text === text, REPLY_TIMEOUT_MS);
  const ack = await waitForFrame(
    watch,
    'received',
    (f) => f.type === 'ack' && f.client_id === sent.client_id,
    REPLY_TIMEOUT_MS,
  );
  const reply = await waitForFrame(
    watch,
    'received',
    (f) => f.type === 'event' && f.author === 'bot' && f.reply_to === ack.seq,
    REPLY_TIMEOUT_MS,
  );
  return { clientId: sent.client_id, seq: ack.seq, reply };
}

async function assertShownOnce(page, text, replySeq) {
  const entries = await logEntries(page);
  const seqs = entries.map((entry) => entry.seq);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'seqs are not unique and ascending');

  const questions = page.locator(selectors.buyerMessage).filter({ hasText: text });
  assert.equal(await questions.count(), 1, `"${text}" is shown ${await questions.count()} times`);
  assert.equal(await page.locator(`.cd-log > [data-seq="${replySeq}"]`).count(), 1);
  assert.equal(await page.locator('.cd-pending').count(), 0, 'a message is still pending');
}

describe('reconnecting after a server restart', () => {
  let server;
  let browser;

  before(async () => {
    server = new TestServer();
    await server.start();
    browser = await launchBrowser();
    await browser.page.goto(server.baseUrl + '/');
    await openWidget(browser.page);
    await sendText(browser.page, 'Hello, do you ship to Chile?');
    await waitForReply(browser.watch, 'Hello, do you ship to Chile?');
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it('sends a message written while offline once after reconnecting', async () => {
    const { page, watch } = browser;
    const text = 'What is the minimum order for the KB-PL6060 panel?';
    await server.stop('SIGKILL');
    await eventually(
      async () => (await page.locator(selectors.root).getAttribute('data-connection')) !== 'online',
      'the widget to notice the closed socket',
    );

    await sendText(page, text);
    const pending = page.locator('.cd-pending').filter({ hasText: text });
    await pending.waitFor({ state: 'visible' });
    await screenshot(page, 'reconnect-pending');

    await server.start(server.port);
    const { clientId, reply } = await waitForReply(watch, text);
    const sends = framesWhere(watch, 'sent', (f) => f.type === 'message' && f.text === text);
    assert.equal(sends.length, 1, 'the message was sent more than once');
    assert.equal(sends[0].client_id, clientId);

    const replies = framesWhere(watch, 'received', (f) => f.type === 'event' && f.seq === reply.seq);
    assert.ok(replies.length >= 1);
    await eventually(async () => (await page.locator(`[data-seq="${reply.seq}"]`).count()) === 1, 'the reply');
    await assertShownOnce(page, text, reply.seq);
    await screenshot(page, 'reconnect-delivered');
  });

  it('resends an unacknowledged message with the same client_id', async () => {
    const { page, watch } = browser;
    const text = 'Can you send a sample of the KB-HB150 high bay?';
    // The kernel still accepts bytes for a stopped process, but no ack ever comes back,
    // so the message is sent and stays unacknowledged when the server is killed.
    server.process.kill('SIGSTOP');
    await sendText(page, text);
    await waitForFrame(watch, 'sent', (f) => f.type === 'message' && f.text === text);
    await server.stop('SIGKILL');

    await server.start(server.port);
    const { clientId, reply } = await waitForReply(watch, text);
    const sends = framesWhere(watch, 'sent', (f) => f.type === 'message' && f.text === text);
    assert.ok(sends.length >= 2, `expected a resend, saw ${sends.length} send(s)`);
    for (const frame of sends) assert.equal(frame.client_id, clientId);

    await eventually(async () => (await page.locator(`[data-seq="${reply.seq}"]`).count()) === 1, 'the reply');
    await assertShownOnce(page, text, reply.seq);
  });

  it('keeps the whole conversation in order after a reload', async () => {
    const { page } = browser;
    const historyBefore = await logEntries(page);
    await page.reload();
    await openWidget(page);
    await eventually(
      async () => JSON.stringify(await logEntries(page)) === JSON.stringify(historyBefore),
      'the same history after the reload',
    );
  });
});
