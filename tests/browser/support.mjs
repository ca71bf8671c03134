// What the browser tests share: where things are, how Chromium starts here, free ports,
// the processes they start, and the sign-in checks.
// (Not a test file: `node --test` runs only `*.test.mjs`.)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ROSTER_BIN = path.resolve(REPO_ROOT, process.env.ROSTER_BIN ?? 'target/debug/roster');
export const CHROMIUM = process.env.ROSTER_CHROMIUM ?? '/usr/bin/chromium';
export const STARTUP_TIMEOUT_MS = 60_000;

// Chromium may only talk to loopback here: without these flags it keeps
// trying to reach the vendor's services, and every attempt is refused.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox', // CI runs as root, where Chromium's sandbox refuses to start
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A child process whose output is kept (a full pipe would block it) for error messages. */
export class Child {
  constructor(name, command, args, env = {}) {
    this.name = name;
    this.command = `${command} ${args.join(' ')}`;
    this.stdout = '';
    this.stderr = '';
    this.exit = null;
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve((this.exit = { code, signal })));
      this.child.on('error', (error) => resolve((this.exit = { error })));
    });
    const tail = (text) => (text.length > 64_000 ? text.slice(-64_000) : text);
    this.child.stdout.setEncoding('utf8').on('data', (c) => (this.stdout = tail(this.stdout + c)));
    this.child.stderr.setEncoding('utf8').on('data', (c) => (this.stderr = tail(this.stderr + c)));
  }

  describe(what) {
    const status = this.exit ? `it exited (${this.exit.error ?? `code ${this.exit.code}, signal ${this.exit.signal}`})` : 'it is still running';
    return `${this.name}: ${what}; ${status}.\ncommand: ${this.command}\n--- stdout ---\n${this.stdout || '(empty)'}\n--- stderr ---\n${this.stderr || '(empty)'}`;
  }

  /** Waits until `pattern` shows on stdout and returns the match. */
  async waitFor(pattern, timeoutMs = STARTUP_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const match = this.stdout.match(pattern);
      if (match) return match;
      if (this.exit) throw new Error(this.describe(`never printed ${pattern}`));
      if (Date.now() > deadline) throw new Error(this.describe(`did not print ${pattern} within ${timeoutMs / 1000} s`));
      await sleep(100);
    }
  }

  async stop() {
    if (this.exit) return;
    this.child.kill('SIGTERM');
    const force = setTimeout(() => this.exit || this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(force);
  }
}

/** Runs `roster ARGS` to completion; fails with its output unless it exits 0. */
export async function roster(args, env = {}) {
  const run = new Child('roster', ROSTER_BIN, args, env);
  const exit = await run.exited;
  if (exit.code !== 0) throw new Error(run.describe('failed'));
  return run;
}

export const pathOf = (page) => new URL(page.url()).pathname;

/** The start of what a page says, for error messages. */
export const pageText = async (page) => (await page.locator('body').innerText().catch(() => '')).slice(0, 500);

/** Fresh browser contexts (no cookies) at one address; `closeAll` after each test. */
export class Pages {
  constructor(browser, baseURL, timeoutMs = 20_000) {
    this.browser = browser;
    this.baseURL = baseURL;
    this.timeoutMs = timeoutMs;
    this.contexts = [];
  }

  async open(options = {}) {
    const context = await this.browser.newContext({ baseURL: this.baseURL, ...options });
    this.contexts.push(context);
    context.setDefaultTimeout(this.timeoutMs);
    return context.newPage();
  }

  /** A fresh page signed in to `org` with the login form as `who` ({ email, password }). */
  async signedIn(org, who, options = {}) {
    const page = await this.open(options);
    await page.goto(`/o/${org}/login`);
    await page.fill('input[name=email]', who.email);
    await page.fill('input[name=password]', who.password);
    await page.click('button[type=submit]');
    await page.waitForURL((url) => !url.pathname.endsWith('/login'));
    return page;
  }

  async closeAll() {
    while (this.contexts.length) await this.contexts.pop().close().catch(() => {});
  }
}

/**
 * Waits until a sign-in has brought the browser back to Roster at `baseUrl` (not to a path
 * containing one of `via`, nor to the login page), then checks /o/ORG/me shows `who`.
 */
export async function expectSignedIn(page, { baseUrl, org, who, via }) {
  const back = (url) => url.origin === baseUrl && !via.some((part) => url.pathname.includes(part)) && !url.pathname.endsWith('/login');
  await page.waitForURL(back, { timeout: 20_000 }).catch(async () => {
    throw new Error(`${who} was not signed in: the browser is at ${page.url()}; the page says: ${await pageText(page)}`);
  });
  await page.goto(`/o/${org}/me`);
  assert.equal(pathOf(page), `/o/${org}/me`, `${who} has a session`);
  const shown = (await page.locator('#my-email').innerText()).trim();
  assert.equal(shown.toLowerCase(), who.toLowerCase(), '/me shows who signed in');
}

/** /o/ORG/me sends a browser without a session to the login page. */
export async function expectNoSession(page, org) {
  await page.goto(`/o/${org}/me`);
  assert.match(pathOf(page), new RegExp(`^/o/${org}/login/?$`), 'no session: /me sends to the login page');
}

/** Presses "Sign out" and checks the session is gone. */
export async function signOut(page, org) {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL((url) => url.pathname.startsWith(`/o/${org}/login`) || url.pathname === '/');
  await expectNoSession(page, org);
}
