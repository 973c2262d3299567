// Keyboard use, ARIA roles and names, and a 375 px wide phone screen.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, screenshot, waitForFrame } from '../helpers/browser.mjs';
import { HostPages, sellerPage, widgetCsp } from '../helpers/host.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, focusedElement, openWidget, selectors, sendText } from '../helpers/widget.mjs';

// Waits until the panel's opening animation has ended, so its box is final.
async function finishAnimations(page) {
  await page.locator(selectors.panel).evaluate((node) => Promise.all(node.getAnimations().map((a) => a.finished)));
}

describe('accessibility', () => {
  let server;
  let host;
  let browser;
  let pageUrl;

  before(async () => {
    server = new TestServer();
    await server.start();
    host = new HostPages();
    await host.start();
    const html = sellerPage({ serverUrl: server.baseUrl, attributes: { title: 'Kestrel Bay Lighting' } });
    pageUrl = host.add('/shop.html', html, widgetCsp(server.baseUrl));
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await server?.dispose();
  });

  it('opens, sends and closes with the keyboard', async () => {
    const { page, watch } = browser;
    await page.goto(pageUrl);
    await page.locator(selectors.launcher).waitFor({ state: 'visible' });
    await eventually(async () => (await page.locator(selectors.launcher).getAttribute('aria-label')) === 'Open chat', 'the launcher label');

    await page.keyboard.press('Tab');
    assert.match((await focusedElement(page)).className, /cd-launcher/);
    await page.keyboard.press('Enter');
    await page.locator(selectors.panel).waitFor({ state: 'visible' });
    assert.match((await focusedElement(page)).className, /cd-textarea/);
    assert.equal(await page.locator(selectors.launcher).getAttribute('aria-expanded'), 'true');

    await page.keyboard.type('Do you offer DDP shipping to Germany?');
    await page.keyboard.press('Shift+Enter');
    await page.keyboard.type('And to Austria?');
    await page.keyboard.press('Enter');
    const sent = await waitForFrame(watch, 'sent', (f) => f.type === 'message');
    assert.equal(sent.text, 'Do you offer DDP shipping to Germany?\nAnd to Austria?');
    assert.equal(await page.locator(selectors.input).inputValue(), '');

    await page.keyboard.press('Escape');
    await page.locator(selectors.panel).waitFor({ state: 'hidden' });
    assert.match((await focusedElement(page)).className, /cd-launcher/);
    assert.equal(await page.locator(selectors.launcher).getAttribute('aria-expanded'), 'false');
  });

  it('exposes a dialog, a polite log and named controls', async () => {
    const { page } = browser;
    await openWidget(page);
    const dialog = page.getByRole('dialog', { name: 'Kestrel Bay Lighting' });
    assert.equal(await dialog.count(), 1);
    const log = page.getByRole('log');
    assert.equal(await log.count(), 1);
    assert.equal(await log.getAttribute('aria-live'), 'polite');
    const panel = page.locator(selectors.panel);
    assert.equal(await panel.getByRole('button', { name: 'Close chat', exact: true }).count(), 1);
    assert.equal(await panel.getByRole('button', { name: 'Send', exact: true }).count(), 1);
    const launcher = page.locator(selectors.launcher);
    assert.equal(await launcher.getAttribute('aria-label'), 'Close chat');
    assert.equal(await page.getByRole('textbox', { name: 'Your message' }).count(), 1);

    const unnamed = await page.evaluate(() => {
      const shadow = document.getElementById('crossdesk-widget').shadowRoot;
      return Array.from(shadow.querySelectorAll('button, textarea, input'))
        .filter((node) => !(node.getAttribute('aria-label') || node.textContent.trim() || node.labels?.length))
        .map((node) => node.outerHTML.slice(0, 80));
    });
    assert.deepEqual(unnamed, []);
  });

  it('fits a 375 px wide phone screen', async () => {
    const phone = await launchBrowser({
      viewport: { width: 375, height: 667 },
      contextOptions: { isMobile: true, hasTouch: true, deviceScaleFactor: 2 },
    });
    try {
      const { page } = phone;
      await page.goto(pageUrl);
      await screenshot(page, 'mobile-375-closed');
      await page.locator(selectors.launcher).tap();
      await page.locator(selectors.panel).waitFor({ state: 'visible' });
      await finishAnimations(page);

      const panel = await page.locator(selectors.panel).boundingBox();
      assert.deepEqual([panel.x, panel.y, panel.width, panel.height], [0, 0, 375, 667]);
      const input = await page.locator(selectors.input).boundingBox();
      assert.ok(input.y + input.height <= 667, 'the composer is below the screen');
      assert.ok(input.width >= 250, `the composer is only ${input.width} px wide`);
      const focused = await focusedElement(page);
      assert.match(focused.className, /cd-panel/, 'focus did not move into the panel');

      await sendText(page, 'Hi, I need 500 panel lights for a school project in Lima.');
      await page.locator(selectors.buyerMessage).first().waitFor({ state: 'visible' });
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= 375, `the page scrolls sideways (${overflow} px)`);
      await page.waitForTimeout(1000);
      await screenshot(page, 'mobile-375-open');
    } finally {
      await phone.close();
    }
  });
});
