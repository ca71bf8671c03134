// Sign-in and people search, in a real browser.
//
// Starts `roster demo` (seeded organisation `acme`, SQLite in a fresh data
// directory) on a free loopback port and drives Debian's Chromium through
// playwright-core. Run by `scripts/test`; on its own:
//
//   cargo build -p roster
//   ROSTER_BIN=target/debug/roster node --test tests/browser/
//
// playwright-core never downloads a browser: it drives /usr/bin/chromium
// (Debian package `chromium`), which `scripts/test` installs.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, sleep } from './support.mjs';
import { chromium } from 'playwright-core';

const SCREENSHOT_DIR = path.join(REPO_ROOT, '.tmp', 'screenshots');

const ORG = 'acme';

/**
 * A running `roster demo`. Keeps reading both of its output streams for as
 * long as it lives (a full pipe would block it) and keeps their tails for
 * error messages.
 */
class RosterDemo {
  static async start() {
    if (!existsSync(ROSTER_BIN)) {
      throw new Error(
        `roster binary not found at ${ROSTER_BIN}.\n` +
          'Build it first (`cargo build -p roster`) or point ROSTER_BIN at it; ' +
          '`scripts/test` does both.',
      );
    }
    const demo = new RosterDemo();
    demo.dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-browser-'));
    demo.port = await freePort();
    demo.baseUrl = `http://127.0.0.1:${demo.port}`;
    demo.stdout = '';
    demo.stderr = '';
    demo.exit = null;
    demo.child = spawn(
      ROSTER_BIN,
      ['demo', '--data-dir', demo.dataDir, '--listen', `127.0.0.1:${demo.port}`],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    demo.exited = new Promise((resolve) => {
      demo.child.on('exit', (code, signal) => {
        demo.exit = { code, signal };
        resolve(demo.exit);
      });
      // spawn failures (ENOENT, EACCES) arrive as 'error' without 'exit'.
      demo.child.on('error', (err) => {
        demo.exit = { error: err };
        resolve(demo.exit);
      });
    });
    const keepTail = (text) => (text.length > 64_000 ? text.slice(-64_000) : text);
    demo.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      demo.stdout = keepTail(demo.stdout + chunk);
    });
    demo.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      demo.stderr = keepTail(demo.stderr + chunk);
    });
    return demo;
  }

  describeFailure(what) {
    const status = this.exit
      ? `it exited (${this.exit.error ?? `code ${this.exit.code}, signal ${this.exit.signal}`})`
      : 'it is still running';
    return (
      `${what}; ${status}.\n` +
      `command: ${ROSTER_BIN} demo --data-dir ${this.dataDir} --listen 127.0.0.1:${this.port}\n` +
      `--- stdout ---\n${this.stdout || '(empty)'}\n` +
      `--- stderr ---\n${this.stderr || '(empty)'}`
    );
  }

  /** Waits for the demo's credentials on stdout, then for /healthz to answer 200. */
  async ready() {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let credentials = null;
    while (!credentials) {
      const email = this.stdout.match(/Email:\s+(\S+)/);
      const password = this.stdout.match(/Password:\s+(\S+)/);
      if (email && password) credentials = { email: email[1], password: password[1] };
      else await this.#tick(deadline, 'no "Email:" and "Password:" lines on stdout');
    }
    let last = 'no answer yet';
    for (;;) {
      try {
        const res = await fetch(`${this.baseUrl}/healthz`, { signal: AbortSignal.timeout(2_000) });
        if (res.status === 200) return credentials;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err.cause?.code ?? err.message;
      }
      await this.#tick(deadline, `GET ${this.baseUrl}/healthz did not answer 200 (last: ${last})`);
    }
  }

  async #tick(deadline, problem) {
    if (this.exit) throw new Error(this.describeFailure(`roster demo is not ready: ${problem}`));
    if (Date.now() > deadline) {
      throw new Error(
        this.describeFailure(`roster demo not ready after ${STARTUP_TIMEOUT_MS / 1000} s: ${problem}`),
      );
    }
    await sleep(200);
  }

  async stop() {
    if (!this.exit) {
      this.child.kill('SIGTERM');
      const force = setTimeout(() => this.exit || this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(force);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

describe('sign-in and people search', () => {
  let demo;
  let credentials;
  let browser;
  const contexts = [];

  // A last resort if the test process is torn down without running `after`.
  const killDemo = () => demo?.child && !demo.exit && demo.child.kill('SIGKILL');
  process.on('exit', killDemo);

  before(async () => {
    demo = await RosterDemo.start();
    credentials = await demo.ready();
    // launch() gives every browser a new, empty user-data dir of its own and
    // removes it on close, so nothing leaks between runs.
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    // Each step on its own, so that one failure does not leave the rest running.
    await browser?.close().catch(() => {});
    await demo?.stop();
    process.off('exit', killDemo);
  });

  /** A fresh browser context (no cookies) with one page. */
  async function newPage() {
    const context = await browser.newContext({ baseURL: demo.baseUrl });
    contexts.push(context);
    context.setDefaultTimeout(15_000);
    return context.newPage();
  }

  afterEach(async () => {
    while (contexts.length) await contexts.pop().close().catch(() => {});
  });

  const pathOf = (page) => new URL(page.url()).pathname;

  /** Types a query into the people search and lets the page settle (a form GET or an in-page request). */
  async function search(page, query) {
    await page.fill('input[name=q]', query);
    await page.press('input[name=q]', 'Enter');
    await page.waitForLoadState('networkidle');
  }

  async function signIn(page, email, password) {
    await page.goto(`/o/${ORG}/login`);
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', password);
    await page.click('button[type=submit]');
  }

  it('signs in and finds Ada Lovelace on the people page', async () => {
    const page = await newPage();
    await signIn(page, credentials.email, credentials.password);
    await page.waitForURL((url) => !url.pathname.endsWith('/login'), {
      timeout: 15_000,
    }).catch(async () => {
      const error = await page.locator('.error').allInnerTexts().catch(() => []);
      throw new Error(
        `still on ${page.url()} after signing in as ${credentials.email}` +
          (error.length ? `; the page says: ${error.join(' / ')}` : ''),
      );
    });

    await page.goto(`/o/${ORG}/people`);
    assert.equal(pathOf(page), `/o/${ORG}/people`, 'a signed-in owner sees the people page');

    const rows = page.locator('table#people tbody tr');
    const adaRow = rows.filter({ hasText: 'Ada Lovelace' });

    await search(page, 'Lovelace');
    await adaRow.first().waitFor({ state: 'visible' });
    assert.ok((await adaRow.count()) >= 1, 'a row for Ada Lovelace');

    await mkdir(SCREENSHOT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, 'people.png'), fullPage: true });

    // A name nobody has: Ada's row goes away and no row matches.
    const nobody = 'Zzyzx-Nobody-Qwv';
    await search(page, nobody);
    await adaRow.first().waitFor({ state: 'detached' });
    assert.equal(await rows.filter({ hasText: nobody }).count(), 0, `no row for ${nobody}`);
    assert.equal(await adaRow.count(), 0, 'Ada Lovelace does not match the search');
  });

  it('refuses a wrong password and keeps the people page closed', async () => {
    const page = await newPage();
    await signIn(page, credentials.email, `${credentials.password}-wrong`);
    await page.locator('.error').first().waitFor({ state: 'visible' });
    assert.match(pathOf(page), new RegExp(`^/o/${ORG}/login/?$`), 'still on the login page');

    await page.goto(`/o/${ORG}/people`);
    assert.match(
      pathOf(page),
      new RegExp(`^/o/${ORG}/login/?$`),
      'without a session, the people page redirects to the login page',
    );
  });
});
