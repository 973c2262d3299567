// Locators and actions on the staff console, and a controllable route for its WebSocket.

export const consoleSelectors = {
  signInError: '#sign-in-error',
  connection: '#connection',
  queueList: '#queue-list',
  ownedList: '#owned-list',
  toast: '.toast',
  view: '#conversation .view',
  log: '#conversation .view .log',
  review: '#conversation .view .review',
  replyInput: '#conversation .view .reply-form textarea',
  noteInput: '#conversation .view .note-form textarea',
  alert: '#conversation .view .view-alert',
  glossaryToggle: '#glossary-toggle',
  glossary: '#glossary',
};

/** Fills the sign-in form, submits it and returns the server's response to the sign-in request. */
export async function signIn(page, name, password) {
  await page.locator('#sign-in-name').fill(name);
  await page.locator('#sign-in-password').fill(password);
  const response = page.waitForResponse((candidate) => candidate.url().endsWith('/api/staff/sign-in'));
  await page.locator('#sign-in-button').click();
  return response;
}

/** Waits until the console's socket has its welcome and the status line shows it. */
export async function waitForOnline(page) {
  await page.locator(`${consoleSelectors.connection}[data-state="online"]`).waitFor();
}

export function queueRow(page, conversationId) {
  return page.locator(`${consoleSelectors.queueList} .chat-row[data-conversation-id="${conversationId}"]`);
}

export function ownedRow(page, conversationId) {
  return page.locator(`${consoleSelectors.ownedList} .chat-row[data-conversation-id="${conversationId}"]`);
}

/** Returns the seq of every stored event in the shown transcript, in display order. */
export async function transcriptSeqs(page) {
  return page.locator(`${consoleSelectors.log} > [data-seq]`).evaluateAll((items) =>
    items.map((item) => Number(item.dataset.seq)),
  );
}

/**
 * Routes the console's /ws/staff socket through Playwright, forwarding every frame both ways
 * and recording them in `frames`. `drop()` closes the page's socket as a network failure would.
 * While `blocked` is true, new sockets are closed at once instead of reaching the server.
 * While `swallow` is true, frames from the page are recorded but never reach the server, as on
 * a half-dead connection. `inject(frame)` sends a frame to the page as if from the server.
 */
export async function routeStaffSocket(page) {
  const route = { frames: [], blocked: false, swallow: false, current: null, connections: 0 };
  await page.routeWebSocket(/\/ws\/staff$/, (pageSide) => {
    if (route.blocked) {
      pageSide.close({ code: 1011, reason: 'blocked by the test' });
      return;
    }
    route.connections += 1;
    const connection = route.connections;
    const serverSide = pageSide.connectToServer();
    route.current = pageSide;
    pageSide.onMessage((message) => {
      route.frames.push({ direction: 'sent', connection, frame: parseFrame(message), swallowed: route.swallow });
      if (!route.swallow) serverSide.send(message);
    });
    serverSide.onMessage((message) => {
      route.frames.push({ direction: 'received', connection, frame: parseFrame(message) });
      pageSide.send(message);
    });
    serverSide.onClose((code, reason) => pageSide.close({ code, reason }));
    pageSide.onClose(() => serverSide.close());
  });
  route.drop = async () => {
    if (!route.current) throw new Error('the console has not opened its WebSocket yet');
    await route.current.close({ code: 4000, reason: 'dropped by the test' });
    route.current = null;
  };
  route.inject = (frame) => {
    if (!route.current) throw new Error('the console has not opened its WebSocket yet');
    route.current.send(JSON.stringify(frame));
  };
  route.where = (direction, predicate) =>
    route.frames
      .filter((entry) => entry.direction === direction && entry.frame && predicate(entry.frame))
      .map((entry) => entry.frame);
  route.waitFor = async (direction, predicate, timeoutMs = 20000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = route.where(direction, predicate);
      if (found.length) return found[0];
      await new Promise((done) => setTimeout(done, 25));
    }
    const recent = route.frames.slice(-8).map((entry) => entry.frame);
    throw new Error(`no ${direction} staff frame matched within ${timeoutMs} ms; last frames: ${JSON.stringify(recent)}`);
  };
  return route;
}

function parseFrame(message) {
  try {
    return JSON.parse(String(message));
  } catch (_) {
    return null;
  }
}
