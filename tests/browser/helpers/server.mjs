// Starts the crossdesk server for a browser test and stops it afterwards.
//
// The binary is target/debug/crossdesk in the repository (override with CROSSDESK_BIN).
// CROSSDESK_MOCK=1 starts the Node mock in mock/server.mjs instead, which takes the same flags.
// The server writes its base URL and a newline to the ready file once it accepts connections.

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BROWSER_TESTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPOSITORY_DIR = resolve(BROWSER_TESTS_DIR, '..', '..');
const READY_TIMEOUT_MS = 60000;
const STOP_TIMEOUT_MS = 5000;

export function serverCommand() {
  if (process.env.CROSSDESK_MOCK === '1') {
    return [process.execPath, [join(BROWSER_TESTS_DIR, 'mock', 'server.mjs')]];
  }
  const binary = process.env.CROSSDESK_BIN || join(REPOSITORY_DIR, 'target', 'debug', 'crossdesk');
  if (!existsSync(binary)) {
    throw new Error(`server binary not found at ${binary}: run \`cargo build\` or set CROSSDESK_BIN`);
  }
  return [binary, []];
}

/** A crossdesk server process with its own data directory. */
export class TestServer {
  constructor() {
    this.dataDir = mkdtempSync(join(tmpdir(), 'crossdesk-browser-'));
    this.process = null;
    this.baseUrl = null;
    this.port = 0;
    this.starts = 0;
  }

  /** Starts the server, on `port` when given (a restart keeps the port), and waits until it is ready. */
  async start(port = this.port) {
    const readyFile = join(this.dataDir, 'ready');
    rmSync(readyFile, { force: true });
    const [command, prefix] = serverCommand();
    const args = [
      ...prefix, 'serve',
      '--listen', `127.0.0.1:${port}`,
      '--data-dir', this.dataDir,
      '--ready-file', readyFile,
      '--no-model',
    ];
    this.starts += 1;
    const log = createWriteStream(join(this.dataDir, `server-${this.starts}.log`));
    // The server finds knowledge-base/ relative to its working directory.
    const child = spawn(command, args, { cwd: REPOSITORY_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.process = child;

    this.baseUrl = await waitForReady(child, readyFile, this.logPath());
    this.port = Number(new URL(this.baseUrl).port);
    return this.baseUrl;
  }

  /**
   * Creates a staff account in this server's data directory with
   * `crossdesk --data-dir DIR staff add NAME ... --password-stdin`, before or while the server runs.
   */
  async addStaff({ name, password, role = 'staff', language = 'en', displayName = name }) {
    if (process.env.CROSSDESK_MOCK === '1') {
      throw new Error('the Node mock has no staff accounts; run the console tests against the real binary');
    }
    const [command, prefix] = serverCommand();
    const args = [
      ...prefix, '--data-dir', this.dataDir,
      'staff', 'add', name,
      '--role', role,
      '--language', language,
      '--display-name', displayName,
      '--password-stdin',
    ];
    const child = spawn(command, args, { cwd: REPOSITORY_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.stdin.end(password + '\n');
    const code = await new Promise((done) => child.once('close', done));
    if (code !== 0) throw new Error(`\`staff add ${name}\` exited with ${code}: ${output.trim()}`);
  }

  logPath() {
    return join(this.dataDir, `server-${this.starts}.log`);
  }

  /** Stops the server: SIGKILL simulates a crash, SIGTERM a clean shutdown. */
  async stop(signal = 'SIGTERM') {
    const child = this.process;
    this.process = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;

    const exited = new Promise((done) => child.once('exit', done));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }

  async restart(signal = 'SIGKILL') {
    await this.stop(signal);
    return this.start(this.port);
  }

  async dispose() {
    await this.stop();
    if (!process.env.CROSSDESK_KEEP_DATA) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

async function waitForReady(child, readyFile, logPath) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`server exited before it was ready (${child.exitCode ?? child.signalCode}); log: ${readLog(logPath)}`);
    }
    const text = existsSync(readyFile) ? readFileSync(readyFile, 'utf8') : '';
    if (text.endsWith('\n')) return text.trim().replace(/\/+$/, '');
    await new Promise((done) => setTimeout(done, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`server was not ready within ${READY_TIMEOUT_MS} ms; log: ${readLog(logPath)}`);
}

function readLog(path) {
  return existsSync(path) ? readFileSync(path, 'utf8').slice(-2000) : '(no log)';
}
