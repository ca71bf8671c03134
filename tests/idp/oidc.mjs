// A real OpenID provider for Roster's browser tests: oidc-provider (a certified
// implementation) on 127.0.0.1, with one confidential client and one known
// account, so sign-in is tested against a provider that Roster's own code did
// not write.
//
//   IDP_CLIENT_SECRET=... IDP_REDIRECT_URI=http://127.0.0.1:PORT/o/acme/sso/callback \
//     node tests/idp/oidc.mjs [PORT]
//
// Environment:
//   IDP_PORT           the port, when not given as the argument (0: any free port)
//   IDP_CLIENT_ID      the client's id (default roster-test)
//   IDP_CLIENT_SECRET  the client's secret (required; never printed)
//   IDP_REDIRECT_URI   the one redirect URI the client may use (required)
//   IDP_PASSWORD       the account's password (default: see DEFAULT_PASSWORD)
//
// Prints one line, `issuer http://127.0.0.1:PORT`, once it accepts connections.
// The login page has fields `email` and `password` and the buttons "Sign in"
// and "Cancel" (which answers the client with access_denied).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import Provider from 'oidc-provider';

export const ACCOUNT = Object.freeze({
  id: 'ada-lovelace-0001',
  email: 'ada.lovelace@acme.example',
  email_verified: true,
  name: 'Ada Lovelace',
  given_name: 'Ada',
  family_name: 'Lovelace',
});
// A throwaway password for a throwaway account on a loopback-only test server.
const DEFAULT_PASSWORD = 'analytical-engine';

function fail(message) {
  process.stderr.write(`tests/idp: ${message}\n`);
  process.exit(2);
}

const port = Number(process.argv[2] ?? process.env.IDP_PORT ?? 0);
const clientId = process.env.IDP_CLIENT_ID || 'roster-test';
const clientSecret = process.env.IDP_CLIENT_SECRET;
const redirectUri = process.env.IDP_REDIRECT_URI;
const password = process.env.IDP_PASSWORD || DEFAULT_PASSWORD;
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('the port must be a number');
if (!clientSecret) fail('set IDP_CLIENT_SECRET');
if (!redirectUri) fail('set IDP_REDIRECT_URI');

// A fresh signing key per run: nothing outside this process ever trusts it.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: `test-${randomBytes(6).toString('hex')}`, use: 'sig', alg: 'RS256' };

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function loginPage(uid, { email = '', problem = '' } = {}) {
  const alert = problem ? `<p class="error" role="alert">${escapeHtml(problem)}</p>` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP: sign in</title></head>
<body><main>
<h1>Test IdP</h1>
${alert}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>Email <input type="email" name="email" value="${escapeHtml(email)}" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>
</main></body></html>`;
}

function start(listenPort) {
  return new Promise((resolve, reject) => {
    const server = http.createServer();
    server.on('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve(server));
  });
}

// Bind first: the issuer has to name the port, and port 0 only becomes one here.
const server = await start(port).catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name'],
  },
  // Roster reads who signed in from the ID token alone, as many relying parties do;
  // the scope's claims go there too, not only to userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    if (id !== ACCOUNT.id) return undefined;
    return {
      accountId: ACCOUNT.id,
      async claims() {
        const { id: sub, ...claims } = ACCOUNT;
        return { sub, ...claims };
      },
    };
  },
  // The one client is first-party: consent to what it asks for is implied, so there
  // is no consent screen to click through.
  async loadExistingGrant(ctx) {
    const existing = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16_384) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

async function interaction(req, res, uid, isLogin) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, 'This sign-in belongs to another interaction.');
  if (details.prompt.name !== 'login') {
    // Consent is implied (see loadExistingGrant); any other prompt is not expected here.
    return provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
  }
  if (!isLogin) return send(res, 200, loginPage(uid, { email: details.params.login_hint ?? '' }));
  const form = await readForm(req);
  if (form.get('action') === 'cancel') {
    return provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false });
  }
  const email = (form.get('email') ?? '').trim();
  if (email.toLowerCase() !== ACCOUNT.email || form.get('password') !== password) {
    return send(res, 200, loginPage(uid, { email, problem: 'Wrong email or password.' }));
  }
  return provider.interactionFinished(req, res, { login: { accountId: ACCOUNT.id } }, { mergeWithLastSubmission: false });
}

const handleProvider = provider.callback();
server.on('request', (req, res) => {
  const match = /^\/interaction\/([\w-]+)(\/login)?$/.exec(new URL(req.url, issuer).pathname);
  if (!match) return handleProvider(req, res);
  const isLogin = Boolean(match[2]);
  if (isLogin !== (req.method === 'POST')) return send(res, 405, 'Method not allowed');
  interaction(req, res, match[1], isLogin).catch((err) => {
    // The message names what went wrong (an expired interaction, usually); no secret is in it.
    if (!res.headersSent) send(res, 400, `Sign-in failed: ${escapeHtml(err.message)}`);
  });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`issuer ${issuer}\n`);
