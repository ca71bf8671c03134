// Single sign-on (OpenID Connect), in a real browser, against real providers:
//
//   - tests/idp: oidc-provider, a certified OpenID provider, with Ada's account;
//     the connection is added and enabled with the `roster sso` CLI, as an admin would;
//   - the Microsoft Entra simulator that `roster demo` serves, after a sync.
//
// Run by `scripts/test` (which installs tests/idp's packages); on its own:
//
//   cargo build -p roster && (cd tests/idp && npm ci)
//   ROSTER_BIN=target/debug/roster node --test tests/browser/
//
// Under CI (CI set) a missing provider is a failure, never a skip.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, REPO_ROOT, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, roster, Pages, pathOf, pageText, expectSignedIn as signedIn, signOut as signOutAt } from './support.mjs';

// A missing package is a failure that says what to do, never a skip.
const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const IDP_DIR = path.join(REPO_ROOT, 'tests', 'idp');
const IDP_SCRIPT = path.join(IDP_DIR, 'oidc.mjs');
// The demo's simulated tenant has 2,000 people; a debug build syncs them in well under this.
const SYNC_TIMEOUT_MS = 240_000;
const ORG = 'acme';
const ADA = 'ada.lovelace@acme.example';
// tests/idp's throwaway account password (its DEFAULT_PASSWORD), passed explicitly.
const IDP_PASSWORD = 'analytical-engine';
const IDP_NAME = 'Test IdP';

/** Why tests/idp cannot run here, or null when it can. */
function idpMissing() {
  if (!existsSync(IDP_SCRIPT)) return `${IDP_SCRIPT} is missing`;
  if (!existsSync(path.join(IDP_DIR, 'node_modules', 'oidc-provider'))) {
    return 'the test OpenID provider is not installed: run `npm ci` in tests/idp (scripts/test does)';
  }
  return null;
}

