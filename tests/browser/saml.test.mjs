// SAML 2.0 single sign-on, in a real browser, against a real identity provider:
// tests/idp/saml.mjs, where samlify (not Roster's code) signs the assertions, with
// Ada's account. The connection is added and enabled with the `roster sso` CLI from
// the provider's metadata URL, as an admin would.
//
// Run by `scripts/test` (which installs tests/idp's packages); on its own:
//
//   cargo build -p roster && (cd tests/idp && npm ci)
//   ROSTER_BIN=target/debug/roster node --test tests/browser/
//
// Under CI (CI set) a missing provider is a failure, never a skip.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, REPO_ROOT, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, roster, Pages, pathOf, pageText, expectSignedIn as signedIn, expectNoSession as noSession, signOut as signOutAt } from './support.mjs';

// A missing package is a failure that says what to do, never a skip.
const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const IDP_DIR = path.join(REPO_ROOT, 'tests', 'idp');
const IDP_SCRIPT = path.join(IDP_DIR, 'saml.mjs');
const ORG = 'acme';
const ADA = 'ada.lovelace@acme.example';
// tests/idp's throwaway account password (its DEFAULT_PASSWORD), passed explicitly.
const IDP_PASSWORD = 'analytical-engine';
const IDP_NAME = 'Test SAML';
const IDP_LOGIN_TITLE = 'Test SAML IdP: sign in';
const HTTP_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** Why tests/idp's SAML provider cannot run here, or null when it can. */
function idpMissing() {
  if (!existsSync(IDP_SCRIPT)) return `${IDP_SCRIPT} is missing`;
  for (const name of ['samlify', 'node-forge', '@xmldom/xmldom']) {
    if (!existsSync(path.join(IDP_DIR, 'node_modules', name))) {
      return `the test SAML identity provider is not installed (no ${name}): run \`npm ci\` in tests/idp (scripts/test does)`;
    }
  }
  return null;
}

const MISSING = idpMissing();

