// A host page stylesheet that forces font size, colour and direction on every element must
// not change how the widget looks: its computed styles match those on a plain page.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchBrowser, screenshot } from '../helpers/browser.mjs';
import { HostPages, sellerPage } from '../helpers/host.mjs';
import { TestServer } from '../helpers/server.mjs';
import { openWidget } from '../helpers/widget.mjs';

const HOSTILE_STYLE =
  '<style>* { font-size: 40px !important; color: red !important; direction: rtl !important }' +
  ' div, button, p, span { margin: 13px !important; padding: 9px !important; line-height: 3 !important;' +
  ' border: 3px solid lime !important; background: yellow !important; font-family: serif !important }</style>';

const CHECKED = [
  '.cd-launcher',
  '.cd-panel',
  '.cd-header',
  '.cd-title',
  '.cd-status',
  '.cd-greeting .cd-bubble',
  '.cd-chip',
  '.cd-textarea',
  '.cd-send',
];

const PROPERTIES = [
  'font-size', 'font-family', 'font-weight', 'line-height', 'color', 'background-color',
  'direction', 'margin-top', 'padding-top', 'border-top-width', 'width', 'height',
];

// Returns, for each selector, the listed computed properties and the element's box.
function readStyles([selectors, properties]) {
  const shadow = document.getElementById('crossdesk-widget').shadowRoot;
  return selectors.map((selector) => {
    const node = shadow.querySelector(selector);
    if (!node) return { selector, missing: true };
    const style = getComputedStyle(node);
    const box = node.getBoundingClientRect();
    const values = Object.fromEntries(properties.map((name) => [name, style.getPropertyValue(name)]));
    return { selector, values, box: [box.x, box.y, box.width, box.height].map(Math.round) };
  });
}

describe('style isolation from the host page', () => {
  let server;
  let host;
  let browser;

  before(async () => {
    server = new TestServer();
    await server.start();
    host = new HostPages();
    await host.start();
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await server?.dispose();
  });

  async function stylesOn(path, head) {
    const { page } = browser;
    await page.goto(host.add(path, sellerPage({ serverUrl: server.baseUrl, head })));
    await openWidget(page);
    // Moves the pointer off the launcher so its hover scale does not count, then lets animations end.
    await page.mouse.move(0, 0);
    await page.waitForTimeout(500);
    await screenshot(page, 'isolation-' + path.slice(1, -5));
    return page.evaluate(readStyles, [CHECKED, PROPERTIES]);
  }

  it('keeps computed styles under a hostile host stylesheet', async () => {
    const plain = await stylesOn('/plain.html', '');
    const hostile = await stylesOn('/hostile.html', HOSTILE_STYLE);
    for (const entry of plain) assert.ok(!entry.missing, `${entry.selector} not found`);

    const pageColor = await browser.page.evaluate(() => getComputedStyle(document.querySelector('h1')).color);
    assert.equal(pageColor, 'rgb(255, 0, 0)', 'the hostile stylesheet did not apply to the page');
    for (const [index, entry] of plain.entries()) {
      assert.deepEqual(hostile[index], entry, `${entry.selector} differs under the hostile stylesheet`);
    }
  });

  it('does not style the host page', async () => {
    const { page } = browser;
    await page.goto(host.add('/page-only.html', sellerPage({ serverUrl: server.baseUrl })));
    await openWidget(page);
    const styles = await page.evaluate(() => {
      const style = getComputedStyle(document.querySelector('p'));
      return { display: style.display, margin: style.marginTop, fontFamily: style.fontFamily };
    });
    await page.goto(host.add('/no-widget.html', '<!doctype html><html lang="en"><body><h1>x</h1><p>Some product text.</p></body></html>'));
    const without = await page.evaluate(() => {
      const style = getComputedStyle(document.querySelector('p'));
      return { display: style.display, margin: style.marginTop, fontFamily: style.fontFamily };
    });
    assert.deepEqual(styles, without);
  });
});