describe('single sign-on in the browser', () => {
  let dataDir;
  let demo;
  let idp;
  let baseUrl;
  let owner;
  let browser;
  let pages;
  const killAll = () => [demo, idp].forEach((c) => c?.child && !c.exit && c.child.kill('SIGKILL'));
  process.on('exit', killAll);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) {
      throw new Error(`roster binary not found at ${ROSTER_BIN}: build it (\`cargo build -p roster\`) or set ROSTER_BIN; scripts/test does both.`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-sso-'));
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    const [, email] = await demo.waitFor(/Email:\s+(\S+)/);
    const [, password] = await demo.waitFor(/Password:\s+(\S+)/);
    await demo.waitFor(/Press Ctrl\+C/);
    owner = { email, password };
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    pages = new Pages(browser, baseUrl);
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await idp?.stop();
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killAll);
  });


  /**
   * Waits until the callback has signed `who` in, then checks /o/acme/me shows them. The
   * callback always lands on the organisation's front page, whose job is to send people on.
   */
  const expectSignedIn = (page, who) => signedIn(page, { baseUrl, org: ORG, who, via: ['/sso/'] });

  /** Opens the login page, clicks "Sign in with NAME" and waits to be at the provider. */
  async function toProvider(name, origin) {
    const page = await pages.open({});
    await page.goto(`/o/${ORG}/login`);
    await page.getByRole('button', { name: `Sign in with ${name}` }).click();
    const arrived = await page.waitForURL((url) => url.origin === origin, { timeout: 10_000 }).then(() => true, () => false);
    if (!arrived) {
      throw new Error(`"Sign in with ${name}" did not lead to ${origin}: the browser is at ${page.url()}; the page says: ${await pageText(page)}`);
    }
    return { page };
  }

  const signOut = (page) => signOutAt(page, ORG);

  it('signs Ada in with a generic OpenID provider added by the CLI, then signs her out', async (t) => {
    const missing = idpMissing();
    if (missing) {
      if (process.env.CI) throw new Error(`CI must run this test: ${missing}`);
      t.skip(missing);
      return;
    }
    // The demo's own address: a separate `roster sso list` process would name the configured
    // default instead of the port this demo listens on.
    const redirectUri = `${baseUrl}/o/${ORG}/sso/callback`;

    const secret = randomBytes(24).toString('base64url');
    const idpPort = await freePort();
    idp = new Child('tests/idp', process.execPath, [IDP_SCRIPT, String(idpPort)], {
      IDP_CLIENT_ID: 'roster-test',
      IDP_CLIENT_SECRET: secret,
      IDP_REDIRECT_URI: redirectUri,
      IDP_PASSWORD,
    });
    const [, issuer] = await idp.waitFor(/issuer (\S+)/);

    const added = await roster(
      ['sso', 'add', 'oidc', '--org', ORG, '--data-dir', dataDir, '--name', IDP_NAME, '--client-id', 'roster-test',
        '--client-secret-env', 'ROSTER_TEST_IDP_SECRET', '--discovery-url', `${issuer}/.well-known/openid-configuration`],
      { ROSTER_TEST_IDP_SECRET: secret },
    );
    const id = added.stdout.trim().split('\n').pop();
    assert.match(id, /^[0-9a-f-]{36}$/, `roster sso add prints the connection's id:\n${added.stdout}`);
    await roster(['sso', 'enable', '--org', ORG, '--data-dir', dataDir, id]);

    const { page } = await toProvider(IDP_NAME, issuer);
    await page.fill('input[name=email]', ADA);
    await page.fill('input[name=password]', IDP_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectSignedIn(page, ADA);
    await signOut(page);
  });

  it('signs a synced person in with Microsoft through the Entra simulator', { timeout: SYNC_TIMEOUT_MS + 120_000 }, async (t) => {
    // The owner enables the demo's Entra connection and syncs it.
    const admin = await pages.open();
    await admin.goto(`/o/${ORG}/login`);
    await admin.fill('input[name=email]', owner.email);
    await admin.fill('input[name=password]', owner.password);
    await admin.click('form:not(.sso) button[type=submit]');
    await admin.waitForURL((url) => !url.pathname.endsWith('/login'));
    await admin.goto(`/o/${ORG}/settings/integrations/entra`);
    const enable = admin.locator('button#enable');
    if (await enable.count()) {
      // The first Enable shows a preview of the first sync, then "Enable and sync".
      await enable.click();
      const preview = admin.url();
      await admin.locator('button#enable-after-preview').click({ timeout: SYNC_TIMEOUT_MS });
      await admin.waitForURL((url) => url.href !== preview);
    } else {
      await admin.locator('button#sync-users').click();
    }
    await admin.locator('#run-report').waitFor({ state: 'visible', timeout: SYNC_TIMEOUT_MS }).catch(async () => {
      const status = await admin.locator('#run-status').innerText().catch(() => '(no run status)');
      throw new Error(`the Entra sync did not finish: ${status}`);
    });

    const simOrigin = demo.stdout.match(/simulated tenant .* at (http:\/\/127\.0\.0\.1:\d+)/)?.[1];
    assert.ok(simOrigin, `roster demo names its Entra simulator:\n${demo.stdout}`);

    // Someone synced signs in on the simulator's page, with the UPN it suggests.
    const { page } = await toProvider('Microsoft', simOrigin);
    const upn = (await page.locator('.hint code').innerText()).trim();
    assert.match(upn, /@/, 'the simulator suggests a UPN');
    await page.fill('input[name=login]', upn);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectSignedIn(page, upn);
    await signOut(page);

    // Cancel on Microsoft's page comes back as a refusal, not a session.
    await page.goto(`/o/${ORG}/login`);
    await page.getByRole('button', { name: 'Sign in with Microsoft' }).click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.error').first().waitFor({ state: 'visible' });
    assert.notEqual(pathOf(page), `/o/${ORG}/me`);
  });
});
