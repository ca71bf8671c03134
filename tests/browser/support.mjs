// What the browser tests share: where things are, how Chromium starts here, free ports.
// (Not a test file: `node --test` runs only `*.test.mjs`.)

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
