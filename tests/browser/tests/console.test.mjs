// The staff console against the real server. It covers signing in, the queue and its
// notification, taking a chat, replies and the review of a failed translation, hostile buyer
// text, handing back and resolving, the admin-only glossary and a reconnect.
// Buyers use the demo page in their own browsers. The server runs without a model, so a
// reply in another language than the buyer's always goes to review.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { launchBrowser, routeChatSocket, screenshot, waitForFrame } from '../helpers/browser.mjs';
import {
  consoleSelectors as cs,
  ownedRow,
  queueRow,
  routeStaffSocket,
  signIn,
  transcriptSeqs,
  waitForOnline,
} from '../helpers/console.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, openWidget, selectors, sendText } from '../helpers/widget.mjs';

const ADMIN = { name: 'ana', password: 'kestrel-admin-2026', role: 'admin', language: 'en', displayName: 'Ana Ortiz' };
const AGENT = { name: 'li.wei', password: 'kestrel-staff-2026', role: 'staff', language: 'zh', displayName: 'Li Wei' };
const HOSTILE_TEXTS = [
  '<img src=x onerror=alert(1)>',
  '[x](javascript:alert(1))',
  '<a href="javascript:alert(1)">x</a>',
];
const REPLY_TIMEOUT_MS = 60000;
const STATUS_STAFF = 'You are chatting with a person';
const STATUS_BOT = 'Our assistant replies instantly';
const STATUS_RESOLVED = 'Conversation resolved';

// The widget's "Talk to a person" button in each language a test buyer uses.
const PERSON_BUTTON = { en: 'Talk to a person', es: 'Hablar con una persona' };

// Opens the demo page in its own browser, writes `text` and requests a person.
// Returns the browser and the conversation_id from the widget's welcome.
async function queueBuyer(server, text, locale) {
  const buyer = await launchBrowser({ locale });
  const { page, watch } = buyer;
  await page.goto(server.baseUrl + '/');
  await openWidget(page);
  await sendText(page, text);
  const ack = await waitForFrame(watch, 'received', (f) => f.type === 'ack');
  await waitForFrame(watch, 'received', (f) => f.type === 'event' && f.author === 'bot' && f.reply_to === ack.seq, REPLY_TIMEOUT_MS);
  const label = PERSON_BUTTON[locale.slice(0, 2)];
  await page.getByRole('button', { name: label, exact: true }).click();
  await waitForFrame(watch, 'received', (f) => f.type === 'event' && f.kind === 'state' && f.state === 'queued');
  const welcome = await waitForFrame(watch, 'received', (f) => f.type === 'welcome');
  return { browser: buyer, conversationId: welcome.conversation_id };
}

// Sends `frame` on a buyer socket and resolves with the first frame that matches `predicate`.
function exchange(socket, frame, predicate) {
  return new Promise((done) => {
    const listen = (data) => {
      const received = JSON.parse(String(data));
      if (!predicate(received)) return;
      socket.off('message', listen);
      done(received);
    };
    socket.on('message', listen);
    if (frame) socket.send(JSON.stringify(frame));
  });
}

// Queues a chat from Node and fills it with `count` buyer messages. The messages go over
// SOCKETS sockets of the one conversation, each paced below the 5 frames per second a
// buyer socket may send. Resolves with the conversation_id.
async function queueLongChat(server, count) {
  const SOCKETS = 3;
  const url = server.baseUrl.replace(/^http/, 'ws') + '/ws/chat';
  const open = () => new Promise((done, fail) => {
    const socket = new WebSocket(url);
    socket.once('open', () => done(socket));
    socket.once('error', fail);
  });
  const first = await open();
  const hello = { type: 'hello', token: null, locale: 'en', resume_from: 0 };
  const welcome = await exchange(first, hello, (f) => f.type === 'welcome');
  await exchange(first, { type: 'request_person', client_id: 'long-person' }, (f) => f.state === 'queued');

  const sockets = [first];
  for (let index = 1; index < SOCKETS; index += 1) {
    const socket = await open();
    await exchange(socket, { ...hello, token: welcome.token }, (f) => f.type === 'welcome');
    sockets.push(socket);
  }
  await Promise.all(sockets.map(async (socket, lane) => {
    for (let index = lane; index < count; index += SOCKETS) {
      const clientId = `long-${index}`;
      const frame = { type: 'message', client_id: clientId, text: `Message number ${index + 1}` };
      await exchange(socket, frame, (f) => f.type === 'ack' && f.client_id === clientId);
      await new Promise((done) => setTimeout(done, 250));
    }
  }));
  for (const socket of sockets) socket.close();
  return welcome.conversation_id;
}

