// Entra in real time, in a real browser: the demo's Entra connection is enabled from its page,
// which then lists the change-notification subscriptions Graph accepted; a person changed in
// the simulated tenant (with `roster sim entra edit-user`, as a tester would) shows the change
// on their page within seconds, the audit trail naming the notification; emptying the group
// holds the run for an admin instead of deactivating everyone.
//
// Run by `scripts/test`; on its own:
//
//   cargo build -p roster
//   ROSTER_BIN=target/debug/roster node --test tests/browser/entra_live.test.mjs

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, Pages, pageText, roster, sleep } from './support.mjs';

const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const ORG = 'acme';
const ENTRA = `/o/${ORG}/settings/integrations/entra`;

describe('Entra live updates in the browser', () => {
  let dataDir;
  let demo;
  let browser;
  let pages;
  let owner;
  let someone;
  let sim;
  const killDemo = () => demo?.child && !demo.exit && demo.child.kill('SIGKILL');
  process.on('exit', killDemo);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) throw new Error(`roster binary not found at ${ROSTER_BIN}: build it or set ROSTER_BIN`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-entra-live-'));
    const port = await freePort();
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    const [, email] = await demo.waitFor(/Email:\s+(\S+)/);
    const [, password] = await demo.waitFor(/Password:\s+(\S+)/);
    const [, upn, simUrl] = await demo.waitFor(/Live:.*edit-user (\S+) --set jobTitle=Pilot --sim (\S+)/);
    await demo.waitFor(/Press Ctrl\+C/);
    owner = { email, password };
    someone = upn;
    sim = simUrl;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    pages = new Pages(browser, `http://127.0.0.1:${port}`, 60_000);
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killDemo);
  });

  afterEach(() => pages?.closeAll());

  const signedIn = () => pages.signedIn(ORG, owner);

  /** Reloads `url` until `check` passes, for up to `ms`. */
  async function until(page, url, check, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
      await page.goto(url);
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`${what}: ${await pageText(page)}\n${demo.describe('the demo')}`);
      await sleep(100);
    }
  }

  it('subscribes when enabled, shows a change within seconds naming the notification, and holds an emptied group', { timeout: 300_000 }, async () => {
    const page = await signedIn();
    await page.goto(ENTRA);
    assert.match(await page.locator('#entra-live').innerText(), /Off while the connection is disabled/);
    await page.click('#enable');
    await page.waitForURL((url) => url.pathname.includes('/runs/'));
    await page.locator('#preview-counts').waitFor({ timeout: 120_000 });
    const preview = page.url();
    await page.click('#enable-after-preview');
    await page.waitForURL((url) => url.href !== preview);
    await page.waitForFunction(() => !document.querySelector('#run-status[hx-get]'), null, { timeout: 120_000 });
    assert.equal((await page.locator('#run-status .status').innerText()).trim(), 'succeeded', await pageText(page));

    // The page lists the subscriptions Graph accepted, with their expiry.
    await until(page, ENTRA, async () => (await page.locator('#entra-live tbody tr').count()) === 2, 30_000, 'no subscriptions listed');
    const live = await page.locator('#entra-live').innerText();
    assert.match(live, /users/);
    assert.match(live, /groups/);

    // The person, found by their address.
    await page.goto(`/o/${ORG}/people?q=${encodeURIComponent(someone)}`);
    await page.locator('table a[href*="/people/"]').first().click();
    await page.waitForURL((url) => /\/people\/[0-9a-f-]+$/.test(url.pathname));
    const personPage = new URL(page.url()).pathname;
    const profile = () => page.locator('dl.fields').first().innerText();
    assert.doesNotMatch(await profile(), /\bPilot\b/);

    // Changed in the tenant from the command line; on their page within seconds.
    const changed = Date.now();
    await roster(['sim', 'entra', 'edit-user', someone, '--set', 'jobTitle=Pilot', '--sim', sim]);
    await until(page, personPage, async () => /\bPilot\b/.test(await profile()), 10_000, 'the change never arrived');
    const took = Date.now() - changed;
    assert.ok(took < 5_000, `the change took ${took} ms`);
    console.log(`a change in the tenant was on the person's page after ${took} ms (command line start included)`);
    const trail = await page.locator('#audit tbody tr').first().innerText();
    assert.match(trail, /via change notification/, trail);

    // Emptying the group in the tenant: held for an admin, nobody deactivated.
    const info = await roster(['sim', 'entra', 'info', '--sim', sim]);
    const group = info.stdout.match(/group ([0-9a-f-]{36})/)?.[1];
    assert.ok(group, `no top group in: ${info.stdout}`);
    await roster(['sim', 'entra', 'empty-group', group, '--sim', sim]);
    await until(page, ENTRA, async () => (await page.locator('#entra-held').count()) === 1, 15_000, 'the connection was not held');
    await page.goto(personPage);
    assert.notEqual((await page.locator('h1 .status').innerText()).trim(), 'deactivated', 'nobody was deactivated');
  });
});
