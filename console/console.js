/*! crossdesk staff console. Plain JavaScript, no dependencies. */
(function () {
  'use strict';

  const script = document.currentScript;
  const ASSET_BASE = new URL('.', script ? script.src : location.href);
  const UI_LANGUAGES = ['en', 'zh'];
  const STATES = ['bot', 'queued', 'staff', 'resolved'];
  const REASONS = ['buyer_request', 'anger', 'buyer_returned'];
  const AUTHORS = ['buyer', 'bot', 'staff', 'system'];
  const ANSWER_SOURCES = [
    'faq', 'translated_faq', 'passage', 'generated', 'order', 'fallback', 'busy', 'escalation',
  ];

  // The server allows 10 frames per second with bursts of 20. The console stays below both.
  const SEND_BURST = 16;
  const SEND_PER_SECOND = 8;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const HANDSHAKE_TIMEOUT_MS = 15000;
  const PING_INTERVAL_MS = 25000;
  // A socket that delivered no frame (not even a pong) for this long is treated as dead.
  const SILENCE_LIMIT_MS = 60000;
  const PAGE_SIZE = 50;
  const MESSAGE_MAX_CHARS = 4000;
  const CLOCK_INTERVAL_MS = 1000;
  const BUYER_TYPING_TIMEOUT_MS = 8000;
  const OWN_TYPING_IDLE_MS = 4000;
  const TOAST_VISIBLE_MS = 10000;
  // New-chat pop-ups shown at once; further chats are counted in one summary pop-up.
  const TOAST_MAX = 2;
  // A note still unanswered this long after it was sent on a live socket is marked not sent.
  const NOTE_TIMEOUT_MS = 10000;
  const ALERT_VISIBLE_MS = 8000;

  const ui = {};
  const i18n = { language: '', strings: {}, tables: new Map(), time: null, names: null };
  const session = { staff: null, started: false };
  const conn = {
    socket: null,
    welcomed: false,
    attempt: 0,
    retryTimer: null,
    lastFrameAt: 0,
    queue: [],
    tokens: SEND_BURST,
    refilledAt: 0,
    flushTimer: null,
  };
  // Rows of the queue and of the agent's own chats, by conversation_id.
  const queueRows = new Map();
  const ownedRows = new Map();
  // Conversations this console follows (their transcript is loaded or loading), by conversation_id.
  const views = new Map();
  // Queued chats announced by `notify` that this agent has not opened yet.
  const unseenNotified = new Set();
  // New chats counted in the summary pop-up, by conversation_id.
  const toastOverflow = new Set();
  let toastSummaryTimer = null;
  let selectedId = null;
  let baseTitle = document.title;

  // ---- Strings -------------------------------------------------------------

  function uiLanguageFor(tag) {
    const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
    return UI_LANGUAGES.includes(base) ? base : 'en';
  }

  function fetchTable(code) {
    if (!i18n.tables.has(code)) {
      const url = new URL('i18n/' + code + '.json', ASSET_BASE);
      const request = fetch(url, { credentials: 'same-origin' })
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .catch((problem) => {
          console.warn('crossdesk console: loading strings failed:', url.href, problem);
          i18n.tables.delete(code);
          return null;
        });
      i18n.tables.set(code, request);
    }
    return i18n.tables.get(code);
  }

  // Loads the strings of `code` (English fills missing keys) and applies them to the page.
  async function switchLanguage(code) {
    const [english, table] = await Promise.all([fetchTable('en'), fetchTable(code)]);
    if (!english && !table) return;
    i18n.strings = Object.assign({}, english, table);
    i18n.language = table ? code : 'en';
    i18n.time = new Intl.DateTimeFormat(i18n.language, { hour: 'numeric', minute: '2-digit' });
    i18n.names = new Intl.DisplayNames([i18n.language], { type: 'language', fallback: 'code' });
    applyStrings();
  }

  function t(key, values) {
    const template = i18n.strings[key] || key;
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      values && name in values ? String(values[name]) : whole,
    );
  }

  function setText(node, key, values) {
    node.dataset.i18n = key;
    if (values) node.dataset.i18nValues = JSON.stringify(values);
    else delete node.dataset.i18nValues;
    node.textContent = t(key, values);
  }

  function setLabel(node, key, values) {
    node.dataset.i18nLabel = key;
    if (values) node.dataset.i18nLabelValues = JSON.stringify(values);
    node.setAttribute('aria-label', t(key, values));
  }

  function storedValues(json) {
    try {
      return json ? JSON.parse(json) : undefined;
    } catch (_) {
      return undefined;
    }
  }

  function applyStrings() {
    document.documentElement.lang = i18n.language;
    for (const node of document.querySelectorAll('[data-i18n]')) {
      node.textContent = t(node.dataset.i18n, storedValues(node.dataset.i18nValues));
    }
    for (const node of document.querySelectorAll('[data-i18n-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nLabel, storedValues(node.dataset.i18nLabelValues)));
    }
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const node of document.querySelectorAll('time[datetime]')) formatTime(node);
    for (const node of document.querySelectorAll('[data-language-name]')) {
      node.textContent = languageName(node.dataset.languageName);
    }
    baseTitle = t('app_title');
    refreshTitle();
    refreshConnection();
  }

  function languageName(code) {
    const tag = languageTag(code);
    if (!tag) return t('language_unknown');
    try {
      return i18n.names ? i18n.names.of(tag) : tag;
    } catch (_) {
      return tag;
    }
  }

  function languageTag(value) {
    return typeof value === 'string' && /^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(value) ? value : '';
  }

  // ---- DOM helpers -----------------------------------------------------------

  function el(tag, className, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const name in attributes) node.setAttribute(name, attributes[name]);
    return node;
  }

  function textNode(tag, className, text) {
    const node = el(tag, className);
    node.textContent = text;
    return node;
  }

  function stringNode(tag, className, key, values) {
    const node = el(tag, className);
    setText(node, key, values);
    return node;
  }

  function languageNode(code) {
    const node = el('span', 'language', { 'data-language-name': languageTag(code) });
    node.textContent = languageName(code);
    return node;
  }

  function button(className, key, onClick) {
    const node = el('button', 'button ' + className, { type: 'button' });
    setText(node, key);
    node.addEventListener('click', onClick);
    return node;
  }

  // Updates a text node only when its text changes, so unchanged rows cost no layout.
  function updateText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function timeNode(value) {
    const date = new Date(value);
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) return null;
    const node = el('time', 'time', { datetime: date.toISOString() });
    formatTime(node);
    return node;
  }

  function formatTime(node) {
    if (i18n.time) node.textContent = i18n.time.format(new Date(node.dateTime));
  }

  function formatDuration(totalSeconds) {
    const seconds = Math.max(0, Math.floor(totalSeconds));
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = String(seconds % 60).padStart(2, '0');
    if (hours) return hours + ':' + String(minutes).padStart(2, '0') + ':' + rest;
    return minutes + ':' + rest;
  }

  function newClientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  }

  function announce(text) {
    ui.announcer.textContent = '';
    ui.announcer.textContent = text;
  }

  // ---- HTTP ------------------------------------------------------------------

  // Sends a JSON request to the server and returns the status with the parsed body (or null).
  async function api(method, path, body) {
    const init = { method: method, credentials: 'same-origin', headers: {} };
    if (method !== 'GET') init.headers['Content-Type'] = 'application/json';
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { status: response.status, data: data, retryAfter: response.headers.get('Retry-After') };
  }

  // The server's own text of an error body, for a tooltip; the page shows localized text.
  function serverText(result) {
    const data = result && result.data;
    const nested = data && data.error && typeof data.error === 'object' ? data.error : data;
    return nested && typeof nested.message === 'string' ? nested.message : '';
  }

  // Error bodies are `{"error": {"code", "message"}}`. A plain `{"message"}` is accepted too.
  function errorMessage(result, fallbackKey) {
    const data = result.data;
    const nested = data && data.error && typeof data.error === 'object' ? data.error : data;
    if (nested && typeof nested.message === 'string' && nested.message) return nested.message;
    return t(fallbackKey, { status: result.status });
  }

  // ---- Signing in and out ------------------------------------------------------

  function showSignIn(messageKey) {
    ui.consoleView.hidden = true;
    ui.signInView.hidden = false;
    if (messageKey) showSignInError(t(messageKey));
    ui.signInName.focus();
  }

  function showSignInError(text, title) {
    ui.signInError.textContent = text;
    ui.signInError.hidden = !text;
    if (title) ui.signInError.title = title;
    else ui.signInError.removeAttribute('title');
  }

  // Sign-in failures are shown in the console's language; the server's text stays in the tooltip.
  function signInFailure(result) {
    if (result.status === 401) return t('sign_in_wrong');
    if (result.status === 429) {
      const seconds = Number(result.retryAfter);
      if (Number.isFinite(seconds) && seconds > 0) {
        return t('sign_in_rate_limited_wait', { minutes: Math.max(1, Math.ceil(seconds / 60)) });
      }
      return t('sign_in_rate_limited');
    }
    return errorMessage(result, 'sign_in_failed');
  }

  async function submitSignIn(event) {
    event.preventDefault();
    const name = ui.signInName.value.trim();
    const password = ui.signInPassword.value;
    if (!name || !password) {
      showSignInError(t('sign_in_missing'));
      (name ? ui.signInPassword : ui.signInName).focus();
      return;
    }

    ui.signInButton.disabled = true;
    showSignInError('');
    let result;
    try {
      result = await api('POST', '/api/staff/sign-in', { name: name, password: password });
    } catch (_) {
      result = null;
    }
    ui.signInButton.disabled = false;

    if (result && result.status === 200 && result.data) {
      ui.signInPassword.value = '';
      await startConsole(result.data);
      return;
    }
    if (result) showSignInError(signInFailure(result), serverText(result));
    else showSignInError(t('server_unreachable'));
    ui.signInPassword.select();
    ui.signInPassword.focus();
  }

  async function signOut() {
    session.started = false;
    const socket = conn.socket;
    conn.socket = null;
    if (socket) socket.close(1000);
    try {
      await api('POST', '/api/staff/sign-out');
    } catch (_) {
      // The page reloads either way, and a session the server still has expires on its own.
    }
    // Reloading drops every transcript from memory and shows the sign-in form.
    location.reload();
  }

  async function startConsole(account) {
    session.staff = account;
    session.started = true;
    await switchLanguage(uiLanguageFor(account.language));
    showAccount();
    ui.signInView.hidden = true;
    ui.consoleView.hidden = false;
    refreshEmptyStates();
    connect();
  }

  function showAccount() {
    const staff = session.staff;
    const roleKey = staff.role === 'admin' ? 'role_admin' : 'role_staff';
    setText(ui.agentName, 'signed_in_as', { name: String(staff.display_name || staff.name), role: t(roleKey) });

    const admin = staff.role === 'admin';
    if (admin && ui.glossaryToggle) {
      ui.glossaryToggle.hidden = false;
      return;
    }
    // Only admins edit the glossary, so everyone else gets no trace of the panel.
    if (ui.glossaryToggle) ui.glossaryToggle.remove();
    if (ui.glossary) ui.glossary.remove();
    ui.glossaryToggle = null;
    ui.glossary = null;
  }

  // ---- Queue and owned lists ---------------------------------------------------

  function buildRow(item) {
    const li = el('li', 'chat-item');
    const row = el('button', 'chat-row', { type: 'button' });
    row.dataset.conversationId = item.conversation_id;
    const top = el('span', 'row-top');
    const language = el('span', 'row-language');
    const wait = el('span', 'row-wait');
    const unread = el('span', 'row-unread');
    setText(unread, 'new_messages');
    unread.hidden = true;
    top.append(language, wait, unread);
    const reason = el('span', 'row-reason');
    const last = el('span', 'row-last', { dir: 'auto' });
    row.append(top, reason, last);
    row.addEventListener('click', () => selectConversation(item.conversation_id, true));
    li.append(row);

    const record = {
      li: li, row: row, language: language, wait: wait, unread: unread, reason: reason, last: last,
      item: null, queuedAt: 0, shownWait: '',
    };
    updateRow(record, item);
    return record;
  }

  // Updates one row in place from a queue item, so untouched parts keep their nodes.
  function updateRow(record, item) {
    record.item = item;
    const waiting = Number(item.waiting_seconds);
    record.queuedAt = performance.now() - (Number.isFinite(waiting) ? waiting : 0) * 1000;
    record.row.dataset.state = STATES.includes(item.state) ? item.state : '';
    record.row.classList.toggle('selected', item.conversation_id === selectedId);
    if (item.conversation_id === selectedId) record.row.setAttribute('aria-current', 'true');
    else record.row.removeAttribute('aria-current');

    const code = languageTag(item.language);
    updateText(record.language, code ? code.toUpperCase() + ' · ' + languageName(code) : t('language_unknown'));
    updateText(record.reason, rowStatus(item));
    const message = lastMessageText(item);
    updateText(record.last, message || t('no_message'));
    record.last.classList.toggle('muted', !message);
    if (item.last_message && languageTag(item.last_message.language)) {
      record.last.lang = item.last_message.language;
    }
    tickRow(record);
  }

  function lastMessageText(item) {
    const last = item.last_message;
    return last && typeof last.text === 'string' ? last.text : '';
  }

  function rowStatus(item) {
    if (item.state === 'queued') return reasonText(item.reason);
    if (item.state === 'staff') return t('state_with', { name: String(item.owner_name || t('author_staff')) });
    if (STATES.includes(item.state)) return t('state_' + item.state);
    return '';
  }

  function reasonText(reason) {
    if (REASONS.includes(reason)) return t('reason_' + reason);
    if (typeof reason === 'string' && reason) return t('reason_other', { reason: reason });
    return t('state_queued');
  }

  function tickRow(record) {
    let text = '';
    if (record.item.state === 'queued') {
      text = t('waiting_for', { time: formatDuration((performance.now() - record.queuedAt) / 1000) });
    }
    if (text !== record.shownWait) {
      record.shownWait = text;
      record.wait.textContent = text;
    }
  }

  function tickClock() {
    for (const record of queueRows.values()) tickRow(record);
  }

  // Adds or updates the queue row of `item`. New rows go last, so the list stays in queue order.
  function upsertQueueRow(item) {
    if (!item || typeof item.conversation_id !== 'string') return;
    const existing = queueRows.get(item.conversation_id);
    if (existing) {
      updateRow(existing, item);
      return;
    }
    const record = buildRow(item);
    queueRows.set(item.conversation_id, record);
    ui.queueList.append(record.li);
    refreshQueueCount();
  }

  function removeQueueRow(conversationId) {
    const record = queueRows.get(conversationId);
    if (!record) return;
    if (document.activeElement === record.row) moveFocusFrom(record.li);
    record.li.remove();
    queueRows.delete(conversationId);
    unseenNotified.delete(conversationId);
    removeToasts(conversationId);
    refreshTitle();
    refreshQueueCount();
  }

  // Focus leaving a removed row goes to the next row, else the previous, else the conversation pane.
  function moveFocusFrom(li) {
    const neighbour = li.nextElementSibling || li.previousElementSibling;
    const target = neighbour ? neighbour.querySelector('button') : null;
    if (target) target.focus();
    else ui.conversation.focus();
  }

  // Replaces the queue with the items of a `welcome`, reusing rows of chats still queued.
  function replaceQueue(items) {
    const sorted = items
      .filter((item) => item && typeof item.conversation_id === 'string')
      .sort((a, b) => (Number(b.waiting_seconds) || 0) - (Number(a.waiting_seconds) || 0));
    const keep = new Set(sorted.map((item) => item.conversation_id));
    for (const id of Array.from(queueRows.keys())) {
      if (!keep.has(id)) removeQueueRow(id);
    }

    const fragment = document.createDocumentFragment();
    for (const item of sorted) {
      let record = queueRows.get(item.conversation_id);
      if (record) updateRow(record, item);
      else {
        record = buildRow(item);
        queueRows.set(item.conversation_id, record);
      }
      fragment.append(record.li);
    }
    ui.queueList.append(fragment);
    refreshQueueCount();
  }

  function refreshQueueCount() {
    ui.queueCount.textContent = queueRows.size ? '(' + queueRows.size + ')' : '';
    ui.queueEmpty.hidden = queueRows.size > 0;
  }

  // Replaces the agent's own chats with the items of an `owned` or `welcome` frame.
  function replaceOwned(items) {
    const list = items.filter((item) => item && typeof item.conversation_id === 'string');
    const keep = new Set(list.map((item) => item.conversation_id));
    for (const [id, record] of Array.from(ownedRows)) {
      if (keep.has(id)) continue;
      record.li.remove();
      ownedRows.delete(id);
    }

    const fragment = document.createDocumentFragment();
    for (const item of list) {
      let record = ownedRows.get(item.conversation_id);
      if (record) updateRow(record, item);
      else {
        record = buildRow(item);
        ownedRows.set(item.conversation_id, record);
      }
      fragment.append(record.li);
    }
    ui.ownedList.append(fragment);
    ui.ownedCount.textContent = ownedRows.size ? '(' + ownedRows.size + ')' : '';
    ui.ownedEmpty.hidden = ownedRows.size > 0;

    for (const item of list) applyItem(item);
    for (const view of views.values()) refreshView(view);
    releaseUnusedViews();
  }

  function refreshEmptyStates() {
    refreshQueueCount();
    ui.ownedEmpty.hidden = ownedRows.size > 0;
  }

  function markSelectedRows() {
    for (const rows of [queueRows, ownedRows]) {
      for (const [id, record] of rows) {
        const selected = id === selectedId;
        record.row.classList.toggle('selected', selected);
        if (selected) record.row.setAttribute('aria-current', 'true');
        else record.row.removeAttribute('aria-current');
      }
    }
  }

  function markUnread(conversationId, unread) {
    const record = ownedRows.get(conversationId);
    if (record) record.unread.hidden = !unread;
  }

  // ---- Notifications -----------------------------------------------------------

  function onNotify(frame) {
    const item = frame.item;
    if (!item || typeof item.conversation_id !== 'string') return;
    upsertQueueRow(item);
    if (item.conversation_id !== selectedId) unseenNotified.add(item.conversation_id);
    refreshTitle();
    showToast(item);
  }

  function refreshTitle() {
    const count = unseenNotified.size;
    document.title = count ? t('title_count', { n: count, title: baseTitle }) : baseTitle;
  }

  function showToast(item) {
    removeToasts(item.conversation_id);
    const toast = el('div', 'toast toast-chat', { role: 'group' });
    toast.dataset.conversationId = item.conversation_id;
    const heading = el('p', 'toast-title');
    const language = languageTag(item.language);
    heading.textContent = t('toast_new_chat', { language: languageName(language) });
    const body = el('p', 'toast-text', { dir: 'auto' });
    body.textContent = lastMessageText(item) || reasonText(item.reason);
    setLabel(toast, 'toast_label');

    const actions = el('div', 'toast-actions');
    const open = button('primary', 'toast_open', () => {
      toast.remove();
      selectConversation(item.conversation_id, true);
    });
    const dismiss = button('', 'toast_dismiss', () => toast.remove());
    actions.append(open, dismiss);
    toast.append(heading, body, actions);

    ui.toasts.append(toast);
    announce(heading.textContent);
    // Older pop-ups make room: their chats are counted in the summary instead.
    const shown = Array.from(ui.toasts.querySelectorAll('.toast-chat'));
    for (const old of shown.slice(0, Math.max(0, shown.length - TOAST_MAX))) {
      if (old.contains(document.activeElement)) continue;
      toastOverflow.add(old.dataset.conversationId);
      old.remove();
    }
    refreshToastSummary();
    setTimeout(() => {
      if (!toast.contains(document.activeElement)) toast.remove();
    }, TOAST_VISIBLE_MS);
  }

  // One pop-up counts the new chats whose own pop-up made room for newer ones.
  function refreshToastSummary() {
    let summary = ui.toasts.querySelector('.toast-summary');
    if (!toastOverflow.size) {
      if (summary) summary.remove();
      return;
    }
    if (!summary) {
      summary = el('div', 'toast toast-summary', { role: 'group' });
      setLabel(summary, 'toast_label');
      const text = el('p', 'toast-title');
      const dismiss = button('', 'toast_dismiss', () => {
        toastOverflow.clear();
        refreshToastSummary();
      });
      summary.append(text, dismiss);
    }
    setText(summary.querySelector('.toast-title'), 'toast_more', { n: toastOverflow.size });
    // The summary sits below the pop-ups it stands for.
    ui.toasts.append(summary);
    clearTimeout(toastSummaryTimer);
    toastSummaryTimer = setTimeout(() => {
      const current = ui.toasts.querySelector('.toast-summary');
      if (current && current.contains(document.activeElement)) return;
      toastOverflow.clear();
      refreshToastSummary();
    }, TOAST_VISIBLE_MS);
  }

  // Removes the notifications about a chat that was opened or left the queue.
  function removeToasts(conversationId) {
    for (const toast of Array.from(ui.toasts.children)) {
      if (toast.dataset.conversationId !== conversationId) continue;
      if (toast.contains(document.activeElement)) ui.conversation.focus();
      toast.remove();
    }
    if (toastOverflow.delete(conversationId)) refreshToastSummary();
  }

  function showErrorToast(text, title) {
    const toast = el('div', 'toast toast-error', { role: 'alert' });
    const body = textNode('p', 'toast-text', text);
    if (title) body.title = title;
    toast.append(body);
    const dismiss = button('', 'toast_dismiss', () => toast.remove());
    toast.append(dismiss);
    ui.toasts.append(toast);
    setTimeout(() => {
      if (!toast.contains(document.activeElement)) toast.remove();
    }, TOAST_VISIBLE_MS);
  }

  // ---- Conversation views --------------------------------------------------------

  function createView(conversationId) {
    const view = {
      id: conversationId,
      item: null,
      state: '',
      stateSeq: 0,
      ownerName: '',
      loaded: false,
      loading: false,
      hasMore: false,
      maxSeq: 0,
      minSeq: 0,
      maxNote: 0,
      shownSeqs: new Set(),
      shownNotes: new Set(),
      eventItems: new Map(),
      translations: new Map(),
      // Replies written here and not yet acknowledged, by client_id.
      pending: new Map(),
      // Notes written here and not yet seen back from the server, by client_id.
      pendingNotes: new Map(),
      // Acknowledged replies whose stored event has not arrived yet, by seq.
      acknowledged: new Map(),
      streams: new Map(),
      lastAction: '',
      review: null,
      typingSent: false,
      timers: { typing: null, ownTyping: null, alert: null },
      node: null,
      parts: {},
    };
    buildView(view);
    views.set(conversationId, view);
    return view;
  }

  function buildView(view) {
    const section = el('section', 'view', { 'aria-labelledby': 'view-title-' + view.id });
    const header = el('header', 'view-header');
    const heading = el('h2', 'view-title', { id: 'view-title-' + view.id, tabindex: '-1' });
    const status = el('p', 'view-status');
    const titleBox = el('div', 'view-heading');
    titleBox.append(heading, status);

    const actions = el('div', 'view-actions', { role: 'group' });
    setLabel(actions, 'chat_actions');
    const take = button('primary', 'take', () => sendAction(view, 'take'));
    const handBack = button('', 'hand_back', () => sendAction(view, 'hand_back'));
    const resolve = button('', 'resolve', () => sendAction(view, 'resolve'));
    actions.append(take, handBack, resolve);
    header.append(titleBox, actions);

    const alert = el('p', 'view-alert', { role: 'alert' });
    alert.hidden = true;
    const earlier = button('load-earlier', 'load_earlier', () => loadEarlier(view));
    earlier.hidden = true;
    const log = el('div', 'log', { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', tabindex: '0' });
    setLabel(log, 'transcript_label');
    const loading = stringNode('p', 'empty', 'loading');
    log.append(loading);
    const typing = stringNode('p', 'typing', 'buyer_typing');
    typing.hidden = true;
    typing.setAttribute('role', 'status');

    section.append(header, alert, earlier, log, typing, buildReview(view), buildReplyForm(view), buildNoteForm(view));
    view.node = section;
    Object.assign(view.parts, {
      heading, status, take, handBack, resolve, alert, earlier, log, loading, typing,
    });
    refreshView(view);
  }

  function buildReplyForm(view) {
    const form = el('form', 'composer reply-form');
    const id = 'reply-' + view.id;
    const label = stringNode('label', 'composer-label', 'reply_label');
    label.htmlFor = id;
    const input = el('textarea', 'input textarea', {
      id: id, rows: '3', maxlength: String(MESSAGE_MAX_CHARS), dir: 'auto', 'aria-describedby': id + '-hint',
    });
    const hint = stringNode('p', 'hint', 'reply_hint');
    hint.id = id + '-hint';
    const send = el('button', 'button primary', { type: 'submit' });
    setText(send, 'send');
    const row = el('div', 'composer-row');
    row.append(input, send);
    form.append(label, row, hint);

    input.addEventListener('keydown', (event) => {
      // isComposing: Enter that confirms an IME candidate (Chinese, Japanese, Korean) must not send.
      if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      submitReply(view);
    });
    input.addEventListener('input', () => noteOwnTyping(view));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitReply(view);
    });
    view.parts.replyInput = input;
    return form;
  }

  function buildNoteForm(view) {
    const form = el('form', 'composer note-form');
    const id = 'note-' + view.id;
    const label = stringNode('label', 'composer-label', 'note_box_label');
    label.htmlFor = id;
    const input = el('textarea', 'input textarea', {
      id: id, rows: '2', maxlength: String(MESSAGE_MAX_CHARS), dir: 'auto',
    });
    const add = el('button', 'button', { type: 'submit' });
    setText(add, 'add_note');
    const row = el('div', 'composer-row');
    row.append(input, add);
    form.append(label, row);

    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' || !(event.ctrlKey || event.metaKey) || event.isComposing) return;
      event.preventDefault();
      submitNote(view);
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitNote(view);
    });
    view.parts.noteInput = input;
    return form;
  }

  function buildReview(view) {
    const box = el('section', 'review', { 'aria-labelledby': 'review-title-' + view.id });
    box.hidden = true;
    const title = stringNode('h3', 'review-title', 'review_title');
    title.id = 'review-title-' + view.id;
    const failure = el('p', 'review-failure');
    const originalLabel = stringNode('p', 'review-label', 'review_original');
    const original = el('p', 'review-original', { dir: 'auto' });
    const id = 'review-text-' + view.id;
    const editLabel = el('label', 'review-label', { for: id });
    const edit = el('textarea', 'input textarea', {
      id: id, rows: '3', maxlength: String(MESSAGE_MAX_CHARS), dir: 'auto', 'aria-describedby': id + '-hint',
    });
    const hint = el('p', 'hint review-hint', { id: id + '-hint' });
    hint.hidden = true;
    const actions = el('div', 'review-actions');
    const send = button('primary', 'review_send', () => sendReviewed(view));
    const cancel = button('', 'review_cancel', () => cancelReview(view));
    actions.append(send, cancel);
    box.append(title, failure, originalLabel, original, editLabel, edit, hint, actions);
    edit.addEventListener('input', () => refreshReviewSend(view));
    box.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      cancelReview(view);
    });
    Object.assign(view.parts, {
      review: box, reviewFailure: failure, reviewOriginal: original, reviewEditLabel: editLabel, reviewEdit: edit,
      reviewHint: hint, reviewSend: send,
    });
    return box;
  }

  function refreshView(view) {
    const parts = view.parts;
    const item = view.item || {};
    const language = languageTag(item.language);
    setText(parts.heading, 'conversation_title', { language: language ? languageName(language) : t('language_unknown') });
    parts.status.textContent = view.state ? rowStatus({ state: view.state, reason: item.reason, owner_name: view.ownerName }) : '';

    const mine = ownedRows.has(view.id);
    parts.take.disabled = mine;
    parts.handBack.disabled = !mine;
    parts.resolve.disabled = !mine;
    parts.earlier.hidden = !view.hasMore;
  }

  // Applies a queue item from any frame to the view of its conversation, if one is open.
  function applyItem(item) {
    const view = views.get(item.conversation_id);
    if (!view) return;
    view.item = Object.assign({}, view.item, item);
    if (STATES.includes(item.state)) view.state = item.state;
    if (typeof item.owner_name === 'string' && item.owner_name) view.ownerName = item.owner_name;
    else if (view.state !== 'staff') view.ownerName = '';
    refreshView(view);
  }

  // Shows a conversation, loading its transcript the first time.
  function selectConversation(conversationId, moveFocus) {
    const previous = selectedId;
    selectedId = conversationId;
    unseenNotified.delete(conversationId);
    removeToasts(conversationId);
    refreshTitle();
    markUnread(conversationId, false);
    markSelectedRows();

    let view = views.get(conversationId);
    if (!view) {
      view = createView(conversationId);
      const known = ownedRows.get(conversationId) || queueRows.get(conversationId);
      if (known) applyItem(known.item);
      requestPage(view, null);
    }
    ui.conversationEmpty.hidden = true;
    for (const child of Array.from(ui.conversation.children)) {
      if (child !== ui.conversationEmpty && child !== view.node) child.remove();
    }
    if (view.node.parentNode !== ui.conversation) ui.conversation.append(view.node);
    if (previous && previous !== conversationId) releaseUnusedViews();
    if (moveFocus) view.parts.heading.focus();
    scrollToEnd(view);
  }

  // Stops following conversations that are neither shown nor owned by this agent.
  function releaseUnusedViews() {
    for (const [id, view] of Array.from(views)) {
      if (id === selectedId || ownedRows.has(id)) continue;
      if (view.pending.size || view.pendingNotes.size) continue;
      views.delete(id);
      view.node.remove();
      clearTimeout(view.timers.typing);
      clearTimeout(view.timers.ownTyping);
      clearTimeout(view.timers.alert);
      sendFrame({ type: 'close', conversation_id: id });
    }
  }

  function requestPage(view, beforeSeq) {
    view.loading = true;
    view.parts.earlier.disabled = true;
    sendFrame({ type: 'open', conversation_id: view.id, before_seq: beforeSeq, limit: PAGE_SIZE });
  }

  function loadEarlier(view) {
    if (view.loading || !view.hasMore) return;
    setText(view.parts.earlier, 'loading');
    requestPage(view, view.minSeq || null);
  }

  function showAlert(view, text, title) {
    const alert = view.parts.alert;
    alert.textContent = text;
    if (title) alert.title = title;
    else alert.removeAttribute('title');
    alert.hidden = false;
    clearTimeout(view.timers.alert);
    view.timers.alert = setTimeout(() => (alert.hidden = true), ALERT_VISIBLE_MS);
  }

  function isNearBottom(view) {
    const log = view.parts.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < 80;
  }

  function scrollToEnd(view) {
    view.parts.log.scrollTop = view.parts.log.scrollHeight;
  }

  // ---- Transcript rendering -------------------------------------------------------

  // Returns the sort key of a log entry. Events sort by seq, a note right after its `after_seq`
  // event (notes by id), and entries not stored yet (pending replies, streaming bot text) last.
  function orderKey(node) {
    if (node.dataset.seq !== undefined) return [Number(node.dataset.seq), 0, 0];
    if (node.dataset.noteId !== undefined) return [Number(node.dataset.afterSeq), 1, Number(node.dataset.noteId)];
    return [Infinity, 2, 0];
  }

  function compareKeys(a, b) {
    for (let index = 0; index < 3; index += 1) {
      if (a[index] !== b[index]) return a[index] < b[index] ? -1 : 1;
    }
    return 0;
  }

  // Inserts `node` after the last entry that sorts before it. New entries mostly belong at
  // the end, so the search starts there.
  function placeEntry(view, node) {
    const log = view.parts.log;
    const key = orderKey(node);
    let after = log.lastElementChild;
    while (after && (after === node || after === view.parts.loading || compareKeys(orderKey(after), key) > 0)) {
      after = after.previousElementSibling;
    }
    if (after === view.parts.loading) after = null;
    const before = after ? after.nextElementSibling : firstEntry(view);
    if (before === node) return;
    log.insertBefore(node, before);
  }

  function firstEntry(view) {
    const first = view.parts.log.firstElementChild;
    return first === view.parts.loading ? first.nextElementSibling : first;
  }

  function onTranscript(frame) {
    const view = views.get(frame.conversation_id);
    if (!view) return;
    if (frame.item) applyItem(Object.assign({ conversation_id: view.id }, frame.item));
    const firstPage = !view.loaded;
    const stick = firstPage || isNearBottom(view);
    const events = Array.isArray(frame.events) ? frame.events : [];
    const notes = Array.isArray(frame.notes) ? frame.notes : [];

    const lowest = events.reduce((low, event) => Math.min(low, Number(event.seq) || Infinity), Infinity);
    const earlierPage = view.loaded && lowest < view.minSeq;
    if (earlierPage || firstPage) view.hasMore = frame.has_more === true;
    view.loaded = true;
    view.loading = false;
    view.parts.loading.remove();
    view.parts.earlier.disabled = false;
    setText(view.parts.earlier, 'load_earlier');

    const log = view.parts.log;
    const heightBefore = log.scrollHeight;
    for (const event of events) showEvent(view, event);
    for (const note of notes) {
      settleNote(view, note);
      showNote(view, note);
    }
    refreshView(view);
    if (stick) scrollToEnd(view);
    else if (earlierPage) log.scrollTop += log.scrollHeight - heightBefore;
  }

  function onEvent(frame) {
    const view = views.get(frame.conversation_id);
    if (!view || !frame.event) return;
    const stick = isNearBottom(view);
    const isNew = showEvent(view, frame.event);
    if (stick) scrollToEnd(view);
    if (!isNew) return;

    const event = frame.event;
    if (event.kind === 'message' && event.author === 'buyer') {
      hideBuyerTyping(view);
      updateOwnedLastMessage(view.id, event);
      if (view.id !== selectedId || document.hidden) markUnread(view.id, view.id !== selectedId);
    }
  }

  function updateOwnedLastMessage(conversationId, event) {
    const record = ownedRows.get(conversationId);
    if (!record) return;
    const item = Object.assign({}, record.item, {
      last_message: { seq: event.seq, text: event.text, language: event.language },
      last_seq: Math.max(Number(record.item.last_seq) || 0, event.seq),
    });
    updateRow(record, item);
  }

  // Renders a stored event once and returns false for an event already shown or malformed.
  function showEvent(view, event) {
    const seq = event && event.seq;
    if (!Number.isInteger(seq) || seq < 1 || view.shownSeqs.has(seq)) return false;
    view.shownSeqs.add(seq);
    view.maxSeq = Math.max(view.maxSeq, seq);
    view.minSeq = view.minSeq ? Math.min(view.minSeq, seq) : seq;

    let node;
    if (event.kind === 'message') node = renderMessage(view, event);
    else if (event.kind === 'state') node = renderState(view, event);
    else if (event.kind === 'rating') node = renderRating(event);
    else node = stringNode('p', 'system', 'event_other', { kind: String(event.kind) });
    node.dataset.seq = String(seq);
    view.eventItems.set(seq, node);
    placeEntry(view, node);

    const translation = view.translations.get(seq);
    if (translation) applyTranslation(node, translation);
    return true;
  }

  function renderMessage(view, event) {
    const author = AUTHORS.includes(event.author) ? event.author : 'system';
    if (author === 'bot' && typeof event.reply_id === 'string') dropStream(view, event.reply_id);
    const claimed = author === 'staff' ? claimPending(view, event) : null;
    const node = el('article', 'entry msg from-' + author);
    node.append(messageHeader(event, author));

    if (author === 'staff') appendStaffBody(node, event);
    else node.append(messageText(event.text, event.language));
    node.append(el('div', 'translation-slot'));
    if (typeof event.note === 'string' && event.note) node.append(textNode('p', 'msg-note', event.note));
    if (author === 'bot' && Array.isArray(event.sources) && event.sources.length) {
      node.append(sourceList(event.sources));
    }
    if (claimed) claimed.remove();
    return node;
  }

  function messageHeader(event, author) {
    const header = el('div', 'msg-header');
    let name;
    if (author === 'staff' && typeof event.author_name === 'string' && event.author_name) {
      name = textNode('span', 'author', event.author_name);
    } else {
      name = stringNode('span', 'author', 'author_' + author);
    }
    header.append(name);
    // A staff reply shows the agent's own text first, so the header names its language. The
    // text the buyer received, with its language and machine-translation mark, follows below.
    const original = author === 'staff' && typeof event.original_text === 'string' && event.original_text;
    const language = original ? event.original_language : event.language;
    if (languageTag(language)) header.append(languageNode(language));
    const time = timeNode(event.created_at);
    if (time) header.append(time);
    if (event.machine_translated === true && !original) {
      header.append(stringNode('span', 'badge mt', 'machine_translated'));
    }
    if (author === 'bot' && ANSWER_SOURCES.includes(event.answer_source)) {
      header.append(stringNode('span', 'badge source', 'answer_' + event.answer_source));
    }
    return header;
  }

  function messageText(text, language) {
    const body = el('p', 'msg-text', { dir: 'auto' });
    const tag = languageTag(language);
    if (tag) body.lang = tag;
    body.textContent = typeof text === 'string' ? text : '';
    return body;
  }

  // A staff reply shows what the agent wrote and, when it differs, what the buyer received.
  function appendStaffBody(node, event) {
    const original = typeof event.original_text === 'string' && event.original_text ? event.original_text : null;
    node.append(messageText(original || event.text, original ? event.original_language : event.language));
    if (original && original !== event.text) {
      node.append(deliveredBlock(event.text, event.language, event.machine_translated === true));
    }
    if (typeof event.check_failure === 'string' && event.check_failure) {
      node.append(stringNode('p', 'warning', 'check_warning', { failure: event.check_failure }));
    }
  }

  function deliveredBlock(text, language, translated) {
    const block = el('div', 'delivered');
    const key = translated ? 'delivered_translated' : 'delivered';
    const label = stringNode('span', 'delivered-label', key, { language: languageName(language) });
    block.append(label, messageText(text, language));
    return block;
  }

  function sourceList(sources) {
    const box = el('div', 'sources');
    box.append(stringNode('p', 'sources-title', 'sources'));
    const list = el('ul', 'source-list');
    for (const source of sources) {
      if (!source || typeof source !== 'object') continue;
      const parts = [source.title, source.id, source.url].filter((part) => typeof part === 'string' && part);
      // Source titles and addresses come from documents, so they are shown as text, never as links.
      list.append(textNode('li', 'source', parts.join(' · ')));
    }
    box.append(list);
    return box;
  }

  function renderState(view, event) {
    const node = el('div', 'entry system state-line');
    const state = STATES.includes(event.state) ? event.state : '';
    let line;
    if (state === 'staff') {
      const name = typeof event.author_name === 'string' && event.author_name ? event.author_name : '';
      line = name ? stringNode('p', 'state-text', 'state_event_staff', { name: name }) : stringNode('p', 'state-text', 'state_event_staff_unnamed');
    } else if (state) {
      line = stringNode('p', 'state-text', 'state_event_' + state);
    } else {
      line = stringNode('p', 'state-text', 'event_other', { kind: 'state' });
    }
    node.append(line);
    if (state === 'queued' || REASONS.includes(event.reason)) {
      node.append(textNode('p', 'state-reason', reasonText(event.reason)));
    }
    if (typeof event.text === 'string' && event.text) {
      const seen = el('p', 'state-buyer');
      seen.append(stringNode('span', 'delivered-label', 'buyer_saw'), ' ');
      const text = el('span', '', { dir: 'auto' });
      if (languageTag(event.language)) text.lang = event.language;
      text.textContent = event.text;
      seen.append(text);
      node.append(seen);
    }
    if (state && Number(event.seq) >= view.stateSeq) {
      view.stateSeq = Number(event.seq);
      view.state = state;
      if (state === 'staff' && typeof event.author_name === 'string' && event.author_name) {
        view.ownerName = event.author_name;
      }
      refreshView(view);
    }
    return node;
  }

  function renderRating(event) {
    const key = event.rating === 'down' ? 'rating_down' : 'rating_up';
    return stringNode('p', 'entry system', key, { seq: Number(event.reply_to) || '?' });
  }

  function onTranslation(frame) {
    const view = views.get(frame.conversation_id);
    if (!view || !Number.isInteger(frame.seq)) return;
    view.translations.set(frame.seq, frame);
    const node = view.eventItems.get(frame.seq);
    if (node) applyTranslation(node, frame);
  }

  function applyTranslation(node, frame) {
    const slot = node.querySelector('.translation-slot');
    if (!slot) return;
    slot.replaceChildren();
    slot.className = 'translation-slot translation';
    if (typeof frame.error === 'string' && frame.error) {
      slot.classList.add('translation-error');
      const label = stringNode('span', 'delivered-label', 'translation_failed');
      // The server's reason is English and technical, so it stays in the tooltip.
      label.title = frame.error;
      slot.append(label);
      return;
    }
    if (typeof frame.text !== 'string') return;
    const label = stringNode('span', 'delivered-label', 'translation_label', { language: languageName(frame.language) });
    slot.append(label, messageText(frame.text, frame.language));
    if (typeof frame.check_failure === 'string' && frame.check_failure) {
      slot.append(stringNode('p', 'warning', 'translation_unchecked', { failure: frame.check_failure }));
    }
  }

  function showNote(view, note) {
    if (!note || !Number.isInteger(note.id) || view.shownNotes.has(note.id)) return false;
    view.shownNotes.add(note.id);
    view.maxNote = Math.max(view.maxNote, note.id);

    const node = el('aside', 'entry note');
    node.dataset.noteId = String(note.id);
    node.dataset.afterSeq = String(Number(note.after_seq) || 0);
    const header = el('div', 'msg-header');
    header.append(stringNode('span', 'note-badge', 'note_label'));
    if (typeof note.author_name === 'string' && note.author_name) {
      header.append(textNode('span', 'author', note.author_name));
    }
    const time = timeNode(note.created_at);
    if (time) header.append(time);
    node.append(header, messageText(note.text, ''));
    placeEntry(view, node);
    return true;
  }

  function onNote(frame) {
    const view = views.get(frame.conversation_id);
    if (!view) return;
    const stick = isNearBottom(view);
    settleNote(view, frame.note);
    if (showNote(view, frame.note) && stick) scrollToEnd(view);
  }

  // ---- Streaming bot replies ---------------------------------------------------------

  function onReplyStart(frame) {
    const view = views.get(frame.conversation_id);
    if (!view || typeof frame.reply_id !== 'string') return;
    dropStream(view, frame.reply_id);
    const node = el('article', 'entry msg from-bot streaming', { 'aria-busy': 'true' });
    const header = el('div', 'msg-header');
    header.append(stringNode('span', 'author', 'author_bot'), stringNode('span', 'badge', 'bot_writing'));
    const body = messageText('', frame.language);
    node.append(header, body);
    view.streams.set(frame.reply_id, { node: node, body: body });
    const stick = isNearBottom(view);
    placeEntry(view, node);
    if (stick) scrollToEnd(view);
  }

  function onDelta(frame) {
    const view = views.get(frame.conversation_id);
    const stream = view && view.streams.get(frame.reply_id);
    if (!stream || typeof frame.text !== 'string') return;
    stream.body.append(frame.text);
  }

  function onReplyDropped(frame) {
    const view = views.get(frame.conversation_id);
    if (view) dropStream(view, frame.reply_id);
  }

  function dropStream(view, replyId) {
    const stream = view.streams.get(replyId);
    if (!stream) return;
    stream.node.remove();
    view.streams.delete(replyId);
  }

  function dropAllStreams() {
    for (const view of views.values()) {
      for (const replyId of Array.from(view.streams.keys())) dropStream(view, replyId);
    }
  }

  // ---- Replies, review, notes, actions ----------------------------------------------

  function submitReply(view) {
    const input = view.parts.replyInput;
    const text = input.value.trim();
    if (!text) return;
    const entry = { clientId: newClientId(), text: text, translation: null, inFlight: false, node: null };
    entry.node = renderPending(view, entry);
    view.pending.set(entry.clientId, entry);
    input.value = '';
    stopOwnTyping(view);
    transmitReply(view, entry);
    scrollToEnd(view);
  }

  function transmitReply(view, entry) {
    entry.inFlight = conn.welcomed;
    setPendingStatus(entry, conn.welcomed ? 'sending' : 'waiting_connection');
    if (!conn.welcomed) return;
    view.lastAction = 'reply';
    sendFrame({
      type: 'reply',
      conversation_id: view.id,
      client_id: entry.clientId,
      text: entry.text,
      translation: entry.translation,
    });
  }

  function renderPending(view, entry) {
    const node = el('article', 'entry msg from-staff pending');
    node.dataset.clientId = entry.clientId;
    const header = el('div', 'msg-header');
    const name = session.staff ? String(session.staff.display_name || session.staff.name) : '';
    header.append(textNode('span', 'author', name));
    const status = el('span', 'pending-status');
    header.append(status);
    node.append(header, messageText(entry.text, session.staff && session.staff.language));
    entry.status = status;
    placeEntry(view, node);
    return node;
  }

  function setPendingStatus(entry, key) {
    setText(entry.status, key);
  }

  // Returns the element shown for a staff reply before it was stored, so the stored event
  // takes its place.
  function claimPending(view, event) {
    const acknowledged = view.acknowledged.get(event.seq);
    if (acknowledged) {
      view.acknowledged.delete(event.seq);
      return acknowledged;
    }
    // The server stores a staff reply's client_id as `staff:` followed by the console's id.
    const stored = typeof event.client_id === 'string' ? event.client_id : '';
    const entry = view.pending.get(stored.replace(/^staff:/, '')) || view.pending.get(stored);
    if (!entry) return null;
    view.pending.delete(entry.clientId);
    if (view.review && view.review.clientId === entry.clientId) hideReview(view);
    return entry.node;
  }

  function onReplyAck(frame) {
    const view = views.get(frame.conversation_id);
    const entry = view && view.pending.get(frame.client_id);
    if (!entry) return;
    view.pending.delete(frame.client_id);
    if (view.review && view.review.clientId === frame.client_id) hideReview(view);
    const seq = Number.isInteger(frame.seq) ? frame.seq : undefined;
    if (seq !== undefined && view.shownSeqs.has(seq)) {
      // The stored event arrived first and already shows the reply.
      entry.node.remove();
      return;
    }

    const node = entry.node;
    node.classList.remove('pending');
    entry.status.remove();
    if (typeof frame.original === 'string' && frame.original !== frame.text) {
      node.append(deliveredBlock(frame.text, frame.language, frame.machine_translated === true));
    } else {
      node.append(stringNode('p', 'delivered-label', 'delivered_same', { language: languageName(frame.language) }));
    }
    if (typeof frame.check_failure === 'string' && frame.check_failure) {
      node.append(stringNode('p', 'warning', 'check_warning', { failure: frame.check_failure }));
    }
    if (seq !== undefined) {
      view.acknowledged.set(seq, node);
      node.dataset.seq = String(seq);
      placeEntry(view, node);
    }
    announce(t('reply_sent', { language: languageName(frame.language) }));
  }

  function onReview(frame) {
    const view = views.get(frame.conversation_id);
    if (!view) return;
    const entry = view.pending.get(frame.client_id);
    if (entry) {
      entry.inFlight = false;
      setPendingStatus(entry, 'needs_review');
    }
    let original = entry ? entry.text : '';
    if (typeof frame.original === 'string') original = frame.original;
    view.review = { clientId: frame.client_id, original: original, language: frame.language };
    const parts = view.parts;
    const draft = typeof frame.translation === 'string' ? frame.translation : '';
    const failureText = String(frame.failure || t('unknown'));
    if (frame.translation === null || frame.translation === undefined) {
      // No draft at all (no model): the server's English reason goes to the tooltip.
      setText(parts.reviewFailure, 'review_no_translation');
    } else {
      delete parts.reviewFailure.dataset.i18n;
      parts.reviewFailure.textContent = t('review_failure', { failure: failureText });
    }
    parts.reviewFailure.title = failureText;
    parts.reviewOriginal.textContent = view.review.original;
    setText(parts.reviewEditLabel, 'review_translation', { language: languageName(frame.language) });
    setText(parts.reviewHint, 'review_write_yourself', { language: languageName(frame.language) });
    parts.reviewHint.hidden = Boolean(draft.trim());
    parts.reviewEdit.value = draft;
    if (languageTag(frame.language)) parts.reviewEdit.lang = frame.language;
    refreshReviewSend(view);
    parts.review.hidden = false;
    if (view.id === selectedId) parts.reviewEdit.focus();
  }

  // "Send this translation" works only with text to send.
  function refreshReviewSend(view) {
    view.parts.reviewSend.disabled = !view.parts.reviewEdit.value.trim();
  }

  function sendReviewed(view) {
    const review = view.review;
    const text = view.parts.reviewEdit.value.trim();
    if (!review || !text) return;
    let entry = view.pending.get(review.clientId);
    if (!entry) {
      entry = { clientId: review.clientId, text: review.original, translation: null, inFlight: false, node: null };
      entry.node = renderPending(view, entry);
      view.pending.set(entry.clientId, entry);
    }
    entry.translation = text;
    hideReview(view);
    transmitReply(view, entry);
    view.parts.replyInput.focus();
  }

  function cancelReview(view) {
    const review = view.review;
    if (!review) return;
    const entry = view.pending.get(review.clientId);
    if (entry) {
      view.pending.delete(review.clientId);
      entry.node.remove();
    }
    hideReview(view);
    const input = view.parts.replyInput;
    if (!input.value.trim()) input.value = review.original;
    input.focus();
  }

  function hideReview(view) {
    view.review = null;
    view.parts.review.hidden = true;
  }

  // Marks the oldest reply still waiting for the server as not sent, with a retry button.
  function failOldestReply(view) {
    const entry = Array.from(view.pending.values()).find((candidate) => candidate.inFlight);
    if (!entry) return;
    entry.inFlight = false;
    setPendingStatus(entry, 'not_sent');
    entry.node.classList.add('failed');
    const retry = button('retry', 'retry', () => {
      retry.remove();
      entry.node.classList.remove('failed');
      transmitReply(view, entry);
    });
    entry.status.after(retry);
  }

  // A note stays pending, shown greyed, until the server sends it back. Note frames carry no
  // client_id, so a note from this agent with the same text settles the oldest such pending note.
  // Pending notes are sent again with the same client_id after every welcome; the server
  // stores a client_id once.
  function submitNote(view) {
    const input = view.parts.noteInput;
    const text = input.value.trim();
    if (!text) return;
    const entry = { clientId: newClientId(), text: text, node: null, status: null, timer: null };
    entry.node = renderPendingNote(view, entry);
    view.pendingNotes.set(entry.clientId, entry);
    input.value = '';
    transmitNote(view, entry);
    scrollToEnd(view);
  }

  function renderPendingNote(view, entry) {
    const node = el('aside', 'entry note pending');
    node.dataset.clientId = entry.clientId;
    const header = el('div', 'msg-header');
    header.append(stringNode('span', 'note-badge', 'note_label'));
    header.append(textNode('span', 'author', ownName()));
    entry.status = el('span', 'pending-status');
    header.append(entry.status);
    node.append(header, messageText(entry.text, ''));
    placeEntry(view, node);
    return node;
  }

  function transmitNote(view, entry) {
    clearTimeout(entry.timer);
    entry.node.classList.remove('failed');
    const retry = entry.node.querySelector('.retry');
    if (retry) retry.remove();
    setPendingStatus(entry, conn.welcomed ? 'sending' : 'waiting_connection');
    if (!conn.welcomed) return;
    sendFrame({ type: 'note', conversation_id: view.id, client_id: entry.clientId, text: entry.text });
    const socket = conn.socket;
    entry.timer = setTimeout(() => {
      // A socket that closed meanwhile resends the note after its welcome instead.
      if (view.pendingNotes.get(entry.clientId) !== entry || socket !== conn.socket || !conn.welcomed) return;
      failNote(view, entry);
    }, NOTE_TIMEOUT_MS);
  }

  function failNote(view, entry) {
    setPendingStatus(entry, 'not_sent');
    entry.node.classList.add('failed');
    if (entry.node.querySelector('.retry')) return;
    entry.status.after(button('retry', 'retry', () => transmitNote(view, entry)));
  }

  // Settles the oldest pending note that `note` (from the server) stores.
  function settleNote(view, note) {
    if (!note || typeof note.text !== 'string' || note.author_name !== ownName()) return;
    for (const entry of view.pendingNotes.values()) {
      if (entry.text !== note.text) continue;
      clearTimeout(entry.timer);
      view.pendingNotes.delete(entry.clientId);
      entry.node.remove();
      return;
    }
  }

  function ownName() {
    return session.staff ? String(session.staff.display_name || session.staff.name) : '';
  }

  function sendAction(view, type) {
    if (!requireConnection()) return;
    view.lastAction = type;
    sendFrame({ type: type, conversation_id: view.id });
  }

  function requireConnection() {
    if (conn.welcomed) return true;
    showErrorToast(t('error_not_connected'));
    return false;
  }

  const REFUSAL_CODES = ['owned', 'limit_reached', 'not_allowed', 'not_found'];

  // A refusal is shown in the console's language; the server's English text stays in the tooltip.
  function refusalText(frame) {
    const owner = typeof frame.owner === 'string' && frame.owner ? frame.owner : '';
    if (frame.code === 'owned') return owner ? t('refused_owned', { owner: owner }) : t('refused_owned_unnamed');
    if (REFUSAL_CODES.includes(frame.code)) return t('refused_' + frame.code);
    return t('refused_other');
  }

  function onRefused(frame) {
    const view = views.get(frame.conversation_id);
    const message = refusalText(frame);
    const serverMessage = typeof frame.message === 'string' ? frame.message : '';
    if (!view) {
      showErrorToast(message, serverMessage);
      return;
    }
    if (view.lastAction === 'reply') failOldestReply(view);
    if (frame.code === 'owned' && typeof frame.owner === 'string' && frame.owner) {
      // The chat belongs to someone else now, so the status line names them.
      view.state = 'staff';
      view.ownerName = frame.owner;
      refreshView(view);
    }
    showAlert(view, message, serverMessage);
  }

  // ---- Typing ------------------------------------------------------------------------

  function noteOwnTyping(view) {
    if (!view.typingSent && conn.welcomed && ownedRows.has(view.id)) {
      sendFrame({ type: 'typing', conversation_id: view.id, active: true });
      view.typingSent = true;
    }
    clearTimeout(view.timers.ownTyping);
    view.timers.ownTyping = setTimeout(() => stopOwnTyping(view), OWN_TYPING_IDLE_MS);
  }

  function stopOwnTyping(view) {
    clearTimeout(view.timers.ownTyping);
    if (!view.typingSent) return;
    view.typingSent = false;
    if (conn.welcomed) sendFrame({ type: 'typing', conversation_id: view.id, active: false });
  }

  function onTyping(frame) {
    const view = views.get(frame.conversation_id);
    if (!view || frame.author !== 'buyer') return;
    if (!frame.active) {
      hideBuyerTyping(view);
      return;
    }
    view.parts.typing.hidden = false;
    clearTimeout(view.timers.typing);
    view.timers.typing = setTimeout(() => hideBuyerTyping(view), BUYER_TYPING_TIMEOUT_MS);
  }

  function hideBuyerTyping(view) {
    clearTimeout(view.timers.typing);
    view.parts.typing.hidden = true;
  }

  // ---- Glossary ------------------------------------------------------------------------

  function toggleGlossary() {
    const show = ui.glossary.hidden;
    ui.glossary.hidden = !show;
    ui.glossaryToggle.setAttribute('aria-expanded', String(show));
    if (!show) {
      ui.glossaryToggle.focus();
      return;
    }
    loadGlossary();
    ui.glossaryTerm.focus();
  }

  async function loadGlossary() {
    let result;
    try {
      result = await api('GET', '/api/glossary');
    } catch (_) {
      showGlossaryError(t('server_unreachable'));
      return;
    }
    if (result.status !== 200 || !result.data || !Array.isArray(result.data.terms)) {
      showGlossaryError(errorMessage(result, 'glossary_load_failed'));
      return;
    }
    ui.glossaryRows.replaceChildren(...result.data.terms.map(glossaryRow));
    refreshGlossaryEmpty();
  }

  function glossaryRow(entry) {
    const row = el('tr');
    row.dataset.term = String(entry.term);
    const term = textNode('td', 'term', String(entry.term));
    term.dir = 'auto';
    const note = textNode('td', 'term-note', typeof entry.note === 'string' ? entry.note : '');
    note.dir = 'auto';
    const by = textNode('td', 'term-by', typeof entry.created_by === 'string' ? entry.created_by : '');
    const actions = el('td', 'term-actions');
    const name = String(entry.term);
    // Deleting takes a confirmation: the first button swaps for "Delete?" and "Keep" in the same cell.
    const remove = button('danger', 'glossary_delete', () => {
      actions.replaceChildren(confirm, keep);
      confirm.focus();
    });
    setLabel(remove, 'glossary_delete_label', { term: name });
    const confirm = button('danger', 'glossary_delete_confirm', () => deleteTerm(name, row));
    setLabel(confirm, 'glossary_delete_confirm_label', { term: name });
    const keep = button('', 'glossary_keep', () => {
      actions.replaceChildren(remove);
      remove.focus();
    });
    setLabel(keep, 'glossary_keep_label', { term: name });
    actions.append(remove);
    row.append(term, note, by, actions);
    return row;
  }

  async function addTerm(event) {
    event.preventDefault();
    const term = ui.glossaryTerm.value.trim();
    const note = ui.glossaryNote.value.trim();
    if (!term) {
      showGlossaryError(t('glossary_term_missing'));
      ui.glossaryTerm.focus();
      return;
    }
    let result;
    try {
      result = await api('POST', '/api/glossary', { term: term, note: note });
    } catch (_) {
      showGlossaryError(t('server_unreachable'));
      return;
    }
    if (result.status !== 201 && result.status !== 200) {
      showGlossaryError(errorMessage(result, 'glossary_add_failed'));
      return;
    }
    showGlossaryError('');
    const entry = result.data && result.data.term ? result.data : { term: term, note: note, created_by: '' };
    ui.glossaryRows.prepend(glossaryRow(entry));
    ui.glossaryForm.reset();
    refreshGlossaryEmpty();
    announce(t('glossary_added', { term: term }));
    ui.glossaryTerm.focus();
  }

  async function deleteTerm(term, row) {
    let result;
    try {
      result = await api('DELETE', '/api/glossary/' + encodeURIComponent(term));
    } catch (_) {
      showGlossaryError(t('server_unreachable'));
      return;
    }
    if (result.status !== 204 && result.status !== 404) {
      showGlossaryError(errorMessage(result, 'glossary_delete_failed'));
      return;
    }
    showGlossaryError('');
    row.remove();
    refreshGlossaryEmpty();
    announce(t('glossary_deleted', { term: term }));
    ui.glossaryTerm.focus();
  }

  function showGlossaryError(text) {
    ui.glossaryError.textContent = text;
    ui.glossaryError.hidden = !text;
  }

  function refreshGlossaryEmpty() {
    ui.glossaryEmpty.hidden = ui.glossaryRows.children.length > 0;
  }

  // ---- Incoming frames ------------------------------------------------------------------

  const FRAME_HANDLERS = {
    welcome: onWelcome,
    queue_item: (frame) => {
      upsertQueueRow(frame.item);
      if (frame.item) applyItem(frame.item);
    },
    queue_remove: (frame) => removeQueueRow(frame.conversation_id),
    notify: onNotify,
    owned: (frame) => replaceOwned(Array.isArray(frame.items) ? frame.items : []),
    transcript: onTranscript,
    event: onEvent,
    reply_start: onReplyStart,
    delta: onDelta,
    reply_dropped: onReplyDropped,
    translation: onTranslation,
    note: onNote,
    reply_ack: onReplyAck,
    review: onReview,
    refused: onRefused,
    typing: onTyping,
    error: onServerError,
    pong: () => {},
  };

  function handleFrame(socket, data) {
    if (socket !== conn.socket) return;
    conn.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      return;
    }
    const handler = frame && FRAME_HANDLERS[frame.type];
    if (handler) handler(frame);
  }

  function onWelcome(frame) {
    conn.welcomed = true;
    conn.attempt = 0;
    refreshConnection();
    if (frame.staff && typeof frame.staff === 'object') session.staff = Object.assign({}, session.staff, frame.staff);
    replaceQueue(Array.isArray(frame.queue) ? frame.queue : []);
    replaceOwned(Array.isArray(frame.owned) ? frame.owned : []);

    for (const view of views.values()) {
      if (!view.loaded) requestPage(view, null);
      for (const entry of view.pending.values()) {
        if (!view.review || view.review.clientId !== entry.clientId) {
          if (!entry.node.classList.contains('failed')) transmitReply(view, entry);
        }
      }
      for (const entry of view.pendingNotes.values()) transmitNote(view, entry);
    }
  }

  function onServerError(frame) {
    const message = typeof frame.message === 'string' ? frame.message : String(frame.code);
    if (frame.code === 'rate_limited') {
      showErrorToast(t('error_rate_limited'));
      return;
    }
    console.warn('crossdesk console: server error', frame.code, message);
    showErrorToast(t('error_server', { message: message }));
  }

  // ---- Connection -----------------------------------------------------------------------

  function socketUrl() {
    return location.origin.replace(/^http/, 'ws') + '/ws/staff';
  }

  // Lists, for each conversation with a loaded transcript, the newest event and note shown.
  function helloCursors() {
    const cursors = [];
    for (const view of views.values()) {
      if (!view.loaded) continue;
      cursors.push({ conversation_id: view.id, after_seq: view.maxSeq, after_note: view.maxNote });
    }
    return cursors;
  }

  function connect() {
    clearTimeout(conn.retryTimer);
    conn.retryTimer = null;
    if (!session.started) return;
    refreshConnection();

    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (problem) {
      console.warn('crossdesk console: opening the WebSocket failed:', problem);
      scheduleReconnect();
      return;
    }
    conn.socket = socket;
    conn.lastFrameAt = Date.now();
    conn.welcomed = false;
    socket.addEventListener('open', () => {
      if (socket !== conn.socket) return;
      sendFrame({ type: 'hello', cursors: helloCursors() });
      startHeartbeat(socket);
    });
    socket.addEventListener('message', (event) => handleFrame(socket, event.data));
    socket.addEventListener('close', () => onSocketClosed(socket));
    setTimeout(() => {
      if (socket === conn.socket && !conn.welcomed) abandonSocket(socket);
    }, HANDSHAKE_TIMEOUT_MS);
  }

  function onSocketClosed(socket) {
    if (socket !== conn.socket) return;
    const wasWelcomed = conn.welcomed;
    conn.socket = null;
    conn.welcomed = false;
    conn.queue.length = 0;
    for (const view of views.values()) {
      view.typingSent = false;
      hideBuyerTyping(view);
      if (view.loading && !view.loaded) view.loading = false;
      for (const entry of view.pending.values()) {
        if (entry.inFlight) setPendingStatus(entry, 'waiting_connection');
        entry.inFlight = false;
      }
      for (const entry of view.pendingNotes.values()) {
        clearTimeout(entry.timer);
        if (!entry.node.classList.contains('failed')) setPendingStatus(entry, 'waiting_connection');
      }
    }
    dropAllStreams();
    if (!session.started) return;
    refreshConnection();
    // An upgrade rejected with 401 looks like any failed socket, so the session is checked.
    if (!wasWelcomed) checkSession();
    scheduleReconnect();
  }

  async function checkSession() {
    let result;
    try {
      result = await api('GET', '/api/staff/me');
    } catch (_) {
      return;
    }
    if (result.status !== 401 || !session.started) return;
    session.started = false;
    clearTimeout(conn.retryTimer);
    showSignIn('session_ended');
  }

  function abandonSocket(socket) {
    onSocketClosed(socket);
    socket.close();
  }

  // Equal jitter: each wait is half the exponential window plus a random part of the other
  // half, so consoles cut off at the same moment do not reconnect in step.
  function scheduleReconnect() {
    clearTimeout(conn.retryTimer);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** conn.attempt);
    conn.attempt += 1;
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    conn.retryTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (!session.started || conn.socket) return;
    conn.attempt = 0;
    connect();
  }

  function startHeartbeat(socket) {
    const timer = setInterval(() => {
      if (socket !== conn.socket) {
        clearInterval(timer);
        return;
      }
      if (Date.now() - conn.lastFrameAt > SILENCE_LIMIT_MS) abandonSocket(socket);
      else if (conn.welcomed) sendFrame({ type: 'ping' });
    }, PING_INTERVAL_MS);
  }

  // Queues a frame for the current socket. Without a socket the frame is dropped, and frames
  // still queued when the socket closes are dropped too: replies are resent after the welcome.
  function sendFrame(frame) {
    if (!conn.socket) return;
    conn.queue.push(JSON.stringify(frame));
    flushQueue();
  }

  // Sends queued frames through a token bucket that keeps below the server's rate limit.
  function flushQueue() {
    const socket = conn.socket;
    const now = performance.now();
    conn.tokens = Math.min(SEND_BURST, conn.tokens + ((now - conn.refilledAt) / 1000) * SEND_PER_SECOND);
    conn.refilledAt = now;

    while (conn.queue.length && conn.tokens >= 1 && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(conn.queue.shift());
      conn.tokens -= 1;
    }
    if (!conn.queue.length || conn.flushTimer) return;
    conn.flushTimer = setTimeout(() => {
      conn.flushTimer = null;
      flushQueue();
    }, 1000 / SEND_PER_SECOND);
  }

  function refreshConnection() {
    if (!ui.connection) return;
    let state = 'connecting';
    if (conn.welcomed) state = 'online';
    else if (navigator.onLine === false) state = 'offline';
    else if (conn.attempt > 0) state = 'reconnecting';
    ui.connection.dataset.state = state;
    setText(ui.connection, 'conn_' + state);
  }

  // ---- Start -----------------------------------------------------------------------------

  function findUi() {
    const byId = (id) => document.getElementById(id);
    Object.assign(ui, {
      signInView: byId('sign-in-view'),
      signInForm: byId('sign-in-form'),
      signInName: byId('sign-in-name'),
      signInPassword: byId('sign-in-password'),
      signInError: byId('sign-in-error'),
      signInButton: byId('sign-in-button'),
      consoleView: byId('console-view'),
      connection: byId('connection'),
      agentName: byId('agent-name'),
      glossaryToggle: byId('glossary-toggle'),
      signOut: byId('sign-out'),
      ownedList: byId('owned-list'),
      ownedCount: byId('owned-count'),
      ownedEmpty: byId('owned-empty'),
      queueList: byId('queue-list'),
      queueCount: byId('queue-count'),
      queueEmpty: byId('queue-empty'),
      conversation: byId('conversation'),
      conversationEmpty: byId('conversation-empty'),
      glossary: byId('glossary'),
      glossaryForm: byId('glossary-form'),
      glossaryTerm: byId('glossary-term'),
      glossaryNote: byId('glossary-note'),
      glossaryError: byId('glossary-error'),
      glossaryRows: byId('glossary-rows'),
      glossaryEmpty: byId('glossary-empty'),
      toasts: byId('toasts'),
      announcer: byId('announcer'),
    });
  }

  function bindUi() {
    ui.signInForm.addEventListener('submit', submitSignIn);
    ui.signOut.addEventListener('click', signOut);
    ui.glossaryToggle.addEventListener('click', toggleGlossary);
    ui.glossaryForm.addEventListener('submit', addTerm);
    window.addEventListener('online', () => {
      refreshConnection();
      reconnectNow();
    });
    window.addEventListener('offline', refreshConnection);
    setInterval(tickClock, CLOCK_INTERVAL_MS);
  }

  async function boot() {
    findUi();
    bindUi();
    await switchLanguage(uiLanguageFor(navigator.language));
    let result = null;
    try {
      result = await api('GET', '/api/staff/me');
    } catch (_) {
      result = null;
    }
    if (result && result.status === 200 && result.data) {
      await startConsole(result.data);
      return;
    }
    showSignIn(result ? '' : 'server_unreachable');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot, { once: true });
  else boot();
})();
