// When the browser comes back online or the tab becomes visible, the widget reconnects at
// once instead of waiting for its backoff timer. The page's clock is paused, so the timer
// cannot fire and only the event can start the reconnect.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { framesWhere, launchBrowser, waitForFrame } from '../helpers/browser.mjs';
import { TestServer } from '../helpers/server.mjs';
import { eventually, openWidget, selectors, sendText } from '../helpers/widget.mjs';

const QUIET_MS = 1500;
const RECONNECT_WITHIN_MS = 3000;

describe('reconnecting on browser events', () => {
  let server;
  let browser;

  before(async () => {
    server = new TestServer();
    await server.start();
    browser = await launchBrowser();
    const { page, watch } = browser;
    await page.clock.install();
    await page.goto(server.baseUrl + '/');
    await openWidget(page);
    await sendText(page, 'Do you have CE certificates for the panel lights?');
    await waitForFrame(watch, 'received', (f) => f.type === 'event' && f.author === 'bot', 60000);
    await page.clock.pauseAt(Date.now() + 60000);
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
  });

  // Restarts the server, checks that the paused widget stays disconnected, then fires the event.
  async function reconnectOn(fireEvent) {
    const { page, watch } = browser;
    await server.stop('SIGKILL');
    await eventually(
      async () => (await page.locator(selectors.root).getAttribute('data-connection')) !== 'online',
      'the widget to notice the closed socket',
    );
    await server.start(server.port);

    const hellosBefore = framesWhere(watch, 'sent', (f) => f.type === 'hello').length;
    await page.waitForTimeout(QUIET_MS);
    const hellosQuiet = framesWhere(watch, 'sent', (f) => f.type === 'hello').length;
    assert.equal(hellosQuiet, hellosBefore, 'the widget reconnected while its clock was paused');

    const welcomesBefore = framesWhere(watch, 'received', (f) => f.type === 'welcome').length;
    await page.evaluate(fireEvent);
    await eventually(
      () => framesWhere(watch, 'received', (f) => f.type === 'welcome').length > welcomesBefore,
      'a welcome after the event',
      RECONNECT_WITHIN_MS,
    );
    const welcome = framesWhere(watch, 'received', (f) => f.type === 'welcome').at(-1);
    assert.equal(welcome.resumed, true);
  }

  it('reconnects at once when the browser comes online', async () => {
    await reconnectOn(() => window.dispatchEvent(new Event('online')));
  });

  it('reconnects at once when the tab becomes visible', async () => {
    await reconnectOn(() => document.dispatchEvent(new Event('visibilitychange')));
  });
});
