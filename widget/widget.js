/*! crossdesk buyer chat widget, protocol v1. Plain JavaScript, no dependencies. */
(function () {
  'use strict';

  const script =
    document.currentScript || document.querySelector('script[src*="/widget/v1/widget.js"]');
  if (!script || window.crossdesk) return;

  const LANGUAGES = [
    'en', 'es', 'pt', 'fr', 'de', 'it', 'nl', 'ru', 'pl', 'tr',
    'ar', 'he', 'fa', 'hi', 'vi', 'th', 'id', 'ja', 'ko', 'zh',
  ];
  const RTL_LANGUAGES = ['ar', 'he', 'fa'];
  const LANGUAGE_ALIASES = { iw: 'he', in: 'id' };
  const STATES = ['bot', 'queued', 'staff', 'resolved'];
  const AUTHORS = ['buyer', 'bot', 'staff', 'system'];
  // Bot messages with these answer sources are notices, not answers, so they get no rating.
  const UNRATED_ANSWER_SOURCES = ['escalation', 'busy'];
  const LINK_PROTOCOLS = ['http:', 'https:', 'mailto:'];
  const LINK_PATTERN = /\bhttps?:\/\/[^\s<>"]*[^\s<>".,;:!?)\]'}»」。、]|[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g;
  const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // The server rejects longer message texts with `message_too_long`.
  const MESSAGE_MAX_CHARS = 4000;
  const COUNTER_FROM_CHARS = 3600;
  // The server allows 5 frames per second with bursts of 10. The widget stays below both.
  const SEND_BURST = 8;
  const SEND_PER_SECOND = 4;
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const HANDSHAKE_TIMEOUT_MS = 15000;
  const PING_INTERVAL_MS = 25000;
  // A socket that delivered no frame (not even a pong) for this long is treated as dead.
  const SILENCE_LIMIT_MS = 60000;
  // After the tab wakes up or the network returns, an open socket must return a pong this fast.
  const PROBE_TIMEOUT_MS = 5000;
  const RATE_LIMIT_RETRY_MS = 2000;
  const GAP_CHECK_MS = 1000;
  const BANNER_DELAY_MS = 1500;
  const BOT_TYPING_TIMEOUT_MS = 20000;
  const STAFF_TYPING_TIMEOUT_MS = 8000;
  const OWN_TYPING_IDLE_MS = 4000;
  const ERROR_VISIBLE_MS = 6000;
  const NEAR_BOTTOM_PX = 80;

  const ICONS = {
    chat: 'M5 3h14a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3h-8l-5 4v-4H5a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3z',
    down: 'M6 9l6 6 6-6',
    close: 'M6 6l12 12M18 6L6 18',
    send: 'M3.4 20.6L21 12 3.4 3.4l.1 6.7L15 12 3.5 13.9z',
    thumb: 'M7 11v10H3V11h4zm0 0l4-9a3 3 0 0 1 3 3v4h5.6a2 2 0 0 1 2 2.4l-1.5 7.8a2 2 0 0 1-2 1.8H7',
    person: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-8 9a8 8 0 0 1 16 0',
    box: 'M3 7.5L12 3l9 4.5v9L12 21l-9-4.5v-9zm0 0l9 4.5 9-4.5M12 12v9',
  };

  const scriptUrl = new URL(script.src, location.href);
  const options = readOptions(script.dataset);
  const storageKey = 'crossdesk:' + options.server;

  const ui = {};
  const stringTables = new Map();
  const i18n = { strings: {}, language: '', requested: '', timeFormat: null };
  const saved = readSaved();
  const conv = {
    token: typeof saved.token === 'string' ? saved.token : null,
    readSeq: Number(saved.readSeq) || 0,
    state: 'bot',
    stateSeq: 0,
    shownSeqs: new Set(),
    contiguousSeq: 0,
    maxSeq: 0,
    unread: 0,
  };
  const conn = {
    socket: null,
    welcomed: false,
    enabled: false,
    attempt: 0,
    retryTimer: null,
    lastFrameAt: 0,
    queue: [],
    tokens: SEND_BURST,
    refilledAt: 0,
    flushTimer: null,
    bannerTimer: null,
    gapTimer: null,
  };
  // Buyer messages not yet acknowledged, in the order they were written.
  const outbox = [];
  // Every buyer message rendered by this page, by client_id, so a stored event replaces it.
  const ownItems = new Map();
  // Bot replies being streamed, by reply_id.
  const replies = new Map();
  // Ratings chosen but not yet sent, by the seq of the rated message.
  const unsentRatings = new Map();
  const timers = { typing: null, ownTyping: null, error: null };
  let personRequest = null;
  let ownTypingSent = false;

  window.crossdesk = { open: () => openPanel(true), close: () => closePanel() };

  function readOptions(data) {
    let server = new URL(scriptUrl.origin);
    if (data.server) {
      try {
        server = new URL(data.server, location.href);
      } catch (_) {
        console.warn('crossdesk: data-server is not a valid URL, using', server.href);
      }
    }
    const accent = data.accent && CSS.supports('color', data.accent) ? data.accent : '';
    return {
      server: server.href.replace(/\/+$/, ''),
      position: data.position === 'bottom-left' ? 'left' : 'right',
      accent: accent,
      title: data.title || '',
      greeting: data.greeting,
      locale: data.locale || document.documentElement.lang || navigator.language || 'en',
    };
  }

  // ---- Storage -----------------------------------------------------------

  function readSaved() {
    try {
      const value = JSON.parse(localStorage.getItem(storageKey) || '{}');
      return value && typeof value === 'object' ? value : {};
    } catch (_) {
      return {};
    }
  }

  function writeSaved() {
    const value = {
      token: conv.token,
      readSeq: conv.readSeq,
      outbox: outbox.map((entry) => ({ clientId: entry.clientId, text: entry.text })),
    };
    try {
      localStorage.setItem(storageKey, JSON.stringify(value));
    } catch (_) {
      // Storage is full or blocked: the conversation then lasts as long as this page.
    }
  }

  function rememberOpen(open) {
    try {
      sessionStorage.setItem(storageKey + ':open', open ? '1' : '');
    } catch (_) {
      // Without sessionStorage the panel starts closed on the next page.
    }
  }

  function wasOpen() {
    try {
      return sessionStorage.getItem(storageKey + ':open') === '1';
    } catch (_) {
      return false;
    }
  }

  function newClientId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  }

  // ---- Strings -----------------------------------------------------------

  function pickLanguage(tag) {
    const base = String(tag || '').toLowerCase().split(/[-_]/)[0];
    const code = LANGUAGE_ALIASES[base] || base;
    return LANGUAGES.includes(code) ? code : '';
  }

  function fetchTable(code) {
    if (!stringTables.has(code)) {
      const url = new URL('i18n/' + code + '.json', scriptUrl);
      const request = fetch(url)
        .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
        .catch((problem) => {
          console.warn('crossdesk: loading strings failed:', url.href, problem);
          stringTables.delete(code);
          return null;
        });
      stringTables.set(code, request);
    }
    return stringTables.get(code);
  }

  // Loads the strings of a language (English fills missing keys) and applies them.
  async function switchLanguage(tag) {
    const code = pickLanguage(tag);
    if (!code || code === i18n.requested) return;
    i18n.requested = code;

    const [english, table] = await Promise.all([fetchTable('en'), fetchTable(code)]);
    if (i18n.requested !== code) return;
    if (!english && !table) {
      i18n.requested = i18n.language;
      return;
    }

    i18n.strings = Object.assign({}, english, table);
    i18n.language = code;
    i18n.timeFormat = new Intl.DateTimeFormat(code, { hour: 'numeric', minute: '2-digit' });
    applyStrings();
  }

  function t(key, values) {
    const template = i18n.strings[key] || '';
    return template.replace(/\{(\w+)\}/g, (whole, name) =>
      values && name in values ? String(values[name]) : whole,
    );
  }

  function setText(node, key) {
    node.dataset.i18n = key;
    node.textContent = t(key);
  }

  function setLabel(node, key) {
    node.dataset.i18nLabel = key;
    node.setAttribute('aria-label', t(key));
  }

  function applyStrings() {
    const shadow = ui.shadow;
    ui.root.lang = i18n.language;
    ui.root.dir = RTL_LANGUAGES.includes(i18n.language) ? 'rtl' : 'ltr';

    for (const node of shadow.querySelectorAll('[data-i18n]')) {
      node.textContent = t(node.dataset.i18n);
    }
    for (const node of shadow.querySelectorAll('[data-i18n-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nLabel));
    }
    for (const node of shadow.querySelectorAll('[data-i18n-title]')) {
      node.title = t(node.dataset.i18nTitle);
    }
    for (const node of shadow.querySelectorAll('time')) formatTime(node);

    ui.input.placeholder = t('placeholder');
    refreshLauncher();
    refreshCounter();
  }

  // ---- DOM helpers -------------------------------------------------------

  function el(tag, className, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const name in attributes) node.setAttribute(name, attributes[name]);
    return node;
  }

  function textSpan(key, className) {
    const span = el('span', className);
    setText(span, key);
    return span;
  }

  function icon(name) {
    const svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', 'cd-icon cd-icon-' + name);

    const path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name]);
    svg.append(path);
    return svg;
  }

  function iconButton(className, iconName, labelKey) {
    const button = el('button', className, { type: 'button' });
    button.append(icon(iconName));
    setLabel(button, labelKey);
    return button;
  }

  function typingDots() {
    const dots = el('span', 'cd-dots', { 'aria-hidden': 'true' });
    dots.append(el('span'), el('span'), el('span'));
    return dots;
  }

  // Returns an http, https or mailto URL as a string, or null for any other scheme.
  function safeHref(raw) {
    try {
      const url = new URL(String(raw), options.server);
      return LINK_PROTOCOLS.includes(url.protocol) ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function externalLink(href, label) {
    const link = el('a', 'cd-link', {
      href: href,
      target: '_blank',
      rel: 'noopener noreferrer nofollow',
      dir: 'auto',
    });
    link.textContent = label;
    return link;
  }

  // Appends text, turning web addresses and e-mail addresses into links.
  function appendLinkified(parent, text) {
    let last = 0;
    for (const match of text.matchAll(LINK_PATTERN)) {
      const found = match[0];
      const href = safeHref(found.includes('://') ? found : 'mailto:' + found);
      if (!href) continue;

      parent.append(text.slice(last, match.index), externalLink(href, found));
      last = match.index + found.length;
    }
    parent.append(text.slice(last));
  }

  function languageTag(value) {
    return typeof value === 'string' && /^[a-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(value) ? value : '';
  }

  // ---- Building the widget -----------------------------------------------

  function buildUi() {
    const host = el('div', '', { id: 'crossdesk-widget' });
    if (options.accent) host.style.setProperty('--cd-accent', options.accent);
    const shadow = host.attachShadow({ mode: 'open' });
    const stylesheet = el('link', '', {
      rel: 'stylesheet',
      href: new URL('widget.css', scriptUrl).href,
    });
    const root = el('div', 'cd-root cd-' + options.position, { dir: 'ltr' });
    root.hidden = true;
    ui.shadow = shadow;
    ui.root = root;

    root.append(buildLauncher(), buildPanel());
    shadow.append(stylesheet, root);
    stylesheet.addEventListener('load', () => {
      root.hidden = false;
      applyAccentContrast();
    });
    stylesheet.addEventListener('error', () => {
      console.warn('crossdesk: loading the stylesheet failed:', stylesheet.href);
    });
    document.body.append(host);
  }

  // Picks dark or white text on the accent colour, whichever contrasts more.
  function applyAccentContrast() {
    if (!options.accent) return;
    const channels = getComputedStyle(ui.launcher).backgroundColor.match(/[\d.]+/g);
    if (!channels || channels.length < 3) return;

    const [red, green, blue] = channels.slice(0, 3).map((value) => {
      const share = Number(value) / 255;
      return share <= 0.03928 ? share / 12.92 : ((share + 0.055) / 1.055) ** 2.4;
    });
    const luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue;
    ui.root.style.setProperty('--cd-on-accent', luminance > 0.179 ? '#111418' : '#ffffff');
  }

  function buildLauncher() {
    const launcher = iconButton('cd-launcher', 'chat', 'open_chat');
    launcher.append(icon('down'));
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', 'cd-panel');
    delete launcher.dataset.i18nLabel;

    const badge = el('span', 'cd-badge', { 'aria-hidden': 'true' });
    badge.hidden = true;
    launcher.append(badge);
    launcher.addEventListener('click', () => (isOpen() ? closePanel() : openPanel(true)));

    ui.launcher = launcher;
    ui.badge = badge;
    return launcher;
  }

  function buildPanel() {
    const panel = el('div', 'cd-panel', {
      id: 'cd-panel',
      role: 'dialog',
      'aria-modal': 'false',
      'aria-labelledby': 'cd-title',
      tabindex: '-1',
    });
    panel.hidden = true;
    panel.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      closePanel();
    });

    ui.panel = panel;
    panel.append(
      buildHeader(),
      buildBanner(),
      buildLog(),
      buildTyping(),
      buildError(),
      buildActions(),
      buildOrderForm(),
      buildComposer(),
    );
    return panel;
  }

  function buildHeader() {
    const header = el('div', 'cd-header');
    const heading = el('div', 'cd-heading');
    const title = el('h2', 'cd-title', { id: 'cd-title', dir: 'auto' });
    if (options.title) title.textContent = options.title;
    else setText(title, 'title');

    const status = el('p', 'cd-status', { role: 'status', 'data-state': conv.state });
    const statusText = textSpan('status_' + conv.state);
    status.append(el('span', 'cd-dot', { 'aria-hidden': 'true' }), statusText);
    heading.append(title, status);

    const close = iconButton('cd-close', 'close', 'close_chat');
    close.addEventListener('click', () => closePanel());
    header.append(heading, close);

    ui.status = status;
    ui.statusText = statusText;
    return header;
  }

  function buildBanner() {
    const banner = el('div', 'cd-banner', { role: 'status' });
    banner.hidden = true;
    ui.banner = banner;
    return banner;
  }

  function buildLog() {
    const log = el('div', 'cd-log', {
      role: 'log',
      'aria-live': 'polite',
      'aria-relevant': 'additions',
      tabindex: '0',
    });
    setLabel(log, 'messages');
    ui.log = log;

    if (options.greeting === '') return log;
    const greeting = el('div', 'cd-msg cd-from-bot cd-greeting', { 'data-seq': '0' });
    const bubble = el('div', 'cd-bubble', { dir: 'auto' });
    if (options.greeting) bubble.textContent = options.greeting;
    else setText(bubble, 'greeting');
    greeting.append(bubble);
    log.append(greeting);
    return log;
  }

  function buildTyping() {
    const typing = el('div', 'cd-typing', { role: 'status' });
    const label = el('span', 'cd-typing-label');
    typing.append(typingDots(), label);
    typing.hidden = true;
    ui.typing = typing;
    ui.typingLabel = label;
    return typing;
  }

  function buildError() {
    const error = el('div', 'cd-error', { role: 'alert' });
    error.hidden = true;
    ui.error = error;
    return error;
  }

  function buildActions() {
    const actions = el('div', 'cd-actions');
    const person = el('button', 'cd-chip', { type: 'button' });
    person.append(icon('person'), textSpan('talk_to_person'));
    person.addEventListener('click', requestPerson);

    const order = el('button', 'cd-chip', {
      type: 'button',
      'aria-expanded': 'false',
      'aria-controls': 'cd-order',
    });
    order.append(icon('box'), textSpan('order_status'));
    order.addEventListener('click', () => toggleOrderForm(ui.orderForm.hidden));

    actions.append(person, order);
    ui.personButton = person;
    ui.orderButton = order;
    return actions;
  }

  function buildOrderForm() {
    const form = el('form', 'cd-order', { id: 'cd-order', novalidate: '' });
    form.hidden = true;
    ui.orderForm = form;
    ui.orderNumber = addField(form, 'cd-order-number', 'order_number', {
      autocomplete: 'off',
      maxlength: '40',
    });
    ui.orderEmail = addField(form, 'cd-order-email', 'order_email', {
      type: 'email',
      autocomplete: 'email',
      maxlength: '254',
    });

    const problem = el('p', 'cd-field-error', { role: 'alert' });
    problem.hidden = true;
    ui.orderProblem = problem;

    const buttons = el('div', 'cd-order-buttons');
    const cancel = el('button', 'cd-button cd-secondary', { type: 'button' });
    setText(cancel, 'order_cancel');
    cancel.addEventListener('click', () => toggleOrderForm(false));
    const submit = el('button', 'cd-button cd-primary', { type: 'submit' });
    setText(submit, 'order_submit');
    buttons.append(cancel, submit);

    form.append(problem, buttons);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitOrder();
    });
    return form;
  }

  function addField(form, id, labelKey, attributes) {
    const label = el('label', 'cd-label', { for: id });
    setText(label, labelKey);
    const input = el('input', 'cd-input', Object.assign({ id: id, type: 'text', required: '' }, attributes));
    form.append(label, input);
    return input;
  }

  function buildComposer() {
    const form = el('form', 'cd-composer');
    const input = el('textarea', 'cd-input cd-textarea', {
      rows: '1',
      maxlength: String(MESSAGE_MAX_CHARS),
      dir: 'auto',
      enterkeyhint: 'send',
    });
    setLabel(input, 'message_label');
    input.addEventListener('keydown', onComposerKey);
    input.addEventListener('input', onComposerInput);

    const counter = el('span', 'cd-counter', { 'aria-live': 'polite' });
    counter.hidden = true;
    const send = iconButton('cd-send', 'send', 'send');
    send.type = 'submit';
    form.append(input, counter, send);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitComposer();
    });

    ui.input = input;
    ui.counter = counter;
    return form;
  }

  // ---- Panel, launcher, unread count ---------------------------------------

  function isOpen() {
    return Boolean(ui.panel) && !ui.panel.hidden;
  }

  function openPanel(moveFocus) {
    if (!ui.panel || isOpen()) return;
    ui.panel.hidden = false;
    ui.root.classList.add('cd-open');
    rememberOpen(true);
    markRead();
    startConnection();
    scrollToEnd();
    if (!moveFocus) return;

    // On touch screens focusing the text box would pop up the keyboard over the history.
    const touch = matchMedia('(pointer: coarse)').matches;
    (touch ? ui.panel : ui.input).focus();
  }

  function closePanel() {
    if (!isOpen()) return;
    ui.panel.hidden = true;
    ui.root.classList.remove('cd-open');
    rememberOpen(false);
    refreshLauncher();
    ui.launcher.focus();
  }

  function refreshLauncher() {
    const open = isOpen();
    ui.launcher.setAttribute('aria-expanded', String(open));
    ui.badge.hidden = open || conv.unread === 0;
    ui.badge.textContent = conv.unread > 99 ? '99+' : String(conv.unread);

    let label = t('open_chat');
    if (open) label = t('close_chat');
    else if (conv.unread > 0) label = t('open_chat_unread', { n: conv.unread });
    ui.launcher.setAttribute('aria-label', label);
  }

  function countUnread(seq) {
    if (isOpen()) {
      markRead();
      return;
    }
    if (seq <= conv.readSeq) return;
    conv.unread += 1;
    refreshLauncher();
  }

  function markRead() {
    conv.readSeq = Math.max(conv.readSeq, conv.maxSeq);
    conv.unread = 0;
    writeSaved();
    refreshLauncher();
  }

  function isNearBottom() {
    const log = ui.log;
    return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // Disables a button. Focus on it moves to the text box first, so that keys such as
  // Escape still reach the panel and do not fall back to the page.
  function setDisabled(button, disabled) {
    if (disabled && ui.shadow.activeElement === button) ui.input.focus();
    button.disabled = disabled;
  }

  function showError(key) {
    ui.error.textContent = t(key);
    ui.error.hidden = false;
    clearTimeout(timers.error);
    timers.error = setTimeout(() => (ui.error.hidden = true), ERROR_VISIBLE_MS);
  }

  // ---- Composer, order form, person request ------------------------------

  function onComposerKey(event) {
    // isComposing: Enter that confirms an IME candidate (Japanese, Chinese, Korean) must not send.
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    submitComposer();
  }

  function onComposerInput() {
    resizeInput();
    refreshCounter();
    if (conv.state === 'staff') noteOwnTyping();
  }

  function resizeInput() {
    const input = ui.input;
    input.style.height = 'auto';
    input.style.height = input.scrollHeight + 2 + 'px';
  }

  function refreshCounter() {
    const length = ui.input.value.length;
    ui.counter.hidden = length < COUNTER_FROM_CHARS;
    ui.counter.textContent = length + ' / ' + MESSAGE_MAX_CHARS;
  }

  function submitComposer() {
    const text = ui.input.value.trim();
    if (!text) return;
    sendMessage(text);
    ui.input.value = '';
    resizeInput();
    refreshCounter();
    stopOwnTyping();
  }

  function toggleOrderForm(show) {
    ui.orderForm.hidden = !show;
    ui.orderButton.setAttribute('aria-expanded', String(show));
    ui.orderProblem.hidden = true;
    if (show) ui.orderNumber.focus();
    else ui.input.focus();
  }

  function submitOrder() {
    const order = ui.orderNumber.value.trim();
    const email = ui.orderEmail.value.trim();
    if (!order || !EMAIL_PATTERN.test(email)) {
      ui.orderProblem.textContent = t('order_invalid');
      ui.orderProblem.hidden = false;
      (order ? ui.orderEmail : ui.orderNumber).focus();
      return;
    }

    sendMessage(t('order_message', { order: order, email: email }));
    ui.orderForm.reset();
    toggleOrderForm(false);
  }

  function requestPerson() {
    if (!personRequest) personRequest = { clientId: newClientId() };
    setDisabled(ui.personButton, true);
    startConnection();
    sendPersonRequest();
  }

  function sendPersonRequest() {
    if (!personRequest || !conn.welcomed) return;
    sendFrame({ type: 'request_person', client_id: personRequest.clientId });
  }

  // Tells a staff member that the buyer is writing: one frame when typing starts, one when it stops.
  function noteOwnTyping() {
    if (!ownTypingSent && conn.welcomed) {
      sendFrame({ type: 'typing', active: true });
      ownTypingSent = true;
    }
    clearTimeout(timers.ownTyping);
    timers.ownTyping = setTimeout(stopOwnTyping, OWN_TYPING_IDLE_MS);
  }

  function stopOwnTyping() {
    clearTimeout(timers.ownTyping);
    if (!ownTypingSent) return;
    ownTypingSent = false;
    if (conn.welcomed) sendFrame({ type: 'typing', active: false });
  }

  // ---- Outgoing buyer messages -------------------------------------------

  function sendMessage(text) {
    const entry = { clientId: newClientId(), text: text, item: null, inFlight: false };
    entry.item = renderPending(entry);
    outbox.push(entry);
    writeSaved();
    startConnection();
    transmit(entry);
    scrollToEnd();
  }

  function restoreOutbox() {
    const stored = Array.isArray(saved.outbox) ? saved.outbox : [];
    for (const record of stored) {
      if (!record || typeof record.clientId !== 'string' || typeof record.text !== 'string') continue;
      const entry = { clientId: record.clientId, text: record.text, item: null, inFlight: false };
      entry.item = renderPending(entry);
      outbox.push(entry);
    }
  }

  function transmit(entry) {
    entry.inFlight = conn.welcomed;
    refreshPending(entry);
    if (!conn.welcomed) return;
    sendFrame({ type: 'message', client_id: entry.clientId, text: entry.text });
  }

  function resendOutbox() {
    for (const entry of outbox) transmit(entry);
  }

  function settleEntry(clientId) {
    const index = outbox.findIndex((entry) => entry.clientId === clientId);
    if (index < 0) return null;
    const [entry] = outbox.splice(index, 1);
    writeSaved();
    return entry;
  }

  function renderPending(entry) {
    const item = el('div', 'cd-msg cd-from-buyer cd-pending', { 'data-client-id': entry.clientId });
    const bubble = el('div', 'cd-bubble', { dir: 'auto' });
    bubble.textContent = entry.text;
    const meta = el('div', 'cd-meta');
    item.append(authorLabel('buyer'), bubble, meta);
    ownItems.set(entry.clientId, item);
    ui.log.append(item);
    return item;
  }

  function refreshPending(entry) {
    const meta = entry.item.querySelector('.cd-meta');
    meta.replaceChildren(textSpan(entry.inFlight ? 'sending' : 'waiting_connection'));
  }

  // Marks a message the server rejected. It stays on screen only, with a retry button when retrying can help.
  function failEntry(entry, retryable) {
    const item = entry.item;
    item.classList.remove('cd-pending');
    item.classList.add('cd-failed');
    const meta = item.querySelector('.cd-meta');
    meta.replaceChildren(textSpan('not_sent'));
    if (!retryable) return;

    const retry = el('button', 'cd-retry', { type: 'button' });
    setText(retry, 'retry');
    retry.addEventListener('click', () => {
      item.classList.remove('cd-failed');
      item.classList.add('cd-pending');
      outbox.push(entry);
      writeSaved();
      transmit(entry);
    });
    meta.append(retry);
  }

  // ---- Rendering stored events ---------------------------------------------

  // A staff message may name its author; otherwise the label is the translated role.
  function authorLabel(author, name) {
    if (author === 'staff' && typeof name === 'string' && name.trim()) {
      const named = el('span', 'cd-author', { dir: 'auto' });
      named.textContent = name;
      return named;
    }
    const keys = { buyer: 'author_you', bot: 'author_bot', staff: 'author_staff' };
    const label = textSpan(keys[author] || 'author_bot', 'cd-author');
    if (author === 'buyer') label.classList.add('cd-sr');
    return label;
  }

  function renderMessage(item, frame) {
    const author = AUTHORS.includes(frame.author) ? frame.author : 'system';
    const text = typeof frame.text === 'string' ? frame.text : '';
    item.className = 'cd-msg cd-from-' + author;
    item.replaceChildren();
    if (author === 'system') {
      item.className = 'cd-system';
      item.textContent = text;
      return;
    }

    const bubble = el('div', 'cd-bubble', { dir: 'auto' });
    const lang = languageTag(frame.language);
    if (lang) bubble.lang = lang;
    if (author === 'buyer') bubble.textContent = text;
    else appendLinkified(bubble, text);
    item.append(authorLabel(author, frame.author_name), bubble);

    if (typeof frame.note === 'string' && frame.note) {
      const note = el('div', 'cd-note', { dir: 'auto' });
      note.textContent = frame.note;
      item.append(note);
    }
    if (Array.isArray(frame.sources) && frame.sources.length) item.append(sourceList(frame.sources));
    const meta = metaLine(frame);
    if (author === 'bot' && !UNRATED_ANSWER_SOURCES.includes(frame.answer_source)) {
      meta.append(ratingBar(frame.seq));
    }
    item.append(meta);
  }

  function metaLine(frame) {
    const meta = el('div', 'cd-meta');
    const time = timeNode(frame.created_at);
    if (time) meta.append(time);
    if (frame.machine_translated === true) {
      const mark = textSpan('machine_translated', 'cd-mt');
      mark.dataset.i18nTitle = 'machine_translated_hint';
      mark.title = t('machine_translated_hint');
      meta.append(mark);
    }
    return meta;
  }

  function timeNode(value) {
    const date = new Date(value);
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) return null;
    const node = el('time', 'cd-time', { datetime: date.toISOString() });
    formatTime(node);
    return node;
  }

  function formatTime(node) {
    if (!i18n.timeFormat) return;
    node.textContent = i18n.timeFormat.format(new Date(node.dateTime));
  }

  function sourceList(sources) {
    const box = el('div', 'cd-sources');
    const list = el('ul', 'cd-source-list');
    for (const source of sources) {
      if (source && typeof source === 'object') list.append(sourceEntry(source));
    }
    box.append(textSpan('sources', 'cd-sources-title'), list);
    return box;
  }

  function sourceEntry(source) {
    const entry = el('li');
    const href = source.url ? safeHref(source.url) : null;
    const label = String(source.title || source.url || source.id || '');
    if (href) {
      entry.append(externalLink(href, label));
      return entry;
    }

    const text = el('span', 'cd-source-text', { dir: 'auto' });
    text.textContent = label;
    entry.append(text);
    return entry;
  }

  function ratingBar(seq) {
    const bar = el('div', 'cd-rating', { 'data-rates': String(seq) });
    const up = iconButton('cd-rate', 'thumb', 'rate_up');
    const down = iconButton('cd-rate cd-rate-down', 'thumb', 'rate_down');
    up.dataset.value = 'up';
    down.dataset.value = 'down';
    const thanks = textSpan('rating_thanks', 'cd-thanks');
    thanks.hidden = true;

    for (const button of [up, down]) {
      button.setAttribute('aria-pressed', 'false');
      button.addEventListener('click', () => rate(seq, button.dataset.value, bar));
    }
    bar.append(up, down, thanks);
    return bar;
  }

  function showRating(bar, value) {
    for (const button of bar.querySelectorAll('.cd-rate')) {
      button.setAttribute('aria-pressed', String(button.dataset.value === value));
    }
  }

  function rate(seq, value, bar) {
    showRating(bar, value);
    bar.querySelector('.cd-thanks').hidden = false;
    unsentRatings.set(seq, value);
    startConnection();
    sendRatings();
  }

  function sendRatings() {
    if (!conn.welcomed) return;
    for (const [seq, value] of unsentRatings) sendFrame({ type: 'rating', seq: seq, value: value });
    unsentRatings.clear();
  }

  // Inserts an item before the first item with a larger seq; items without seq stay last.
  function placeBySeq(item, seq) {
    item.dataset.seq = String(seq);
    let before = null;
    for (const child of ui.log.children) {
      if (child === item) continue;
      if (child.dataset.seq === undefined || Number(child.dataset.seq) > seq) {
        before = child;
        break;
      }
    }
    if (item.nextSibling !== before || item.parentNode !== ui.log) ui.log.insertBefore(item, before);
  }

  // ---- Incoming frames ---------------------------------------------------

  const FRAME_HANDLERS = {
    welcome: onWelcome,
    event: onEvent,
    ack: onAck,
    reply_start: onReplyStart,
    delta: onDelta,
    reply_dropped: onReplyDropped,
    typing: onTyping,
    error: onServerError,
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
    if (!handler) return;

    const stick = isNearBottom();
    handler(frame);
    if (stick) scrollToEnd();
  }

  function onWelcome(frame) {
    if (!frame.resumed) resetConversation();
    if (typeof frame.token === 'string') conv.token = frame.token;
    writeSaved();

    conn.welcomed = true;
    conn.attempt = 0;
    setConnection('online');
    if (STATES.includes(frame.state)) applyState(frame.state, Number(frame.last_seq) || 0);
    switchLanguage(frame.language);

    resendOutbox();
    sendRatings();
    sendPersonRequest();
  }

  // Clears the log when the server starts a new conversation. Unsent messages stay for the new one.
  function resetConversation() {
    for (const item of Array.from(ui.log.children)) {
      if (item.dataset.seq && item.dataset.seq !== '0') item.remove();
    }
    conv.shownSeqs.clear();
    conv.contiguousSeq = 0;
    conv.maxSeq = 0;
    conv.stateSeq = 0;
    conv.readSeq = 0;
    conv.unread = 0;
    refreshLauncher();
  }

  function onEvent(frame) {
    const seq = frame.seq;
    if (!Number.isInteger(seq) || seq < 1 || conv.shownSeqs.has(seq)) return;
    recordSeq(seq);

    if (frame.kind === 'message') showMessage(frame);
    else if (frame.kind === 'state') showStateChange(frame);
    else if (frame.kind === 'rating') showStoredRating(frame);
  }

  function recordSeq(seq) {
    conv.shownSeqs.add(seq);
    conv.maxSeq = Math.max(conv.maxSeq, seq);
    while (conv.shownSeqs.has(conv.contiguousSeq + 1)) conv.contiguousSeq += 1;
    if (conv.contiguousSeq < conv.maxSeq) scheduleGapCheck();
  }

  // Asks for a replay when an event arrived after a gap that stays open.
  function scheduleGapCheck() {
    if (conn.gapTimer) return;
    conn.gapTimer = setTimeout(() => {
      conn.gapTimer = null;
      if (conv.contiguousSeq < conv.maxSeq && conn.welcomed) {
        sendFrame({ type: 'resume', after_seq: conv.contiguousSeq });
      }
    }, GAP_CHECK_MS);
  }

  function showMessage(frame) {
    const item = claimItem(frame) || el('div');
    renderMessage(item, frame);
    placeBySeq(item, frame.seq);
    if (frame.author !== 'bot' && frame.author !== 'staff') return;

    if (frame.author === 'bot') hideTyping();
    switchLanguage(frame.language);
    countUnread(frame.seq);
  }

  // Returns the element already on screen for this stored message: a pending buyer message or a streamed reply.
  function claimItem(frame) {
    if (frame.author === 'buyer' && typeof frame.client_id === 'string') {
      settleEntry(frame.client_id);
      return ownItems.get(frame.client_id) || null;
    }
    if (frame.author !== 'bot') return null;

    for (const [replyId, reply] of replies) {
      const sameReply = frame.reply_id !== undefined && replyId === frame.reply_id;
      const sameQuestion = reply.replyTo != null && reply.replyTo === frame.reply_to;
      if (!sameReply && !sameQuestion) continue;
      replies.delete(replyId);
      if (replies.size === 0) ui.log.removeAttribute('aria-busy');
      return reply.item;
    }
    return null;
  }

  // The server may send the state line in the buyer's language, naming the person who joined.
  // Without that text the widget shows its own string for the state.
  function showStateChange(frame) {
    if (frame.seq > conv.stateSeq) applyState(frame.state, frame.seq);
    if (!STATES.includes(frame.state)) return;
    let line;
    if (typeof frame.text === 'string' && frame.text.trim()) {
      line = el('span', 'cd-system', { dir: 'auto' });
      const lang = languageTag(frame.language);
      if (lang) line.lang = lang;
      line.textContent = frame.text;
    } else {
      line = textSpan('state_' + frame.state, 'cd-system');
    }
    placeBySeq(line, frame.seq);
  }

  function applyState(state, seq) {
    if (!STATES.includes(state)) return;
    conv.state = state;
    conv.stateSeq = seq;
    ui.status.dataset.state = state;
    setText(ui.statusText, 'status_' + state);

    const withPerson = state === 'queued' || state === 'staff';
    if (withPerson) personRequest = null;
    setDisabled(ui.personButton, withPerson || personRequest !== null);
    if (state !== 'bot') hideTyping();
  }

  // NOTE: protocol.md does not list the fields of stored rating events. The server sends
  // the rated message's seq in `reply_to` and `up` or `down` in `rating`.
  function showStoredRating(frame) {
    const bar = ui.log.querySelector('[data-rates="' + Number(frame.reply_to) + '"]');
    if (bar && (frame.rating === 'up' || frame.rating === 'down')) showRating(bar, frame.rating);
  }

  function onAck(frame) {
    if (personRequest && frame.client_id === personRequest.clientId) {
      personRequest = null;
      return;
    }
    const entry = settleEntry(frame.client_id);
    if (!entry || !Number.isInteger(frame.seq)) return;

    entry.item.classList.remove('cd-pending');
    entry.item.querySelector('.cd-meta').replaceChildren();
    if (!conv.shownSeqs.has(frame.seq)) placeBySeq(entry.item, frame.seq);
    if (conv.state === 'bot' && !frame.duplicate) showTyping('bot');
  }

  function onReplyStart(frame) {
    if (typeof frame.reply_id !== 'string' || replies.has(frame.reply_id)) return;
    hideTyping();

    const item = el('div', 'cd-msg cd-from-bot cd-streaming');
    const bubble = el('div', 'cd-bubble', { dir: 'auto' });
    const lang = languageTag(frame.language);
    if (lang) bubble.lang = lang;
    bubble.append(typingDots());
    item.append(authorLabel('bot'), bubble);

    replies.set(frame.reply_id, { item: item, bubble: bubble, replyTo: frame.reply_to, started: false });
    ui.log.setAttribute('aria-busy', 'true');
    ui.log.append(item);
    switchLanguage(frame.language);
  }

  function onDelta(frame) {
    const reply = replies.get(frame.reply_id);
    if (!reply || typeof frame.text !== 'string') return;
    if (!reply.started) {
      reply.started = true;
      reply.bubble.replaceChildren();
      reply.item.classList.add('cd-started');
    }
    reply.bubble.append(frame.text);
  }

  // A person took over while the bot was writing, so the server dropped this reply.
  function onReplyDropped(frame) {
    const reply = replies.get(frame.reply_id);
    hideTyping();
    if (!reply) return;
    reply.item.remove();
    replies.delete(frame.reply_id);
    if (replies.size === 0) ui.log.removeAttribute('aria-busy');
  }

  // Removes replies still streaming: after a reconnect the server sends only their final event.
  function dropReplies() {
    for (const reply of replies.values()) reply.item.remove();
    replies.clear();
    ui.log.removeAttribute('aria-busy');
  }

  function onTyping(frame) {
    if (frame.author !== 'staff') return;
    if (frame.active) showTyping('staff');
    else hideTyping();
  }

  function showTyping(author) {
    setText(ui.typingLabel, author === 'staff' ? 'typing_staff' : 'typing_bot');
    ui.typing.hidden = false;
    clearTimeout(timers.typing);
    const timeout = author === 'staff' ? STAFF_TYPING_TIMEOUT_MS : BOT_TYPING_TIMEOUT_MS;
    timers.typing = setTimeout(hideTyping, timeout);
  }

  function hideTyping() {
    clearTimeout(timers.typing);
    ui.typing.hidden = true;
  }

  // Errors carry no client_id. The server handles frames in order, so a rejected message
  // is the oldest one sent on this socket and not yet acknowledged.
  function onServerError(frame) {
    const inFlight = outbox.find((entry) => entry.inFlight);
    switch (frame.code) {
      case 'rate_limited':
        for (const entry of outbox) entry.inFlight = false;
        setTimeout(resendOutbox, RATE_LIMIT_RETRY_MS);
        showError('error_rate_limited');
        return;
      case 'message_too_long':
      case 'frame_too_large':
        if (inFlight) failEntry(settleEntry(inFlight.clientId), false);
        showError('error_too_long');
        return;
      case 'empty_message':
      case 'invalid_client_id':
        if (inFlight) failEntry(settleEntry(inFlight.clientId), false);
        showError('error_not_sent');
        return;
      case 'internal':
        if (inFlight) failEntry(settleEntry(inFlight.clientId), true);
        showError('error_internal');
        return;
      case 'unknown_seq':
        return;
      default:
        console.warn('crossdesk: server error', frame.code, frame.message);
    }
  }

  // ---- Connection ----------------------------------------------------------

  function socketUrl() {
    return options.server.replace(/^http/, 'ws') + '/ws/chat';
  }

  // Opens the socket the first time the conversation is needed. From then on it reconnects.
  function startConnection() {
    conn.enabled = true;
    if (!conn.socket && !conn.retryTimer) connect();
  }

  function connect() {
    clearTimeout(conn.retryTimer);
    conn.retryTimer = null;
    setConnection(conn.attempt === 0 && !conv.maxSeq ? 'connecting' : 'reconnecting');

    let socket;
    try {
      socket = new WebSocket(socketUrl());
    } catch (problem) {
      console.warn('crossdesk: opening the WebSocket failed:', problem);
      scheduleReconnect();
      return;
    }
    conn.socket = socket;
    conn.lastFrameAt = Date.now();

    socket.addEventListener('open', () => onSocketOpen(socket));
    socket.addEventListener('message', (event) => handleFrame(socket, event.data));
    socket.addEventListener('close', () => onSocketClosed(socket));
    setTimeout(() => {
      if (socket === conn.socket && !conn.welcomed) abandonSocket(socket);
    }, HANDSHAKE_TIMEOUT_MS);
  }

  function onSocketOpen(socket) {
    if (socket !== conn.socket) return;
    const locale = options.locale;
    sendFrame({ type: 'hello', token: conv.token, locale: locale, resume_from: conv.contiguousSeq });
    startHeartbeat(socket);
  }

  function onSocketClosed(socket) {
    if (socket !== conn.socket) return;
    conn.socket = null;
    conn.welcomed = false;
    conn.queue.length = 0;
    ownTypingSent = false;
    for (const entry of outbox) {
      entry.inFlight = false;
      refreshPending(entry);
    }
    dropReplies();
    hideTyping();
    scheduleReconnect();
  }

  function abandonSocket(socket) {
    onSocketClosed(socket);
    socket.close();
  }

  // Equal jitter: each wait is half the exponential window plus a random part of the other
  // half, so buyers cut off at the same moment do not reconnect in step.
  function scheduleReconnect() {
    setConnection(navigator.onLine === false ? 'offline' : 'reconnecting');
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** conn.attempt);
    conn.attempt += 1;
    const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
    conn.retryTimer = setTimeout(connect, delay);
  }

  // Reconnects at once, or checks with a ping that an open socket still works.
  function reconnectNow() {
    if (!conn.enabled) return;
    if (conn.socket) {
      probeSocket(conn.socket);
      return;
    }
    conn.attempt = 0;
    connect();
  }

  function probeSocket(socket) {
    if (!conn.welcomed) return;
    const before = conn.lastFrameAt;
    sendFrame({ type: 'ping' });
    setTimeout(() => {
      if (socket === conn.socket && conn.lastFrameAt === before) abandonSocket(socket);
    }, PROBE_TIMEOUT_MS);
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

  function sendFrame(frame) {
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

  function setConnection(status) {
    ui.root.dataset.connection = status;
    clearTimeout(conn.bannerTimer);
    if (status === 'online') {
      ui.banner.hidden = true;
      return;
    }
    // A short blip does not flash a banner. Being offline is shown at once.
    const delay = status === 'offline' ? 0 : BANNER_DELAY_MS;
    conn.bannerTimer = setTimeout(() => {
      setText(ui.banner, 'conn_' + status);
      ui.banner.hidden = false;
    }, delay);
  }

  // ---- Start ---------------------------------------------------------------

  function boot() {
    buildUi();
    restoreOutbox();
    switchLanguage(pickLanguage(options.locale) || 'en');
    if (conv.token || outbox.length) startConnection();
    if (wasOpen()) openPanel(false);

    window.addEventListener('online', reconnectNow);
    window.addEventListener('offline', () => {
      if (!conn.welcomed) setConnection('offline');
    });
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) reconnectNow();
    });
  }

  if (document.body) boot();
  else document.addEventListener('DOMContentLoaded', boot, { once: true });
})();
