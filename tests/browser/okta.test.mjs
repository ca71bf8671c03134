// Okta the standard way, in a real browser: `roster demo` connects its organisation `globex` to
// a simulated Okta and registers the event hook; a change made in Okta reaches the person's page
// within seconds, its people sign in with Okta, and the Okta page shows the connection, runs a
// sync and lists it.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, ROSTER_BIN, STARTUP_TIMEOUT_MS, expectSignedIn, freePort, Pages, pageText, sleep } from './support.mjs';

const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const ORG = 'globex';

describe('Okta (standard) in the browser', () => {
  let dataDir;
  let demo;
  let browser;
  let pages;
  let owner;
  let sim;
  let baseUrl;
  const killDemo = () => demo?.child && !demo.exit && demo.child.kill('SIGKILL');
  process.on('exit', killDemo);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) throw new Error(`roster binary not found at ${ROSTER_BIN}: build it or set ROSTER_BIN`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-okta-'));
    const port = await freePort();
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    const [, email, password, simUrl, hook] = await demo.waitFor(/Okta:\s+\S+ signs in as (\S+) \/ (\S+) \(a simulated Okta at (\S+), connected the standard way; its event hook (is verified)/);
    await demo.waitFor(/Press Ctrl\+C/);
    assert.ok(hook);
    owner = { email, password };
    sim = simUrl;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    baseUrl = `http://127.0.0.1:${port}`;
    pages = new Pages(browser, baseUrl, 30_000);
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killDemo);
  });

  afterEach(() => pages?.closeAll());

  const signedIn = () => pages.signedIn(ORG, owner);

  /** An active user assigned to the app, from the simulated Okta's own API. */
  async function activeAssignedUser() {
    const org = await (await fetch(`${sim}/_sim/org`)).json();
    const answer = await fetch(`${sim}/api/v1/apps/${org.appId}/users?limit=200&expand=user`, { headers: { authorization: `SSWS ${org.apiToken}` } });
    const rows = await answer.json();
    const user = rows.map((r) => r._embedded.user).find((u) => u.status === 'ACTIVE');
    assert.ok(user, 'the simulated org has an active assigned user');
    return user;
  }

  it('shows the connection, syncs from the page and lists the run', async () => {
    const page = await signedIn();
    await page.goto(`/o/${ORG}/settings/integrations/okta`);
    assert.match(await page.locator('#okta-health').innerText(), /healthy/, await pageText(page));
    assert.match(await page.locator('#okta-hook-url').innerText(), /\/okta\/hooks\//);
    await page.click('#okta-sync');
    await page.waitForSelector('#okta-notice');
    for (let i = 0; i < 50; i++) {
      await page.reload();
      const runs = await page.locator('#okta-runs tbody tr').allInnerTexts();
      if (runs.some((r) => r.includes('manual') && r.includes('succeeded'))) return;
      await sleep(200);
    }
    assert.fail(`the manual run did not succeed: ${await pageText(page)}`);
  });

  it('signs a person the connection provisions in with Okta', async () => {
    const user = await activeAssignedUser();
    const page = await pages.open();
    await page.goto(`/o/${ORG}/login`);
    await page.getByRole('button', { name: 'Sign in with Okta' }).click();
    await page.waitForURL((url) => url.origin === new URL(sim).origin);
    await page.fill('#username', user.profile.login);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectSignedIn(page, { baseUrl, org: ORG, who: user.profile.email, via: ['/sso/', '/oauth2/'] });
  });

  it('a suspension in Okta reaches the person page by event hook', async () => {
    const user = await activeAssignedUser();
    const page = await signedIn();
    await page.goto(`/o/${ORG}/people?q=${encodeURIComponent(user.profile.login)}`);
    await page.click(`text=${user.profile.firstName} ${user.profile.lastName}`);
    const personPage = page.url();
    assert.doesNotMatch(await page.locator('body').innerText(), /\bDeactivated\b/);
    const suspended = await fetch(`${sim}/_sim/users/${user.id}/suspend`, { method: 'POST' });
    assert.equal(suspended.status, 200);
    const started = Date.now();
    for (;;) {
      await page.goto(personPage);
      if (/deactivated/i.test(await page.locator('.status').first().innerText())) break;
      assert.ok(Date.now() - started < 10_000, `not deactivated within 10 s: ${await pageText(page)}`);
      await sleep(200);
    }
  });
});
