// Hostile text from the buyer, and hostile text, links and sources in server frames, must
// show literally: no element is parsed from them, no script runs, no unsafe link is made.
// The seller page carries the Content-Security-Policy that docs/widget.md documents.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, routeChatSocket, screenshot, waitForFrame } from '../helpers/browser.mjs';
import { HostPages, sellerPage, widgetCsp } from '../helpers/host.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, openWidget, selectors, sendText } from '../helpers/widget.mjs';

const BUYER_PAYLOADS = [
  '<img src=x onerror=alert(1)>',
  '[x](javascript:alert(1))',
  'javascript:alert(1)',
  '<script>alert(2)</script><b>bold</b>',
];

async function countInWidget(page, selector) {
  return page.evaluate(
    (css) => document.getElementById('crossdesk-widget').shadowRoot.querySelectorAll(css).length,
    selector,
  );
}

describe('untrusted text in the widget', () => {
  let server;
  let host;
  let browser;
  let pageUrl;

  before(async () => {
    server = new TestServer();
    await server.start();
    host = new HostPages();
    await host.start();
    const html = sellerPage({ serverUrl: server.baseUrl, attributes: { title: 'Safety check' } });
    pageUrl = host.add('/shop.html', html, widgetCsp(server.baseUrl));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await server?.dispose();
  });

  it('shows buyer messages literally and runs nothing', async () => {
    const { page, watch } = browser;
    await page.goto(pageUrl);
    await openWidget(page);

    for (const payload of BUYER_PAYLOADS) {
      await sendText(page, payload);
      const sent = await waitForFrame(watch, 'sent', (f) => f.type === 'message' && f.text === payload);
      await waitForFrame(watch, 'received', (f) => f.type === 'ack' && f.client_id === sent.client_id);
    }
    const bubbles = page.locator(`${selectors.buyerMessage} .cd-bubble`);
    await eventually(async () => (await bubbles.count()) === BUYER_PAYLOADS.length, 'all payloads on screen');
    assert.deepEqual(await bubbles.allTextContents(), BUYER_PAYLOADS);
    await page.waitForTimeout(1000);

    assert.equal(await countInWidget(page, 'img, script, iframe, object, b'), 0);
    assert.equal(await countInWidget(page, 'a[href^="javascript" i]'), 0);
    assert.equal(await countInWidget(page, `${selectors.buyerMessage} a`), 0);
    assert.deepEqual(watch.dialogs, []);
    assert.deepEqual(watch.pageErrors, []);
    await screenshot(page, 'safety-buyer-payloads');
  });

  it('works under the documented Content-Security-Policy', () => {
    const violations = browser.watch.consoleErrors.filter((text) => /Content Security Policy/i.test(text));
    assert.deepEqual(violations, []);
  });

  it('works under a Trusted Types policy', async () => {
    const { page, watch } = browser;
    const html = sellerPage({ serverUrl: server.baseUrl, attributes: { title: 'Trusted Types' } });
    const csp = widgetCsp(server.baseUrl) + "; require-trusted-types-for 'script'";
    const errorsBefore = watch.consoleErrors.length;
    await page.goto(host.add('/trusted-types.html', html, csp));
    await openWidget(page);
    await sendText(page, 'Trusted Types check');
    await page.locator(selectors.buyerMessage).filter({ hasText: 'Trusted Types check' }).waitFor();
    await eventually(async () => (await page.locator('.cd-pending').count()) === 0, 'the acknowledgement');
    assert.deepEqual(watch.consoleErrors.slice(errorsBefore), []);
    assert.deepEqual(watch.pageErrors, []);
  });

  it('renders hostile server text, links and sources safely', async () => {
    const route = await routeChatSocket(browser.page);
    const { page, watch } = browser;
    await page.goto(pageUrl);
    await openWidget(page);
    await eventually(() => route.welcome, 'the welcome frame');

    const seq = route.welcome.last_seq + 1000;
    const text = '<img src=x onerror=alert(3)> Spec sheet: https://kestrelbay.example/spec.pdf, write to sales@kestrelbay.example or javascript:alert(4)';
    route.inject({
      type: 'event', seq, kind: 'message', author: 'bot', text, language: 'en',
      machine_translated: true, answer_source: 'generated', reply_to: null, client_id: null,
      note: '<i>The translation may be unreliable.</i>',
      created_at: new Date().toISOString(),
      sources: [
        { kind: 'document', id: 'a', title: '<script>alert(5)</script>', url: 'javascript:alert(5)' },
        { kind: 'document', id: 'b', title: 'Data URL', url: 'data:text/html,<script>alert(6)</script>' },
        { kind: 'document', id: 'c', title: 'Catalogue 2026', url: 'https://kestrelbay.example/catalogue.pdf' },
        { kind: 'document', id: 'd', title: 'Sales desk', url: 'mailto:sales@kestrelbay.example' },
      ],
    });

    const item = page.locator(`.cd-log > [data-seq="${seq}"]`);
    await item.waitFor({ state: 'visible' });
    assert.equal(await item.locator('.cd-bubble').textContent(), text);
    assert.equal(await item.locator('.cd-note').textContent(), '<i>The translation may be unreliable.</i>');
    assert.equal(await item.locator('.cd-mt').count(), 1);

    const bubbleLinks = await item.locator('.cd-bubble a').evaluateAll((links) => links.map((a) => a.href));
    assert.deepEqual(bubbleLinks, ['https://kestrelbay.example/spec.pdf', 'mailto:sales@kestrelbay.example']);

    const sources = item.locator('.cd-source-list > li');
    assert.equal(await sources.count(), 4);
    assert.equal(await sources.nth(0).locator('a').count(), 0);
    assert.equal(await sources.nth(0).textContent(), '<script>alert(5)</script>');
    assert.equal(await sources.nth(1).locator('a').count(), 0);
    assert.equal(await sources.nth(2).locator('a').getAttribute('href'), 'https://kestrelbay.example/catalogue.pdf');
    assert.equal(await sources.nth(3).locator('a').getAttribute('href'), 'mailto:sales@kestrelbay.example');
    for (const rel of await item.locator('a').evaluateAll((links) => links.map((a) => a.rel))) {
      assert.match(rel, /noopener/);
    }

    await page.waitForTimeout(500);
    assert.equal(await countInWidget(page, 'img, script, i'), 0);
    assert.equal(await countInWidget(page, 'a[href^="javascript" i], a[href^="data" i]'), 0);
    assert.deepEqual(watch.dialogs, []);
    await screenshot(page, 'safety-hostile-server-frames');
  });
});
