// A stand-in for `crossdesk serve` that speaks the buyer chat protocol (docs/protocol.md)
// and serves the widget files, for developing the widget without the Rust server.
// It takes the same flags as the real binary:
//   node mock/server.mjs serve --listen 127.0.0.1:0 --data-dir DIR --ready-file FILE [--no-model]
// Conversations are kept in DIR/mock-conversations.json, so a restart on the same data
// directory resumes them. Replies are fixed texts, and there is no language model.

import { createHash, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const WIDGET_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'widget');
const MAX_FRAME_BYTES = 16384;
const MAX_MESSAGE_CHARS = 4000;
const DELTA_INTERVAL_MS = 25;

const ANSWERS = [
  {
    pattern: /pedido m[ií]nimo|m[ií]nimo/i,
    language: 'es',
    text: 'El pedido mínimo es de 200 unidades por modelo. Para pedidos de marca propia el mínimo es de 1.000 unidades.',
    sources: [
      { kind: 'faq', id: 'moq-standard', title: 'What is the minimum order quantity?', url: 'https://kestrelbay.example/faq#moq', score: 12.4 },
    ],
  },
  {
    pattern: /minimum order|moq/i,
    language: 'en',
    text: 'The minimum order is 200 pieces per model. Private label orders start at 1,000 pieces.',
    sources: [
      { kind: 'faq', id: 'moq-standard', title: 'What is the minimum order quantity?', url: 'https://kestrelbay.example/faq#moq', score: 12.4 },
    ],
  },
];

function parseArgs(argv) {
  const args = { listen: '127.0.0.1:0', dataDir: null, readyFile: null };
  for (let index = 0; index < argv.length; index += 1) {
    const flag = argv[index];
    if (flag === '--listen') args.listen = argv[++index];
    else if (flag === '--data-dir') args.dataDir = argv[++index];
    else if (flag === '--ready-file') args.readyFile = argv[++index];
  }
  if (!args.dataDir) throw new Error('missing --data-dir DIR');
  return args;
}

function loadStore(path) {
  if (!existsSync(path)) return { conversations: {} };
  return JSON.parse(readFileSync(path, 'utf8'));
}

function guessLanguage(text) {
  if (/[\u0600-\u06ff]/.test(text)) return 'ar';
  if (/[¿¡ñáéíóú]|\b(el|la|los|pedido|cuál|hola)\b/i.test(text)) return 'es';
  return 'en';
}

function contentType(path) {
  if (path.endsWith('.js')) return 'text/javascript; charset=utf-8';
  if (path.endsWith('.css')) return 'text/css; charset=utf-8';
  if (path.endsWith('.json')) return 'application/json';
  return 'text/html; charset=utf-8';
}

function widgetFile(urlPath) {
  if (urlPath === '/') return 'demo.html';
  const match = /^\/widget\/v1\/(widget\.js|widget\.css|i18n\/[a-z]{2}\.json)$/.exec(urlPath);
  return match ? match[1] : null;
}