describe('SAML single sign-on in the browser', { skip: !process.env.CI && MISSING ? MISSING : false }, () => {
  let dataDir;
  let demo;
  let idp;
  let baseUrl;
  let idpOrigin;
  let browser;
  let pages;
  const killAll = () => [demo, idp].forEach((c) => c?.child && !c.exit && c.child.kill('SIGKILL'));
  process.on('exit', killAll);

  before(async () => {
    if (MISSING) throw new Error(`CI must run this test: ${MISSING}`);
    if (!existsSync(ROSTER_BIN)) {
      throw new Error(`roster binary not found at ${ROSTER_BIN}: build it (\`cargo build -p roster\`) or set ROSTER_BIN; scripts/test does both.`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-saml-'));
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    await demo.waitFor(/Press Ctrl\+C/);

    // Roster's service provider lives at the demo's own address (the entity ID is its
    // metadata URL); the provider accepts AuthnRequests from it alone.
    const idpPort = await freePort();
    idp = new Child('tests/idp/saml.mjs', process.execPath, [IDP_SCRIPT, String(idpPort)], {
      IDP_SP_ENTITY_ID: `${baseUrl}/o/${ORG}/saml/metadata`,
      IDP_SP_ACS_URL: `${baseUrl}/o/${ORG}/saml/acs`,
      IDP_PASSWORD,
    });
    const [, metadataUrl] = await idp.waitFor(/^metadata (\S+)$/m);
    idpOrigin = new URL(metadataUrl).origin;

    const added = await roster([
      'sso', 'add', 'saml', '--org', ORG, '--data-dir', dataDir, '--name', IDP_NAME,
      '--metadata-url', metadataUrl, '--allow-idp-initiated', '--enable',
    ]);
    const id = added.stdout.trim().split('\n').pop();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, `roster sso add prints the connection's id:\n${added.stdout}`);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    pages = new Pages(browser, baseUrl);
  }, { timeout: STARTUP_TIMEOUT_MS * 3 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await idp?.stop();
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killAll);
  });


  /** Fails with what the page says unless it is the provider's login page. */
  async function expectIdpLogin(page, how) {
    const title = await page.title().catch(() => '');
    if (new URL(page.url()).origin !== idpOrigin || title !== IDP_LOGIN_TITLE) {
      throw new Error(`${how} did not show the provider's login page: the browser is at ${page.url()}; the page says: ${await pageText(page)}\n${idp.describe('the provider')}`);
    }
  }

  /**
   * Waits until the assertion consumer service has signed `who` in, then checks
   * /o/acme/me shows them. The ACS sends people on from Roster's own pages.
   */
  const expectSignedIn = (page, who) => signedIn(page, { baseUrl, org: ORG, who, via: ['/saml/', '/sso/'] });

  const expectNoSession = (page) => noSession(page, ORG);

  /** Opens the login page, clicks "Sign in with Test SAML" and waits to be at the provider. */
  async function toProvider() {
    const page = await pages.open();
    await page.goto(`/o/${ORG}/login`);
    await page.getByRole('button', { name: `Sign in with ${IDP_NAME}` }).click();
    await page.waitForURL((url) => url.origin === idpOrigin, { timeout: 10_000 }).catch(() => {});
    await expectIdpLogin(page, `"Sign in with ${IDP_NAME}"`);
    return page;
  }

  async function signInAtProvider(page, password = IDP_PASSWORD) {
    await page.fill('input[name=email]', ADA);
    await page.fill('input[name=password]', password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  const signOut = (page) => signOutAt(page, ORG);

  it("serves the organisation's service provider metadata", async () => {
    const entityId = `${baseUrl}/o/${ORG}/saml/metadata`;
    const acs = `${baseUrl}/o/${ORG}/saml/acs`;
    const response = await fetch(entityId);
    const xml = await response.text();
    assert.equal(response.status, 200, `GET ${entityId}:\n${xml.slice(0, 500)}`);
    assert.ok(xml.includes(`entityID="${entityId}"`), `the metadata names its entity ID:\n${xml}`);
    const services = xml.match(/<(?:[\w-]+:)?AssertionConsumerService\b[^>]*>/g) ?? [];
    assert.ok(
      services.some((tag) => tag.includes(`Binding="${HTTP_POST}"`) && tag.includes(`Location="${acs}"`)),
      `the metadata has an HTTP-POST AssertionConsumerService at ${acs}:\n${xml}`,
    );
  });

  it('signs Ada in from the login page (SP-initiated), then signs her out', async () => {
    const page = await toProvider();
    await signInAtProvider(page);
    await expectSignedIn(page, ADA);
    await signOut(page);
  });

  it("signs Ada in from the provider's own page (IdP-initiated), then signs her out", async () => {
    const page = await pages.open();
    await page.goto(`${idpOrigin}/idp-initiated`);
    await expectIdpLogin(page, 'The IdP-initiated sign-in');
    await signInAtProvider(page);
    await expectSignedIn(page, ADA);
    await signOut(page);
  });

  it('stays at the provider on a wrong password, and a cancel comes back without a session', async () => {
    const page = await toProvider();
    await signInAtProvider(page, `${IDP_PASSWORD}-wrong`);
    await page.getByRole('alert').waitFor({ state: 'visible' });
    assert.match(await page.getByRole('alert').innerText(), /wrong email or password/i);
    assert.equal(new URL(page.url()).origin, idpOrigin, 'nothing was posted to Roster');

    // Cancel answers the AuthnRequest with a Responder status: Roster must refuse it.
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL((url) => url.origin === baseUrl, { timeout: 20_000 }).catch(async () => {
      throw new Error(`Cancel did not lead back to Roster: the browser is at ${page.url()}; the page says: ${await pageText(page)}`);
    });
    await expectNoSession(page);
  });
});
