// Running the directory from the pages, in a real browser: deactivating someone through its
// confirmation, a bulk action over every match of a filter, the CSV export, and the
// Individuals and person pages on a 390-pixel-wide phone without sideways scrolling.

import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, Child, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, Pages, pageText } from './support.mjs';

const { chromium } = await import('playwright-core').catch((err) => {
  throw new Error(`playwright-core is not installed (${err.code ?? err.message}): run \`npm ci\` in tests/browser; scripts/test does.`);
});

const ORG = 'acme';

describe('the directory in the browser', () => {
  let dataDir;
  let demo;
  let browser;
  let pages;
  let owner;
  const killDemo = () => demo?.child && !demo.exit && demo.child.kill('SIGKILL');
  process.on('exit', killDemo);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) {
      throw new Error(`roster binary not found at ${ROSTER_BIN}: build it (\`cargo build -p roster\`) or set ROSTER_BIN; scripts/test does both.`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-directory-'));
    const port = await freePort();
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`]);
    const [, email] = await demo.waitFor(/Email:\s+(\S+)/);
    const [, password] = await demo.waitFor(/Password:\s+(\S+)/);
    await demo.waitFor(/Press Ctrl\+C/);
    owner = { email, password };
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    pages = new Pages(browser, `http://127.0.0.1:${port}`, 30_000);
  }, { timeout: STARTUP_TIMEOUT_MS * 2 + 30_000 });

  after(async () => {
    await browser?.close().catch(() => {});
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killDemo);
  });

  afterEach(() => pages?.closeAll());

  const signedIn = (options = {}) => pages.signedIn(ORG, owner, options);

  /** Filters Individuals by a team's name and waits for the results to change. */
  async function filterByTeam(page, team) {
    const before = await page.locator('#result-count').innerText();
    await page.selectOption('select[name=team]', { label: team });
    await page.waitForFunction((old) => document.querySelector('#result-count')?.innerText !== old, before);
    await page.waitForLoadState('networkidle');
  }

  const matches = async (page) => Number((await page.locator('#result-count').innerText()).match(/^(\d+)/)[1]);

  it('deactivates a person only once the confirmation is ticked', async () => {
    const page = await signedIn();
    await page.goto(`/o/${ORG}/people?q=Lovelace`);
    await page.locator('table#people a', { hasText: 'Ada Lovelace' }).click();
    await page.waitForURL((url) => /\/people\/[0-9a-f-]{36}$/.test(url.pathname));
    const deactivate = page.locator('#deactivate-form button');
    await deactivate.click();
    // The unticked box stops the form in the browser: still active.
    assert.match(await page.locator('h1 .status').innerText(), /active|invited/);
    await page.check('#deactivate-form input[name=confirm]');
    await deactivate.click();
    await page.locator('.notice', { hasText: 'is deactivated' }).waitFor();
    assert.equal((await page.locator('h1 .status').innerText()).trim(), 'deactivated', await pageText(page));
    // A reload of the result changes nothing and asks nothing (Post/Redirect/Get).
    await page.reload();
    assert.equal((await page.locator('h1 .status').innerText()).trim(), 'deactivated');
    await page.click('#reactivate-form button');
    await page.locator('.notice', { hasText: 'again' }).waitFor();
  });

  it('adds every match of a filter to a team, after a confirmation that names the count', async () => {
    const page = await signedIn();
    await page.goto(`/o/${ORG}/people`);
    await filterByTeam(page, 'Marketing');
    const count = await matches(page);
    assert.ok(count > 5, `Marketing has people (${count})`);
    await page.selectOption('#bulk select[name=scope]', 'matching');
    await page.selectOption('#bulk select[name=action]', 'add_to_team');
    await page.fill('#bulk input[name=team_name]', 'Finance');
    await page.click('#bulk button[type=submit]');
    await page.locator('h1', { hasText: `${count} people?` }).waitFor();
    assert.match(await page.locator('h1').innerText(), /Add to the secondary team Finance/);
    await page.check('#bulk-confirm input[name=confirm]');
    await page.click('#bulk-confirm button[type=submit]');
    await page.locator('#bulk-notice').waitFor();
    // Heads of departments were already in Finance or not: every one of them is counted.
    assert.match(await page.locator('#bulk-notice').innerText(), new RegExp(`^\\d+ (person|people) added to the team\\.`));
    const changed = Number((await page.locator('#bulk-notice').innerText()).match(/^(\d+)/)[1]);
    assert.ok(changed > 0 && changed <= count, `changed ${changed} of ${count}`);
  });

  it('downloads every match of the filters as CSV', async () => {
    const page = await signedIn();
    await page.goto(`/o/${ORG}/people`);
    await filterByTeam(page, 'Support');
    const count = await matches(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#people-csv')]);
    const text = await readFile(await download.path(), 'utf8');
    const lines = text.trim().split('\n');
    assert.match(lines[0], /^id,email,first_name/);
    assert.equal(lines.length - 1, count, 'one row per match');
    assert.ok(download.suggestedFilename().endsWith('-people.csv'));
  });

  it('shows Individuals and a person on a 390-pixel phone without sideways scrolling', async () => {
    const page = await signedIn({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const noSidewaysScroll = async (what) => {
      const [scroll, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      assert.ok(scroll <= width, `${what}: the page is ${scroll}px wide on a ${width}px screen`);
    };
    const reachable = async (locator, what) => {
      const box = await locator.boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${what} is on the screen: ${JSON.stringify(box)}`);
    };
    await page.goto(`/o/${ORG}/people`);
    await noSidewaysScroll('Individuals');
    await reachable(page.locator('header nav a', { hasText: 'Settings' }), 'Settings');
    await reachable(page.getByRole('button', { name: 'Sign out' }), 'Sign out');
    await page.locator('table#people tbody a').first().click();
    await page.waitForURL((url) => /\/people\/[0-9a-f-]{36}$/.test(url.pathname));
    await noSidewaysScroll('a person');
    await page.goto(`/o/${ORG}/teams`);
    await noSidewaysScroll('Teams');
    await page.goto(`/o/${ORG}/audit`);
    await noSidewaysScroll('the audit log');
  });
});
