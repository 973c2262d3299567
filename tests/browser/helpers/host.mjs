// Serves seller pages from a second loopback origin, so tests embed the widget
// cross-origin exactly as a seller's site does.

import { createServer } from 'node:http';

/** Returns the Content-Security-Policy that docs/widget.md documents for sellers, for one server. */
export function widgetCsp(serverUrl) {
  const server = new URL(serverUrl);
  const socket = (server.protocol === 'https:' ? 'wss://' : 'ws://') + server.host;
  return [
    "default-src 'self'",
    `script-src 'self' ${server.origin}`,
    `style-src 'self' ${server.origin}`,
    `connect-src 'self' ${server.origin} ${socket}`,
    "img-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Returns a seller page with the widget's script tag; `attributes` become data-* attributes. */
export function sellerPage({ serverUrl, attributes = {}, head = '', lang = 'en', body = '' }) {
  const data = Object.entries({ server: serverUrl, ...attributes })
    .map(([name, value]) => ` data-${name}="${escapeAttribute(value)}"`)
    .join('');
  return `<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Seller page</title>${head}</head>
<body><h1>Seller page</h1><p>Some product text.</p>${body}
<script src="${serverUrl}/widget/v1/widget.js"${data}></script>
</body></html>`;
}

function escapeAttribute(value) {
  return String(value).replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
}

/** An HTTP server on 127.0.0.1 that serves pages registered with `add`. */
export class HostPages {
  constructor() {
    this.pages = new Map();
    this.server = createServer((request, response) => this.serve(request, response));
  }

  async start() {
    await new Promise((done) => this.server.listen(0, '127.0.0.1', done));
    this.origin = `http://127.0.0.1:${this.server.address().port}`;
    return this.origin;
  }

  /** Registers a page and returns its URL; `csp` becomes its Content-Security-Policy header. */
  add(path, html, csp = null) {
    this.pages.set(path, { html, csp });
    return this.origin + path;
  }

  serve(request, response) {
    const page = this.pages.get(new URL(request.url, this.origin).pathname);
    if (!page) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
    if (page.csp) headers['content-security-policy'] = page.csp;
    response.writeHead(200, headers).end(page.html);
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((done) => this.server.close(done));
  }
}
