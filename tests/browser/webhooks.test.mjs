// Webhooks as a receiver sees them: `roster demo` delivers its events to a receiver on
// loopback that verifies every request with the official Standard Webhooks library, across a
// secret rotation. (Not a browser test; it lives with them for Node and its packages.)

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { Child, ROSTER_BIN, STARTUP_TIMEOUT_MS, freePort, roster, sleep } from './support.mjs';

const ORG = 'acme';
const ENV = { ROSTER_WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true' };

describe('webhooks verified by the Standard Webhooks library', () => {
  let dataDir;
  let demo;
  let receiver;
  const received = [];
  const killDemo = () => demo?.child && !demo.exit && demo.child.kill('SIGKILL');
  process.on('exit', killDemo);

  before(async () => {
    if (!existsSync(ROSTER_BIN)) throw new Error(`roster binary not found at ${ROSTER_BIN}: build it or set ROSTER_BIN`);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'roster-webhooks-'));
    const port = await freePort();
    demo = new Child('roster demo', ROSTER_BIN, ['demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`], ENV);
    await demo.waitFor(/Press Ctrl\+C/);
    receiver = http.createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body });
        response.writeHead(204).end();
      });
    });
    await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  }, { timeout: STARTUP_TIMEOUT_MS + 30_000 });

  after(async () => {
    receiver?.close();
    await demo?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    process.off('exit', killDemo);
  });

  const cli = (args) => roster(['--data-dir', dataDir, ...args], ENV);

  async function until(what, done) {
    for (let i = 0; i < 300; i++) {
      if (done()) return;
      await sleep(100);
    }
    throw new Error(`${what} did not happen within 30 s; received ${received.length}: ${received.map((r) => r.body).join('\n')}`);
  }

  it('signs every event so the library verifies it, before and after a rotation', { timeout: 120_000 }, async () => {
    const url = `http://127.0.0.1:${receiver.address().port}/hook`;
    const added = await cli(['webhook', 'add', '--org', ORG, '--url', url]);
    const secret = added.stdout.match(/Secret:\s+(\S+)/)[1];
    const id = added.stdout.match(/Endpoint (\S+) added/)[1];

    await cli(['team', 'create', '--org', ORG, '--name', 'Webhook testers']);
    await cli(['user', 'deactivate', '--org', ORG, 'ada.lovelace@acme.example']);
    await until('two deliveries', () => received.length >= 2);
    const first = new Webhook(secret);
    const payloads = received.map(({ headers, body }) => first.verify(body, headers));
    assert.deepEqual(payloads.slice(0, 2).map((p) => p.type), ['team.created', 'user.deactivated']);
    assert.match(payloads[1].data.cursor, /^ev1_/);
    assert.equal(payloads[1].data.actor, 'cli');
    // A tampered body fails verification.
    assert.throws(() => first.verify(received[0].body.replace('team', 'TEAM'), received[0].headers));

    const rotated = await cli(['webhook', 'rotate-secret', '--org', ORG, id]);
    const next = rotated.stdout.match(/Secret:\s+(\S+)/)[1];
    const seen = received.length;
    await cli(['user', 'reactivate', '--org', ORG, 'ada.lovelace@acme.example']);
    await until('the delivery after the rotation', () => received.length > seen);
    const { headers, body } = received[seen];
    assert.equal(new Webhook(next).verify(body, headers).type, 'user.reactivated');
    assert.equal(first.verify(body, headers).type, 'user.reactivated', 'the old secret still verifies during the overlap');
  });
});