async function statusLine(page) {
  return page.locator(selectors.status).textContent();
}

async function waitForStatus(page, expected) {
  await eventually(async () => (await statusLine(page)) === expected, `the buyer status "${expected}"`);
}

async function sendReply(page, text) {
  const input = page.locator(cs.replyInput);
  await input.fill(text);
  await input.press('Enter');
}

// The Node mock (CROSSDESK_MOCK=1) speaks only the buyer protocol.
const STAFF_SIDE = process.env.CROSSDESK_MOCK === '1' ? 'the Node mock has no staff side' : false;

describe('staff console', { skip: STAFF_SIDE }, () => {
  let server;
  let staffBrowser;
  let staffRoute;
  let agentBrowser;
  let agentRoute;
  let english;
  let spanish;

  before(async () => {
    server = new TestServer();
    await server.addStaff(ADMIN);
    await server.start();
    await server.addStaff(AGENT);
    staffBrowser = await launchBrowser();
    staffRoute = await routeStaffSocket(staffBrowser.page);
  });

  after(async () => {
    await staffBrowser?.close();
    await agentBrowser?.close();
    await english?.browser.close();
    await spanish?.browser.close();
    await server?.dispose();
  });

  it('wrong password shows localized message', async () => {
    const { page } = staffBrowser;
    await page.goto(server.baseUrl + '/console');
    const response = await signIn(page, ADMIN.name, 'not-the-password');
    assert.equal(response.status(), 401);
    const body = await response.json();
    const expected = (body.error && body.error.message) || body.message;
    assert.ok(expected, `the 401 body carries no message: ${JSON.stringify(body)}`);

    const error = page.locator(cs.signInError);
    await error.waitFor({ state: 'visible' });
    // The page shows its own string for the status; the server's English text is the tooltip.
    assert.equal(await error.textContent(), 'Wrong name or password.');
    assert.equal(await error.getAttribute('title'), expected);
    assert.equal(await page.locator('#console-view').isVisible(), false);
    await screenshot(page, 'console-sign-in-error');
  });

  it('repeated failures show the rate limit', async () => {
    const { page } = staffBrowser;
    // The server allows 5 failed sign-ins per name in 15 minutes, so the sixth gets 429.
    let response;
    for (let attempt = 1; attempt <= 6; attempt += 1) {
      response = await signIn(page, 'nobody.here', `wrong-password-${attempt}`);
      if (response.status() === 429) break;
    }
    assert.equal(response.status(), 429);
    assert.ok(response.headers()['retry-after'], 'the 429 has no Retry-After header');
    const body = await response.json();
    const expected = (body.error && body.error.message) || body.message;
    const error = page.locator(cs.signInError);
    await eventually(async () => /^Too many failed sign-ins/.test(await error.textContent()), 'the 429 message');
    assert.equal(await error.getAttribute('title'), expected);
  });

  it('signs in and shows the queue', async () => {
    const { page } = staffBrowser;
    const response = await signIn(page, ADMIN.name, ADMIN.password);
    assert.equal(response.status(), 200);
    await waitForOnline(page);
    assert.equal(await page.locator('#sign-in-view').isVisible(), false);
    assert.equal(await page.locator('#queue-heading').isVisible(), true);
    assert.match(await page.locator('#agent-name').textContent(), /Ana Ortiz/);

    const hello = await staffRoute.waitFor('sent', (f) => f.type === 'hello');
    assert.deepEqual(hello.cursors, []);
    const welcome = await staffRoute.waitFor('received', (f) => f.type === 'welcome');
    assert.equal(welcome.staff.name, ADMIN.name);
  });

  it('queued buyer triggers a notification', async () => {
    const { page } = staffBrowser;
    english = await queueBuyer(server, 'Hello, I need help with my order please.', 'en-US');
    const id = english.conversationId;

    const notify = await staffRoute.waitFor('received', (f) => f.type === 'notify' && f.conversation_id === id);
    assert.equal(notify.item.state, 'queued');
    const row = queueRow(page, id);
    await row.waitFor();
    assert.match(await row.locator('.row-last').textContent(), /I need help with my order/);
    assert.match(await row.locator('.row-wait').textContent(), /^waiting \d+:\d\d$/);

    const toast = page.locator(cs.toast).filter({ hasText: 'New chat waiting' });
    await toast.waitFor({ state: 'visible' });
    assert.match(await page.title(), /^\(1\) /);

    const before = await row.locator('.row-wait').textContent();
    await eventually(async () => (await row.locator('.row-wait').textContent()) !== before, 'the waiting time to tick');
    await screenshot(page, 'console-queue-notify');
  });

  it('take shows agent name to buyer', async () => {
    const { page } = staffBrowser;
    const buyerPage = english.browser.page;
    const id = english.conversationId;

    await queueRow(page, id).click();
    await staffRoute.waitFor('received', (f) => f.type === 'transcript' && f.conversation_id === id);
    await page.locator(`${cs.log} .from-buyer`).first().waitFor();
    assert.doesNotMatch(await page.title(), /^\(\d+\)/);
    assert.equal(await page.locator(cs.toast).count(), 0, 'the toast stayed after the chat was opened');

    await page.getByRole('button', { name: 'Take', exact: true }).click();
    await ownedRow(page, id).waitFor();
    await eventually(async () => (await queueRow(page, id).count()) === 0, 'the row to leave the queue');
    assert.equal(await page.getByRole('button', { name: 'Hand back to the bot' }).isEnabled(), true);

    const joined = await waitForFrame(
      english.browser.watch,
      'received',
      (f) => f.type === 'event' && f.kind === 'state' && f.state === 'staff',
    );
    assert.equal(typeof joined.text, 'string', 'the state event for the takeover carries no text');
    assert.match(joined.text, /Ana Ortiz/);
    const line = buyerPage.locator(`.cd-log > [data-seq="${joined.seq}"]`);
    await line.waitFor();
    assert.equal(await line.textContent(), joined.text);
    await waitForStatus(buyerPage, STATUS_STAFF);
    await screenshot(buyerPage, 'console-buyer-joined');
  });

  it('same-language reply reaches the buyer', async () => {
    const { page } = staffBrowser;
    const buyerPage = english.browser.page;
    const text = 'Your order KB-1024 ships on Monday.';
    await sendReply(page, text);

    const ack = await staffRoute.waitFor('received', (f) => f.type === 'reply_ack' && f.original === text);
    assert.equal(ack.text, text);
    assert.equal(ack.language, 'en');
    assert.equal(ack.check_failure, null);
    const sent = staffRoute.where('sent', (f) => f.type === 'reply' && f.text === text);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].translation, null);
    assert.equal(sent[0].client_id, ack.client_id);

    const reply = buyerPage.locator('.cd-msg.cd-from-staff').filter({ hasText: text });
    await reply.waitFor();
    assert.equal(await reply.locator('.cd-bubble').textContent(), text);
    assert.equal(await reply.locator('.cd-author').textContent(), 'Ana Ortiz');
    const inTranscript = page.locator(`${cs.log} .from-staff`).filter({ hasText: text });
    await eventually(async () => (await inTranscript.count()) === 1, 'the reply once in the transcript');
    await screenshot(page, 'console-reply');
  });

  it('cross-language reply goes through review', async () => {
    const { page } = staffBrowser;
    spanish = await queueBuyer(server, '¿Cuál es el pedido mínimo para el panel KB-PL6060?', 'es-ES');
    const id = spanish.conversationId;
    await queueRow(page, id).click();
    await staffRoute.waitFor('received', (f) => f.type === 'transcript' && f.conversation_id === id);

    // The red team's viewport: the review box must leave at least half the transcript visible.
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.locator(`${cs.log} .from-buyer`).first().waitFor();
    const logBefore = await page.locator(cs.log).evaluate((node) => node.clientHeight);

    const original = 'The minimum order is 200 pieces per model.';
    await sendReply(page, original);
    const review = await staffRoute.waitFor('received', (f) => f.type === 'review' && f.conversation_id === id);
    assert.equal(review.original, original);
    assert.equal(review.language, 'es');
    const box = page.locator(cs.review);
    await box.waitFor({ state: 'visible' });
    const failure = box.locator('.review-failure');
    assert.equal(await failure.getAttribute('title'), String(review.failure));
    if (review.translation === null) {
      assert.equal(await failure.textContent(), 'No machine translation is available for this reply.');
    } else {
      assert.match(await failure.textContent(), new RegExp(escapeRegExp(String(review.failure))));
    }
    assert.equal(await box.locator('textarea').inputValue(), review.translation || '');
    const logDuring = await page.locator(cs.log).evaluate((node) => node.clientHeight);
    assert.ok(logDuring >= logBefore / 2, `the review box left ${logDuring} of ${logBefore} px of transcript`);
    const sendButton = page.getByRole('button', { name: 'Send this translation', exact: true });
    if (!review.translation) {
      // Without a draft the agent writes the Spanish text; until then there is nothing to send.
      assert.equal(await sendButton.isDisabled(), true);
      assert.match(await box.locator('.review-hint').textContent(), /Spanish yourself/);
      assert.equal(await box.locator('.review-hint').isVisible(), true);
    }

    const edited = 'El pedido mínimo es de 200 unidades por modelo.';
    await box.locator('textarea').fill(edited);
    await screenshot(page, 'console-review');
    assert.equal(await sendButton.isEnabled(), true);
    await sendButton.click();
    await page.setViewportSize({ width: 1280, height: 800 });

    const resent = await staffRoute.waitFor('sent', (f) => f.type === 'reply' && f.translation === edited);
    assert.equal(resent.client_id, review.client_id);
    assert.equal(resent.text, original);
    const ack = await staffRoute.waitFor('received', (f) => f.type === 'reply_ack' && f.client_id === review.client_id);
    assert.equal(ack.text, edited);
    assert.equal(ack.language, 'es');
    // The server checks the accepted text again; this one keeps the number, so it passes.
    assert.equal(ack.check_failure, null);
    await eventually(async () => !(await box.isVisible()), 'the review box to close');

    const buyerReply = spanish.browser.page.locator('.cd-msg.cd-from-staff').filter({ hasText: edited });
    await buyerReply.waitFor();
    assert.equal(await buyerReply.locator('.cd-bubble').textContent(), edited);
    await waitForStatus(spanish.browser.page, 'Estás hablando con una persona');
    const staffEntry = page.locator(`${cs.log} .from-staff`).filter({ hasText: original });
    await eventually(async () => (await staffEntry.count()) === 1, 'the reviewed reply once in the transcript');
    assert.match(await staffEntry.textContent(), new RegExp(escapeRegExp(edited)));
  });

  it('accepted failing translation shows warning', async () => {
    const { page } = staffBrowser;
    const id = spanish.conversationId;
    const original = 'We can ship 300 pieces on 5 May.';
    await sendReply(page, original);
    const review = await staffRoute.waitFor('received', (f) => f.type === 'review' && f.original === original);
    const box = page.locator(cs.review);
    await box.waitFor({ state: 'visible' });

    // The accepted text drops both numbers, so it fails the check and is sent anyway.
    const accepted = 'Podemos enviar las piezas pronto.';
    await box.locator('textarea').fill(accepted);
    await page.getByRole('button', { name: 'Send this translation', exact: true }).click();
    const ack = await staffRoute.waitFor('received', (f) => f.type === 'reply_ack' && f.client_id === review.client_id);
    assert.equal(ack.conversation_id, id);
    assert.equal(ack.text, accepted);
    assert.equal(typeof ack.check_failure, 'string', 'the accepted text passed a check it should fail');

    const entry = page.locator(`${cs.log} .from-staff`).filter({ hasText: original });
    await entry.locator('.warning').waitFor();
    assert.match(await entry.locator('.warning').textContent(), new RegExp(escapeRegExp(ack.check_failure)));
    await spanish.browser.page.locator('.cd-msg.cd-from-staff').filter({ hasText: accepted }).waitFor();
  });

  it('shows hostile buyer text literally', async () => {
    const { page, watch } = staffBrowser;
    const id = english.conversationId;
    await ownedRow(page, id).click();
    for (const text of HOSTILE_TEXTS) {
      await sendText(english.browser.page, text);
      await staffRoute.waitFor('received', (f) => f.type === 'event' && f.conversation_id === id && f.event.text === text);
    }
    const texts = page.locator(`${cs.log} .from-buyer > .msg-text`);
    await eventually(async () => {
      const rendered = await texts.allTextContents();
      return HOSTILE_TEXTS.every((text) => rendered.filter((entry) => entry === text).length === 1);
    }, 'each hostile text once, as written');

    await page.waitForTimeout(500);
    const log = page.locator(cs.log);
    assert.equal(await log.locator('a, img, script').count(), 0);
    assert.equal(await page.locator('img, a[href^="javascript" i]').count(), 0);
    assert.equal(await page.locator(`${cs.ownedList} a, ${cs.ownedList} img`).count(), 0);
    assert.deepEqual(watch.dialogs, []);
    assert.deepEqual(watch.pageErrors, []);
    await screenshot(page, 'console-hostile-text');
  });

  it('reconnect shows missed message once', async () => {
    const { page } = staffBrowser;
    const id = english.conversationId;
    const text = 'Are you still there? I am waiting for the tracking number.';
    const before = staffRoute.connections;

    staffRoute.blocked = true;
    await staffRoute.drop();
    await page.locator(`${cs.connection}:not([data-state="online"])`).waitFor();
    await sendText(english.browser.page, text);
    await waitForFrame(english.browser.watch, 'received', (f) => f.type === 'event' && f.author === 'buyer' && f.text === text);
    staffRoute.blocked = false;

    await eventually(() => staffRoute.connections > before, 'a new console socket', 40000);
    await waitForOnline(page);
    const hello = staffRoute.where('sent', (f) => f.type === 'hello').at(-1);
    const cursor = hello.cursors.find((entry) => entry.conversation_id === id);
    assert.ok(cursor, `the hello after the reconnect has no cursor for the chat: ${JSON.stringify(hello)}`);
    assert.ok(cursor.after_seq > 0);

    const missed = page.locator(`${cs.log} .from-buyer > .msg-text`).filter({ hasText: text });
    await eventually(async () => (await missed.count()) === 1, 'the missed message in the transcript');
    await page.waitForTimeout(1000);
    assert.equal(await missed.count(), 1);
    const seqs = await transcriptSeqs(page);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), 'transcript seqs are not unique and ascending');
    await screenshot(page, 'console-reconnected');
  });

  it('note follows its after_seq event', async () => {
    const { page } = staffBrowser;
    const text = 'Buyer is a repeat customer; check the June order.';
    await page.locator(cs.noteInput).fill(text);
    await page.getByRole('button', { name: 'Add note', exact: true }).click();
    const frame = await staffRoute.waitFor('received', (f) => f.type === 'note' && f.note.text === text);
    const note = page.locator(`${cs.log} > .note[data-note-id="${frame.note.id}"]`);
    await note.waitFor();
    const previous = await note.evaluate((node) => node.previousElementSibling && node.previousElementSibling.dataset.seq);
    assert.equal(Number(previous), frame.note.after_seq);
    assert.equal(await english.browser.page.locator('.cd-log').filter({ hasText: text }).count(), 0);
  });

  it('many new chats collapse to two pop-ups', async () => {
    const { page } = staffBrowser;
    // Fake chats announced by the test; the reconnect in the next test clears them from the queue.
    for (let index = 1; index <= 5; index += 1) {
      const item = {
        conversation_id: `fake-notify-${index}`, state: 'queued', language: 'de', reason: 'buyer_request',
        waiting_seconds: 0, last_message: { seq: 1, text: `Hallo ${index}`, language: 'de' }, owner: null,
        owner_name: null, last_seq: 1,
      };
      staffRoute.inject({ type: 'notify', conversation_id: item.conversation_id, item });
    }
    await queueRow(page, 'fake-notify-5').waitFor();
    const chats = page.locator('#toasts .toast-chat');
    await eventually(async () => (await chats.count()) === 2, 'two new-chat pop-ups');
    assert.deepEqual(await chats.evaluateAll((nodes) => nodes.map((node) => node.dataset.conversationId)),
      ['fake-notify-4', 'fake-notify-5']);
    const summary = page.locator('#toasts .toast-summary');
    assert.equal((await summary.textContent()).startsWith('3 more new chats'), true);
    assert.equal(await page.locator('#toasts .toast').count(), 3);

    // The pop-ups stay clear of the queue column.
    const sidebar = await page.locator('.sidebar').boundingBox();
    for (const box of await page.locator('#toasts .toast').evaluateAll((nodes) =>
      nodes.map((node) => node.getBoundingClientRect().toJSON()))) {
      assert.ok(box.x >= sidebar.x + sidebar.width, `a pop-up at x=${box.x} covers the queue column`);
    }
    await screenshot(page, 'console-toasts');

    // Opening a summarized chat takes it out of the count.
    await queueRow(page, 'fake-notify-1').click();
    await eventually(async () => (await summary.textContent()).startsWith('2 more new chats'), 'the summary to count 2');
    await ownedRow(page, english.conversationId).click();
  });

  it('translation error is explained in words', async () => {
    const { page } = staffBrowser;
    const id = english.conversationId;
    const seq = Number(await page.locator(`${cs.log} > .from-buyer`).first().getAttribute('data-seq'));
    const error = 'translation model not loaded';
    staffRoute.inject({ type: 'translation', conversation_id: id, seq, language: 'en', text: null, error, check_failure: null });
    const label = page.locator(`${cs.log} > [data-seq="${seq}"] .translation-error .delivered-label`);
    await label.waitFor();
    assert.equal(await label.textContent(), 'No translation is available for this message.');
    assert.equal(await label.getAttribute('title'), error);
  });

  it('note on a half-dead socket is stored once', async () => {
    const { page } = staffBrowser;
    const id = english.conversationId;
    const text = 'Half-dead socket note: call the buyer back tomorrow.';
    const before = staffRoute.connections;

    // Frames from the page vanish while the socket still looks open.
    staffRoute.swallow = true;
    await page.locator(cs.noteInput).fill(text);
    await page.getByRole('button', { name: 'Add note', exact: true }).click();
    const first = await staffRoute.waitFor('sent', (f) => f.type === 'note' && f.text === text);
    assert.equal(first.conversation_id, id);
    const pending = page.locator(`${cs.log} > .note.pending`).filter({ hasText: text });
    await pending.waitFor();
    assert.equal(await page.locator(cs.noteInput).inputValue(), '');

    staffRoute.swallow = false;
    await staffRoute.drop();
    await eventually(() => staffRoute.connections > before, 'a new console socket', 40000);
    await waitForOnline(page);
    const stored = await staffRoute.waitFor('received', (f) => f.type === 'note' && f.note.text === text);
    const resent = staffRoute.where('sent', (f) => f.type === 'note' && f.text === text);
    assert.ok(resent.length >= 2, 'the note was not sent again after the reconnect');
    assert.deepEqual([...new Set(resent.map((f) => f.client_id))], [first.client_id]);

    const shown = page.locator(`${cs.log} > .note[data-note-id]`).filter({ hasText: text });
    await eventually(async () => (await shown.count()) === 1, 'the stored note in the transcript');
    await pending.waitFor({ state: 'detached' });
    assert.equal(await shown.getAttribute('data-note-id'), String(stored.note.id));
    await page.waitForTimeout(1000);
    assert.equal(await shown.count(), 1);
    const ids = staffRoute.where('received', (f) => f.type === 'note' && f.note.text === text).map((f) => f.note.id);
    assert.deepEqual([...new Set(ids)], [stored.note.id], 'the server stored the note more than once');
    // The fake chats of the pop-up test left the queue with the new welcome.
    assert.equal(await queueRow(page, 'fake-notify-2').count(), 0);
  });

  it('hand back and resolve reach buyers', async () => {
    const { page } = staffBrowser;
    await ownedRow(page, english.conversationId).click();
    await page.getByRole('button', { name: 'Hand back to the bot', exact: true }).click();
    await waitForStatus(english.browser.page, STATUS_BOT);
    await eventually(async () => (await ownedRow(page, english.conversationId).count()) === 0, 'the chat to leave "Your chats"');

    await ownedRow(page, spanish.conversationId).click();
    await page.getByRole('button', { name: 'Resolve', exact: true }).click();
    await waitForStatus(spanish.browser.page, 'Conversación resuelta');
    await eventually(async () => (await ownedRow(page, spanish.conversationId).count()) === 0, 'the resolved chat to leave "Your chats"');
  });

  it('admin adds and deletes a term', async () => {
    const { page } = staffBrowser;
    const term = 'KB-PL6060';
    await page.locator(cs.glossaryToggle).click();
    const panel = page.locator(cs.glossary);
    await panel.waitFor({ state: 'visible' });
    await page.getByLabel('Term', { exact: true }).fill(term);
    await page.getByLabel('Note', { exact: true }).fill('panel model number');
    const added = page.waitForResponse((r) => r.url().endsWith('/api/glossary') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Add term', exact: true }).click();
    assert.equal((await added).status(), 201);
    const row = panel.locator(`tr[data-term="${term}"]`);
    await row.waitFor();
    assert.equal(await row.locator('.term').textContent(), term);
    await screenshot(page, 'console-glossary');

    await page.getByLabel('Term', { exact: true }).fill(term.toLowerCase());
    const duplicate = page.waitForResponse((r) => r.url().endsWith('/api/glossary') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Add term', exact: true }).click();
    assert.equal((await duplicate).status(), 409);
    await page.locator('#glossary-error').waitFor({ state: 'visible' });

    // No word is split across lines in the table, headers included ("Not e").
    const splitWords = await panel.locator('table').evaluate((table) => {
      const split = [];
      for (const cell of table.querySelectorAll('th, td')) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let text = walker.nextNode(); text; text = walker.nextNode()) {
          for (const match of text.data.matchAll(/\S+/g)) {
            const range = document.createRange();
            range.setStart(text, match.index);
            range.setEnd(text, match.index + match[0].length);
            const tops = new Set(Array.from(range.getClientRects(), (rect) => Math.round(rect.top)));
            if (tops.size > 1) split.push(match[0]);
          }
        }
      }
      return split;
    });
    assert.deepEqual(splitWords, []);

    // Delete needs a confirmation; "Keep" leaves the term alone.
    const requests = [];
    const record = (request) => requests.push(request.method());
    page.on('request', record);
    await row.getByRole('button', { name: `Delete the term ${term}` }).click();
    await row.getByRole('button', { name: `Keep the term ${term}` }).click();
    await row.getByRole('button', { name: `Delete the term ${term}` }).click();
    await page.waitForTimeout(200);
    page.off('request', record);
    assert.equal(requests.includes('DELETE'), false, 'Delete sent a request before it was confirmed');
    const deleted = page.waitForResponse((r) => r.request().method() === 'DELETE');
    await row.getByRole('button', { name: `Confirm deleting the term ${term}` }).click();
    assert.equal((await deleted).status(), 204);
    await row.waitFor({ state: 'detached' });
    const terms = await page.evaluate(async () => (await (await fetch('/api/glossary')).json()).terms.map((entry) => entry.term));
    assert.equal(terms.includes(term), false);
  });

  it('staff sees no glossary', async () => {
    agentBrowser = await launchBrowser({ locale: 'zh-CN' });
    const { page } = agentBrowser;
    agentRoute = await routeStaffSocket(page);
    await page.goto(server.baseUrl + '/console');
    const response = await signIn(page, AGENT.name, AGENT.password);
    assert.equal(response.status(), 200);
    await waitForOnline(page);
    const heading = (await page.locator('#owned-heading').textContent()).trim();
    assert.ok(heading.startsWith('我的对话'), `the console is not in Chinese: "${heading}"`);
    assert.equal(await page.locator(cs.glossaryToggle).count(), 0);
    assert.equal(await page.locator(cs.glossary).count(), 0);

    const posted = await page.evaluate(async () => {
      const request = { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"term":"Nope"}' };
      return (await fetch('/api/glossary', request)).status;
    });
    assert.equal(posted, 403);
    await screenshot(page, 'console-staff-zh');
  });

  it('second take shows the refusal', async () => {
    const { page } = agentBrowser;
    const third = await queueBuyer(server, 'I would like a quote for 500 panels.', 'en-GB');
    try {
      await queueRow(page, third.conversationId).click();
      await page.locator(`${cs.log} .from-buyer`).first().waitFor();
      await queueRow(staffBrowser.page, third.conversationId).click();
      await staffBrowser.page.getByRole('button', { name: 'Take', exact: true }).click();
      await ownedRow(staffBrowser.page, third.conversationId).waitFor();

      await page.getByRole('button', { name: '接手', exact: true }).click();
      const refused = await agentRoute.waitFor('received', (f) => f.type === 'refused' && f.conversation_id === third.conversationId);
      assert.equal(refused.code, 'owned');
      const alert = page.locator(cs.alert);
      await alert.waitFor({ state: 'visible' });
      // The refusal is in Chinese with the owner's name; the server's English text is the tooltip.
      assert.equal(await alert.textContent(), 'Ana Ortiz 正在处理此对话');
      assert.equal(await alert.getAttribute('title'), refused.message);
      const status = page.locator(`${cs.view} .view-status`);
      await eventually(async () => /Ana Ortiz/.test(await status.textContent()), 'the owner in the status line');
    } finally {
      await third.browser.close();
    }
  });

  it('load earlier pages back', async () => {
    const { page } = staffBrowser;
    const id = await queueLongChat(server, 60);
    await queueRow(page, id).click();
    const first = await staffRoute.waitFor('received', (f) => f.type === 'transcript' && f.conversation_id === id);
    assert.equal(first.events.length, 50);
    assert.equal(first.has_more, true);
    await eventually(async () => (await transcriptSeqs(page)).length === 50, 'the first page of 50 events');

    const earlier = page.getByRole('button', { name: 'Load earlier messages', exact: true });
    await earlier.click();
    const opens = staffRoute.where('sent', (f) => f.type === 'open' && f.conversation_id === id);
    assert.equal(opens.at(-1).before_seq, first.events[0].seq);
    const lastSeq = first.events.at(-1).seq;
    await eventually(async () => (await transcriptSeqs(page)).length === lastSeq, 'every event after loading earlier');
    const seqs = await transcriptSeqs(page);
    assert.deepEqual(seqs, Array.from({ length: lastSeq }, (_, index) => index + 1));
    await earlier.waitFor({ state: 'hidden' });
  });

  it('signs out', async () => {
    const { page } = staffBrowser;
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.locator('#sign-in-view').waitFor({ state: 'visible' });
    const status = await page.evaluate(async () => (await fetch('/api/staff/me')).status);
    assert.equal(status, 401);
  });

  it('raised no page errors', () => {
    assert.deepEqual(staffBrowser.watch.pageErrors, []);
    assert.deepEqual(staffBrowser.watch.dialogs, []);
    const violations = staffBrowser.watch.consoleErrors.filter((text) => /Content Security Policy/i.test(text));
    assert.deepEqual(violations, []);
  });
});

