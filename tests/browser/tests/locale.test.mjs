// The widget's language comes from data-locale, then <html lang>, then the browser; Arabic,
// Hebrew and Persian lay the widget out right to left, and each bubble finds its own direction.

import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { launchBrowser, screenshot, waitForFrame } from '../helpers/browser.mjs';
import { HostPages, sellerPage, widgetCsp } from '../helpers/host.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, openWidget, selectors, sendText } from '../helpers/widget.mjs';

async function rootLanguage(page) {
  const root = page.locator(selectors.root);
  await eventually(async () => (await root.getAttribute('lang')) !== null, 'the strings to load');
  return { lang: await root.getAttribute('lang'), dir: await root.getAttribute('dir') };
}

describe('widget language and direction', () => {
  let server;
  let host;
  let browser;

  before(async () => {
    server = new TestServer();
    await server.start();
    host = new HostPages();
    await host.start();
  });

  // Each test gets a fresh profile: a conversation stored by an earlier test would otherwise
  // set the widget's language to that conversation's language.
  beforeEach(async () => {
    browser = await launchBrowser();
  });

  afterEach(async () => {
    await browser?.close();
  });

  after(async () => {
    await host?.stop();
    await server?.dispose();
  });

  function pageWith(path, options) {
    const html = sellerPage({ serverUrl: server.baseUrl, ...options });
    return host.add(path, html, widgetCsp(server.baseUrl));
  }

  it('renders Arabic right to left from data-locale', async () => {
    const { page, watch } = browser;
    await page.goto(pageWith('/ar.html', { attributes: { locale: 'ar' } }));
    assert.deepEqual(await rootLanguage(page), { lang: 'ar', dir: 'rtl' });
    assert.equal(await page.locator(selectors.launcher).getAttribute('aria-label'), 'فتح المحادثة');

    await openWidget(page);
    assert.equal(await page.locator(selectors.input).getAttribute('placeholder'), 'اكتب رسالة…');
    assert.equal(await page.locator('.cd-chip').first().textContent(), 'التحدث مع موظف');
    assert.equal(await page.locator('.cd-panel').evaluate((node) => getComputedStyle(node).direction), 'rtl');

    const hello = await waitForFrame(watch, 'sent', (f) => f.type === 'hello', 20000).catch(() => null);
    if (hello) assert.equal(hello.locale, 'ar');

    const arabicFirst = 'هل يتوفر الطراز KB-PL6060 بقدرة 36W؟';
    const latinFirst = 'KB-PL6060 متوفر؟';
    await sendText(page, arabicFirst);
    await sendText(page, latinFirst);
    const bubbles = page.locator(`${selectors.buyerMessage} .cd-bubble`);
    await eventually(async () => (await bubbles.count()) === 2, 'both Arabic messages');
    for (const index of [0, 1]) assert.equal(await bubbles.nth(index).getAttribute('dir'), 'auto');
    // A pending bubble is re-rendered when its ack arrives, so read the
    // directions once both bubbles have settled.
    const readDirections = () =>
      bubbles.evaluateAll((nodes) => nodes.map((node) => getComputedStyle(node).direction));
    await eventually(async () => (await readDirections()).every((d) => d !== ''), 'bubbles settled');
    assert.deepEqual(await readDirections(), ['rtl', 'ltr']);
    await screenshot(page, 'locale-arabic-rtl');
  });

  for (const [code, launcherLabel] of [
    ['he', 'פתיחת הצ׳אט'],
    ['fa', 'باز کردن گفت\u200cوگو'],
  ]) {
    it(`renders ${code} right to left`, async () => {
      const { page } = browser;
      await page.goto(pageWith(`/${code}.html`, { attributes: { locale: code } }));
      assert.deepEqual(await rootLanguage(page), { lang: code, dir: 'rtl' });
      assert.equal(await page.locator(selectors.launcher).getAttribute('aria-label'), launcherLabel);
    });
  }

  it('takes the language from <html lang> without data-locale', async () => {
    const { page } = browser;
    await page.goto(pageWith('/de.html', { lang: 'de-AT' }));
    assert.deepEqual(await rootLanguage(page), { lang: 'de', dir: 'ltr' });
    assert.equal(await page.locator(selectors.launcher).getAttribute('aria-label'), 'Chat öffnen');
  });

  it('falls back to English for a language it has no strings for', async () => {
    const { page } = browser;
    await page.goto(pageWith('/sw.html', { lang: 'sw' }));
    assert.deepEqual(await rootLanguage(page), { lang: 'en', dir: 'ltr' });
  });

  it('takes the browser language when the page names none', async () => {
    const japanese = await launchBrowser({ locale: 'ja-JP' });
    try {
      const html = sellerPage({ serverUrl: server.baseUrl }).replace('<html lang="en">', '<html>');
      await japanese.page.goto(host.add('/nolang.html', html, widgetCsp(server.baseUrl)));
      assert.deepEqual(await rootLanguage(japanese.page), { lang: 'ja', dir: 'ltr' });
      await openWidget(japanese.page);
      assert.equal(await japanese.page.locator(selectors.input).getAttribute('placeholder'), 'メッセージを入力…');
      await screenshot(japanese.page, 'locale-japanese');
    } finally {
      await japanese.close();
    }
  });
});