function serveFile(request, response) {
  const urlPath = new URL(request.url, 'http://mock').pathname;
  const file = widgetFile(urlPath);
  const path = file && join(WIDGET_DIR, file);
  if (!path || !existsSync(path)) {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const body = readFileSync(path);
  const etag = '"' + createHash('sha256').update(body).digest('hex').slice(0, 16) + '"';
  const headers = {
    'content-type': contentType(path),
    'cache-control': file === 'demo.html' ? 'no-cache' : 'public, max-age=60',
    etag: etag,
    'access-control-allow-origin': '*',
  };
  if (request.headers['if-none-match'] === etag) {
    response.writeHead(304, headers).end();
    return;
  }
  response.writeHead(200, headers).end(body);
}

class MockChat {
  constructor(storePath) {
    this.storePath = storePath;
    this.store = loadStore(storePath);
    this.sockets = new Map();
  }

  save() {
    writeFileSync(this.storePath, JSON.stringify(this.store));
  }

  conversation(token) {
    return token ? this.store.conversations[token] : undefined;
  }

  append(conv, fields) {
    const event = Object.assign(
      { type: 'event', seq: conv.events.length + 1, created_at: new Date().toISOString() },
      fields,
    );
    conv.events.push(event);
    this.save();
    this.broadcast(conv, event);
    return event;
  }

  broadcast(conv, frame) {
    for (const socket of this.sockets.get(conv.token) || []) send(socket, frame);
  }

  hello(socket, frame) {
    let conv = this.conversation(frame.token);
    const resumed = Boolean(conv);
    if (!conv) {
      const token = randomUUID().replaceAll('-', '');
      conv = { token: token, state: 'bot', language: null, events: [], clientIds: {} };
      this.store.conversations[token] = conv;
      this.save();
    }
    socket.conv = conv;
    if (!this.sockets.has(conv.token)) this.sockets.set(conv.token, new Set());
    this.sockets.get(conv.token).add(socket);

    send(socket, {
      type: 'welcome',
      token: conv.token,
      conversation_id: conv.token,
      resumed: resumed,
      state: conv.state,
      language: conv.language || frame.locale || null,
      last_seq: conv.events.length,
    });
    this.replay(socket, Number(frame.resume_from) || 0);
  }

  replay(socket, afterSeq) {
    for (const event of socket.conv.events) {
      if (event.seq > afterSeq) send(socket, event);
    }
  }

  message(socket, frame) {
    const conv = socket.conv;
    if (typeof frame.client_id !== 'string' || !frame.client_id || frame.client_id.length > 64) {
      return sendError(socket, 'invalid_client_id', 'client_id must be 1 to 64 characters');
    }
    if (typeof frame.text !== 'string' || !frame.text.trim()) {
      return sendError(socket, 'empty_message', 'message text is empty');
    }
    if ([...frame.text].length > MAX_MESSAGE_CHARS) {
      return sendError(socket, 'message_too_long', 'message text is over 4000 characters');
    }
    const known = conv.clientIds[frame.client_id];
    if (known) return send(socket, { type: 'ack', client_id: frame.client_id, seq: known, duplicate: true });

    const language = guessLanguage(frame.text);
    conv.language = language;
    const question = this.append(conv, {
      kind: 'message', author: 'buyer', text: frame.text, language: language,
      machine_translated: false, client_id: frame.client_id,
    });
    conv.clientIds[frame.client_id] = question.seq;
    this.save();
    send(socket, { type: 'ack', client_id: frame.client_id, seq: question.seq, duplicate: false });
    if (conv.state === 'bot') this.answer(conv, question);
  }

  answer(conv, question) {
    const found = ANSWERS.find((answer) => answer.pattern.test(question.text));
    const language = question.language;
    const text = found
      ? found.text
      : language === 'es'
        ? 'Gracias por tu mensaje. Un miembro de nuestro equipo lo revisará.'
        : 'Thanks for your message. Someone from our team will look at it.';
    const replyId = 'r-' + question.seq;
    this.broadcast(conv, { type: 'reply_start', reply_id: replyId, reply_to: question.seq, language: language });

    const pieces = text.match(/\S+\s*/g);
    let index = 0;
    const timer = setInterval(() => {
      if (index < pieces.length) {
        this.broadcast(conv, { type: 'delta', reply_id: replyId, text: pieces[index] });
        index += 1;
        return;
      }
      clearInterval(timer);
      this.append(conv, {
        kind: 'message', author: 'bot', text: text, language: language,
        machine_translated: !found || found.language !== language,
        answer_source: found ? 'faq' : 'fallback', sources: found ? found.sources : [],
        reply_to: question.seq, reply_id: replyId, client_id: null,
      });
    }, DELTA_INTERVAL_MS);
  }

  requestPerson(socket) {
    const conv = socket.conv;
    if (conv.state === 'queued' || conv.state === 'staff') return;
    conv.state = 'queued';
    this.append(conv, { kind: 'state', author: 'system', state: 'queued', reason: 'buyer_request' });
    this.append(conv, {
      kind: 'message', author: 'bot', text: 'A person from our team will reply here as soon as possible.',
      language: conv.language || 'en', machine_translated: false, answer_source: 'escalation',
      sources: [], client_id: null,
    });
  }

  rating(socket, frame) {
    const conv = socket.conv;
    const rated = conv.events.find((event) => event.seq === frame.seq && event.author === 'bot');
    if (!rated) return sendError(socket, 'unknown_seq', 'no bot message with seq ' + frame.seq);
    this.append(conv, { kind: 'rating', author: 'buyer', reply_to: frame.seq, rating: frame.value });
  }

  handle(socket, data, isBinary) {
    if (isBinary) return sendError(socket, 'binary_not_supported', 'binary frames are not supported');
    if (data.length > MAX_FRAME_BYTES) return sendError(socket, 'frame_too_large', 'frame over 16 KiB');
    let frame;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch (problem) {
      return sendError(socket, 'invalid_json', 'frame is not valid JSON: ' + problem.message);
    }
    if (frame.type === 'hello') return this.hello(socket, frame);
    if (!socket.conv) return sendError(socket, 'hello_required', 'send hello first');
    switch (frame.type) {
      case 'message': return this.message(socket, frame);
      case 'request_person': return this.requestPerson(socket);
      case 'rating': return this.rating(socket, frame);
      case 'resume': return this.replay(socket, Number(frame.after_seq) || 0);
      case 'ping': return send(socket, { type: 'pong' });
      case 'typing': return undefined;
      default: return sendError(socket, 'invalid_json', 'unknown frame type');
    }
  }

  closed(socket) {
    if (socket.conv) this.sockets.get(socket.conv.token)?.delete(socket);
  }
}

function send(socket, frame) {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(frame));
}

function sendError(socket, code, message) {
  send(socket, { type: 'error', code: code, message: message });
}

function main() {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv[0] === 'serve' ? argv.slice(1) : argv);
  const chat = new MockChat(join(args.dataDir, 'mock-conversations.json'));
  const server = createServer(serveFile);
  const sockets = new WebSocketServer({ server: server, path: '/ws/chat' });
  sockets.on('connection', (socket) => {
    socket.on('message', (data, isBinary) => chat.handle(socket, data, isBinary));
    socket.on('close', () => chat.closed(socket));
  });

  const [host, port] = args.listen.split(/:(?=\d+$)/);
  server.listen(Number(port), host, () => {
    const url = `http://${host}:${server.address().port}`;
    if (args.readyFile) writeFileSync(args.readyFile, url + '\n');
    process.stderr.write(`mock crossdesk listening on ${url}\n`);
  });
}

main();