describe('widget and staff frames', () => {
  let server;
  let browser;
  let route;

  before(async () => {
    server = new TestServer();
    await server.start();
    browser = await launchBrowser();
    route = await routeChatSocket(browser.page);
    await browser.page.goto(server.baseUrl + '/');
    await openWidget(browser.page);
    await eventually(() => route.welcome, 'the welcome frame');
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  it('dropped reply leaves the log', async () => {
    const { page } = browser;
    route.inject({ type: 'reply_start', reply_id: 'r-900', reply_to: 899, language: 'en' });
    route.inject({ type: 'delta', reply_id: 'r-900', text: 'The minimum order ' });
    const streaming = page.locator('.cd-streaming');
    await streaming.filter({ hasText: 'The minimum order' }).waitFor();
    route.inject({ type: 'reply_dropped', reply_id: 'r-900' });
    await streaming.waitFor({ state: 'detached' });
    assert.equal(await page.locator('.cd-typing').isVisible(), false);
    assert.equal(await page.locator('.cd-log').getAttribute('aria-busy'), null);
  });

  it('state text and author name shown', async () => {
    const { page } = browser;
    const seq = route.welcome.last_seq + 500;
    const joined = '<b>Li Wei</b> from our team has joined the conversation.';
    route.inject({
      type: 'event', seq, kind: 'state', author: 'system', state: 'staff', text: joined,
      language: 'en', created_at: new Date().toISOString(),
    });
    route.inject({
      type: 'event', seq: seq + 1, kind: 'message', author: 'staff', text: 'Hello, how can I help?',
      author_name: '<i>Li Wei</i>', language: 'en', machine_translated: false, created_at: new Date().toISOString(),
    });
    const line = page.locator(`.cd-log > [data-seq="${seq}"]`);
    await line.waitFor();
    assert.equal(await line.textContent(), joined);
    const message = page.locator(`.cd-log > [data-seq="${seq + 1}"]`);
    await message.waitFor();
    assert.equal(await message.locator('.cd-author').textContent(), '<i>Li Wei</i>');
    assert.equal(await message.locator('b, i').count(), 0);
    await waitForStatus(page, STATUS_STAFF);

    route.inject({
      type: 'event', seq: seq + 2, kind: 'state', author: 'system', state: 'resolved', text: '',
      language: 'en', created_at: new Date().toISOString(),
    });
    const fallback = page.locator(`.cd-log > [data-seq="${seq + 2}"]`);
    await fallback.waitFor();
    assert.match(await fallback.textContent(), /marked as resolved/);
    await waitForStatus(page, STATUS_RESOLVED);
  });
});

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
