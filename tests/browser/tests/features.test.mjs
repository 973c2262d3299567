// The order-status helper, the request for a person, ratings and the unread badge.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, routeChatSocket, screenshot } from '../helpers/browser.mjs';
import { HostPages, sellerPage, widgetCsp } from '../helpers/host.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, openWidget, selectors } from '../helpers/widget.mjs';

describe('widget features', () => {
  let server;
  let host;
  let browser;
  let route;

  before(async () => {
    server = new TestServer();
    await server.start();
    host = new HostPages();
    await host.start();
    browser = await launchBrowser();
    route = await routeChatSocket(browser.page);
    const html = sellerPage({ serverUrl: server.baseUrl });
    await browser.page.goto(host.add('/shop.html', html, widgetCsp(server.baseUrl)));
    await openWidget(browser.page);
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await server?.dispose();
  });

  it('sends the order form as one message', async () => {
    const { page } = browser;
    await page.getByRole('button', { name: 'Order status', exact: true }).click();
    await page.getByLabel('Order number').fill('A1024');
    await page.getByLabel('E-mail used for the order').fill('not-an-address');
    await page.getByRole('button', { name: 'Check status', exact: true }).click();
    await eventually(async () => page.locator('.cd-field-error').isVisible(), 'the form error');
    assert.equal(await page.locator('.cd-field-error').textContent(), 'Enter the order number and a valid e-mail address.');

    await page.getByLabel('E-mail used for the order').fill('x@example.com');
    await screenshot(page, 'features-order-form');
    await page.getByRole('button', { name: 'Check status', exact: true }).click();
    const text = 'Order A1024, e-mail x@example.com';
    const message = page.locator(selectors.buyerMessage).filter({ hasText: text });
    await message.waitFor();
    assert.equal(await message.locator('.cd-bubble').textContent(), text);
    assert.equal(await page.locator('.cd-order').isVisible(), false);
    await eventually(async () => (await page.locator('.cd-pending').count()) === 0, 'the acknowledgement');
  });

  it('rates a bot answer', async () => {
    const { page } = browser;
    const answer = page.locator(selectors.botMessage).first();
    await answer.waitFor({ state: 'visible', timeout: 60000 });
    await answer.locator('.cd-rating').waitFor();
    const up = answer.getByRole('button', { name: 'Helpful answer', exact: true });
    await up.click();
    assert.equal(await up.getAttribute('aria-pressed'), 'true');
    const down = answer.getByRole('button', { name: 'Unhelpful answer', exact: true });
    await down.click();
    assert.equal(await down.getAttribute('aria-pressed'), 'true');
    assert.equal(await up.getAttribute('aria-pressed'), 'false');
    assert.equal(await answer.locator('.cd-thanks').isVisible(), true);
  });

  it('asks for a person and follows the state', async () => {
    const { page } = browser;
    const button = page.getByRole('button', { name: 'Talk to a person', exact: true });
    await button.click();
    await eventually(
      async () => (await page.locator('.cd-status').textContent()) === 'Waiting for a person…',
      'the queued status line',
    );
    assert.equal(await button.isDisabled(), true);
    assert.equal(await page.locator('.cd-system').filter({ hasText: 'You will be connected' }).count(), 1);

    const seq = route.welcome.last_seq + 400;
    route.inject({
      type: 'event', seq, kind: 'message', author: 'bot', text: 'A person will reply here soon.',
      language: 'en', machine_translated: false, answer_source: 'escalation', sources: [],
      client_id: null, created_at: new Date().toISOString(),
    });
    const notice = page.locator(`.cd-log > [data-seq="${seq}"]`);
    await notice.waitFor();
    assert.equal(await notice.locator('.cd-rating').count(), 0, 'an escalation notice has rating buttons');
    await screenshot(page, 'features-waiting-for-person');
  });

  it('shows staff messages, typing and an unread badge while closed', async () => {
    const { page } = browser;
    route.inject({ type: 'typing', author: 'staff', active: true });
    await page.locator('.cd-typing').filter({ hasText: 'A person is typing…' }).waitFor();

    await page.keyboard.press('Escape');
    await page.locator(selectors.panel).waitFor({ state: 'hidden' });
    const seq = route.welcome.last_seq + 500;
    route.inject({
      type: 'event', seq, kind: 'message', author: 'staff', text: 'Hi, this is Mei from Kestrel Bay. Let me check your order.',
      language: 'en', machine_translated: false, client_id: null, created_at: new Date().toISOString(),
    });
    const badge = page.locator(selectors.badge);
    await badge.waitFor({ state: 'visible' });
    assert.equal(await badge.textContent(), '1');
    assert.equal(await page.locator(selectors.launcher).getAttribute('aria-label'), 'Open chat, unread messages: 1');
    await screenshot(page, 'features-unread-badge');

    await page.locator(selectors.launcher).click();
    await badge.waitFor({ state: 'hidden' });
    const staff = page.locator('.cd-msg.cd-from-staff');
    assert.equal(await staff.locator('.cd-author').textContent(), 'Support team');
    assert.equal(await staff.locator('.cd-rating').count(), 0);
  });
});
