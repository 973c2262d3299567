// Locators and actions on the widget. Playwright's CSS locators pierce the open shadow root.

export const selectors = {
  root: '.cd-root',
  launcher: '.cd-launcher',
  badge: '.cd-badge',
  panel: '.cd-panel',
  status: '.cd-status',
  banner: '.cd-banner',
  log: '.cd-log',
  input: '.cd-textarea',
  send: '.cd-send',
  botMessage: '.cd-msg.cd-from-bot:not(.cd-greeting)',
  buyerMessage: '.cd-msg.cd-from-buyer',
};

export async function waitForLauncher(page) {
  await page.locator(selectors.launcher).waitFor({ state: 'visible' });
}

export async function openWidget(page) {
  await waitForLauncher(page);
  if (!(await page.locator(selectors.panel).isVisible())) await page.locator(selectors.launcher).click();
  await page.locator(selectors.panel).waitFor({ state: 'visible' });
}

/** Types a message in the composer and sends it with Enter. */
export async function sendText(page, text) {
  const input = page.locator(selectors.input);
  await input.fill(text);
  await input.press('Enter');
}

/** Returns the seq, class and text of every stored event in the log, in display order. */
export async function logEntries(page) {
  return page.locator('.cd-log > [data-seq]').evaluateAll((items) =>
    items
      .filter((item) => item.dataset.seq !== '0')
      .map((item) => ({
        seq: Number(item.dataset.seq),
        kind: item.className,
        text: (item.querySelector('.cd-bubble') || item).textContent,
      })),
  );
}

/** Returns the element that has focus, looking inside the widget's shadow root. */
export async function focusedElement(page) {
  return page.evaluate(() => {
    let active = document.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) {
      active = active.shadowRoot.activeElement;
    }
    return active ? { tag: active.tagName.toLowerCase(), className: String(active.className) } : null;
  });
}

/** Polls `check` until it returns a truthy value or the time runs out; returns that value. */
export async function eventually(check, description, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}; last value: ${JSON.stringify(last)}`);
}
