// The deactivation guard, in a real browser, as an admin meets it: the demo's Entra
// connection is enabled and synced, then re-pointed from its settings page at another
// (simulated) tenant, which the page asks to confirm first. "Sync users" is held instead of deactivating everyone; the run page
// lists who would go and why; Allow, once confirmed, applies the re-planned run.
//
// Run by `scripts/test`; on its own:
//
//   cargo build -p roster
//   ROSTER_BIN=target/debug/roster node --test tests/browser/guard.test.mjs

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, Pages, pathOf, pageText } from './support.mjs';

const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const ORG = 'acme';
const ENTRA = `/o/${ORG}/settings/integrations/entra`;

describe('the deactivation guard in the browser', () => {
  let dataDir;
  let demo;
  let other;
  let browser;
  let pages;
  let owner;
  let tenant;
  const killAll = () => [demo, other].forEach((c) => c?.child && !c.exit && c.child.kill('SIGKILL'));
  process.on('exit', killAll);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) {
      throw new Error(`roster binary not found at ${ROSTER_BIN}: build it (\`cargo build -p roster\`) or set ROSTER_BIN; scripts/test does both.`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-guard-'));
    const port = await freePort();
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    const [, email] = await demo.waitFor(/Email:\s+(\S+)/);
    const [, password] = await demo.waitFor(/Password:\s+(\S+)/);
    await demo.waitFor(/Press Ctrl\+C/);
    owner = { email, password };

    // The other tenant the connection is mistakenly pointed at: a few people, none of the demo's.
    const otherPort = await freePort();
    other = new Child('roster sim entra', ROSTER_BIN, ['sim', 'entra', '--users', '30', '--seed', '2', '--listen', `127.0.0.1:${otherPort}`]);
    await other.waitFor(/Press Ctrl\+C/);
    const field = (label) => other.stdout.match(new RegExp(`${label}:\\s+(\\S+)`))[1];
    tenant = {
      tenant_id: field('Tenant ID'),
      client_id: field('Client ID'),
      client_secret: field('Secret'),
      group_id: field('Group ID'),
      login_base: field('Login base'),
      graph_base: field('Graph base'),
    };

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    pages = new Pages(browser, `http://127.0.0.1:${port}`, 60_000);
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await other?.stop();
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killAll);
  });

  afterEach(() => pages?.closeAll());

  const signedIn = () => pages.signedIn(ORG, owner);

  /** Presses "Sync users" and waits on the run page until the run has finished. */
  async function syncAndWait(page) {
    await page.goto(ENTRA);
    await page.click('#sync-users');
    await page.waitForURL((url) => url.pathname.includes('/runs/'));
    await page.waitForFunction(() => !document.querySelector('#run-status[hx-get]'), null, { timeout: 120_000 }).catch(async () => {
      throw new Error(`the run did not finish: ${await pageText(page)}\n${demo.describe('the demo')}`);
    });
    return (await page.locator('#run-status .status').innerText()).trim();
  }

  it('holds a run of a re-pointed connection, lists who would go, and applies it once allowed', { timeout: 300_000 }, async () => {
    const page = await signedIn();
    await page.goto(ENTRA);
    // The first Enable shows what the first sync would do, and applies nothing.
    await page.click('#enable');
    await page.waitForURL((url) => url.pathname.includes('/runs/'));
    await page.locator('#preview-counts').waitFor({ timeout: 120_000 });
    assert.match(await page.locator('#preview-counts').innerText(), /user\.created\s+\d+/);
    assert.ok((await page.locator('#preview-lines tbody tr').count()) > 10, 'the preview lists the changes');
    const preview = page.url();
    await page.click('#enable-after-preview');
    await page.waitForURL((url) => url.href !== preview);
    await page.waitForFunction(() => !document.querySelector('#run-status[hx-get]'), null, { timeout: 120_000 });
    assert.equal((await page.locator('#run-status .status').innerText()).trim(), 'succeeded', await pageText(page));

    // Re-point the connection at the other tenant, from the settings form.
    await page.goto(ENTRA);
    for (const [name, value] of Object.entries(tenant)) {
      if (name === 'login_base' || name === 'graph_base') continue;
      await page.fill(`input[name=${name}]`, value);
    }
    await page.locator('details summary', { hasText: 'Other clouds' }).click();
    await page.fill('input[name=login_base]', tenant.login_base);
    await page.fill('input[name=graph_base]', tenant.graph_base);
    await page.locator('#save-settings').click();
    // Re-pointing asks first, saying how many people the connection provisions now.
    await page.waitForSelector('#confirm-repoint');
    assert.match(await page.locator('#entra-error').innerText(), /another tenant and group\. The \d+ people it provisions now/);
    await page.locator('#confirm-repoint input').check();
    await page.fill('input[name=client_secret]', tenant.client_secret);
    await page.locator('#save-settings').click();
    await page.waitForSelector('#entra-notice');

    assert.equal(await syncAndWait(page), 'held', await pageText(page));
    const listed = page.locator('#would-deactivate tbody tr');
    assert.ok((await listed.count()) > 100, 'the run page lists who would be deactivated');
    assert.match(await listed.first().innerText(), /@.*no longer in the source/s);
    const runPath = pathOf(page);

    // The settings page says the connection is held and links to the run.
    await page.goto(ENTRA);
    await page.locator('#entra-held a').click();
    assert.equal(pathOf(page), runPath);

    // Allow needs the box ticked: the browser refuses the form without it.
    await page.locator('#allow-run button').click();
    assert.equal(pathOf(page), runPath, 'nothing happens until the admin confirms');
    await page.locator('#allow-run input[name=confirm]').check();
    await page.locator('#allow-run button').click();
    await page.waitForURL((url) => url.pathname.includes('/runs/') && url.pathname !== runPath);
    await page.waitForFunction(() => !document.querySelector('#run-status[hx-get]'), null, { timeout: 120_000 });
    assert.equal((await page.locator('#run-status .status').innerText()).trim(), 'succeeded', await pageText(page));
    const deactivated = await page.locator('#run-report tr', { hasText: 'Deactivated' }).locator('td').innerText();
    assert.ok(Number(deactivated) > 100, `the allowed run deactivated the old tenant's people (${deactivated})`);

    await page.goto(ENTRA);
    assert.equal(await page.locator('#entra-held').count(), 0, 'the connection is released');
  });
});
