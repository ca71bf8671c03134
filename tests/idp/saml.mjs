// A real SAML 2.0 identity provider for Roster's browser tests: samlify builds,
// signs and parses the SAML messages on 127.0.0.1, with one known account, so
// Roster's service provider is checked against XML signatures that its own
// code did not make.
//
//   IDP_SP_ENTITY_ID=http://127.0.0.1:PORT/o/acme/saml/metadata \
//   IDP_SP_ACS_URL=http://127.0.0.1:PORT/o/acme/saml/acs \
//     node tests/idp/saml.mjs [PORT]
//
// Environment:
//   IDP_PORT           the port, when not given as the argument (0: any free port)
//   IDP_SP_ENTITY_ID   the service provider's entity ID: the AuthnRequest's Issuer
//                      and the assertion's Audience (required)
//   IDP_SP_ACS_URL     the service provider's assertion consumer service, where
//                      responses are posted (required)
//   IDP_PASSWORD       the account's password (default: see DEFAULT_PASSWORD)
//   IDP_SIGN_RESPONSE  1: sign the Response as well (default: only the Assertion)
//
// Prints one line, `metadata http://127.0.0.1:PORT/metadata`, once it accepts
// connections. The entity ID is that same URL. Each run signs with a fresh RSA
// key and a self-signed certificate, both published only in the metadata.
//
//   GET  /metadata        the IdP's metadata
//   GET  /sso             HTTP-Redirect binding: SAMLRequest (an AuthnRequest) and
//                         RelayState; shows the login page
//   POST /sso/login       the login form: a signed Response is posted to the ACS
//   GET  /idp-initiated   the login page for an unsolicited Response (no
//                         InResponseTo, no RelayState)
//
// The login page has fields `email` and `password` and the buttons "Sign in"
// and "Cancel" (which answers an AuthnRequest with a Responder status).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { DOMParser } from '@xmldom/xmldom';
import forge from 'node-forge';
import samlify from 'samlify';

export const ACCOUNT = Object.freeze({
  email: 'ada.lovelace@acme.example',
  givenName: 'Ada',
  surname: 'Lovelace',
});
// A throwaway password for a throwaway account on a loopback-only test server.
const DEFAULT_PASSWORD = 'analytical-engine';

const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const BASIC_ATTRIBUTE = 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
const PASSWORD_CLASS = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const STATUS_RESPONDER = 'urn:oasis:names:tc:SAML:2.0:status:Responder';
const STATUS_AUTHN_FAILED = 'urn:oasis:names:tc:SAML:2.0:status:AuthnFailed';
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const VALIDITY_MS = 5 * 60_000;
const CLOCK_SKEW_MS = 30_000;
const PENDING_MS = 10 * 60_000;

function fail(message) {
  process.stderr.write(`tests/idp: ${message}\n`);
  process.exit(2);
}

function absoluteUrl(name) {
  const value = process.env[name];
  if (!value) fail(`set ${name}`);
  if (!URL.canParse(value)) fail(`${name} must be an absolute URL, not ${JSON.stringify(value)}`);
  return value;
}

const port = Number(process.argv[2] ?? process.env.IDP_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('the port must be a number');
const spEntityId = absoluteUrl('IDP_SP_ENTITY_ID');
const acsUrl = absoluteUrl('IDP_SP_ACS_URL');
const password = process.env.IDP_PASSWORD || DEFAULT_PASSWORD;
const signResponse = process.env.IDP_SIGN_RESPONSE === '1';

// samlify refuses to parse any message until a schema validator is set. This IdP
// only parses the AuthnRequests of the one service provider under test, and checks
// the fields it uses itself (see authnRequest), so checking that the request is
// well-formed XML is enough here: a strict parser (every warning is an error, no
// entities) must find exactly one root element.
const refuse = (message) => {
  throw new Error(message);
};
const strictXml = new DOMParser({ errorHandler: { warning: refuse, error: refuse, fatalError: refuse } });
samlify.setSchemaValidator({
  async validate(xml) {
    if (!strictXml.parseFromString(xml, 'text/xml').documentElement) throw new Error('no root element');
    return true;
  },
});

// A fresh key and certificate per run: nothing outside this process ever trusts them.
function signingIdentity() {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }));
  // A positive serial number: the leading byte keeps the top bit clear.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 60 * 60_000);
  cert.validity.notAfter = new Date(now + 24 * 60 * 60_000);
  const name = [{ name: 'commonName', value: 'Roster test SAML IdP' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', critical: true, digitalSignature: true },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

// The Response that samlify fills in and signs (it puts the Assertion's signature
// right after the Assertion's Issuer). An attribute whose value is left undefined
// is dropped: an unsolicited Response has no InResponseTo at all.
const RESPONSE_TEMPLATE = [
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"',
  ' ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">',
  '<saml:Issuer>{Issuer}</saml:Issuer>',
  '<samlp:Status><samlp:StatusCode Value="{StatusCode}"/></samlp:Status>',
  '<saml:Assertion ID="{AssertionID}" Version="2.0" IssueInstant="{IssueInstant}">',
  '<saml:Issuer>{Issuer}</saml:Issuer>',
  '<saml:Subject>',
  '<saml:NameID Format="{NameIDFormat}">{NameID}</saml:NameID>',
  '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">',
  '<saml:SubjectConfirmationData Recipient="{SubjectRecipient}" NotOnOrAfter="{SubjectConfirmationDataNotOnOrAfter}" InResponseTo="{InResponseTo}"/>',
  '</saml:SubjectConfirmation>',
  '</saml:Subject>',
  '<saml:Conditions NotBefore="{ConditionsNotBefore}" NotOnOrAfter="{ConditionsNotOnOrAfter}">',
  '<saml:AudienceRestriction><saml:Audience>{Audience}</saml:Audience></saml:AudienceRestriction>',
  '</saml:Conditions>',
  '<saml:AuthnStatement AuthnInstant="{AuthnInstant}" SessionIndex="{SessionIndex}">',
  `<saml:AuthnContext><saml:AuthnContextClassRef>${PASSWORD_CLASS}</saml:AuthnContextClassRef></saml:AuthnContext>`,
  '</saml:AuthnStatement>',
  '{AttributeStatement}',
  '</saml:Assertion>',
  '</samlp:Response>',
].join('');

// A refusal: a status and nothing else, so samlify signs the Response itself.
const REFUSAL_TEMPLATE = [
  '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"',
  ' ID="{ID}" Version="2.0" IssueInstant="{IssueInstant}" Destination="{Destination}" InResponseTo="{InResponseTo}">',
  '<saml:Issuer>{Issuer}</saml:Issuer>',
  '<samlp:Status><samlp:StatusCode Value="{StatusCode}"><samlp:StatusCode Value="{SubStatusCode}"/></samlp:StatusCode>',
  '<samlp:StatusMessage>{StatusMessage}</samlp:StatusMessage></samlp:Status>',
  '</samlp:Response>',
].join('');

const ATTRIBUTES = [
  { name: 'email', valueTag: 'email', nameFormat: BASIC_ATTRIBUTE, valueXsiType: 'xs:string' },
  { name: 'givenName', valueTag: 'givenName', nameFormat: BASIC_ATTRIBUTE, valueXsiType: 'xs:string' },
  { name: 'surname', valueTag: 'surname', nameFormat: BASIC_ATTRIBUTE, valueXsiType: 'xs:string' },
];

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body><main>
<h1>Test SAML IdP</h1>
${body}
</main></body></html>`;
}

function loginPage(pendingId, { email = '', problem = '' } = {}) {
  const alert = problem ? `<p class="error" role="alert">${escapeHtml(problem)}</p>` : '';
  return page('Test SAML IdP: sign in', `${alert}
<form method="post" action="/sso/login">
<input type="hidden" name="pending" value="${escapeHtml(pendingId)}">
<label>Email <input type="email" name="email" value="${escapeHtml(email)}" autocomplete="username" autofocus></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" name="action" value="login">Sign in</button>
<button type="submit" name="action" value="cancel">Cancel</button>
</form>`);
}

function errorPage(problem) {
  return page('Test SAML IdP: error', `<p class="error" role="alert">${escapeHtml(problem)}</p>`);
}

/** The HTTP-POST binding: a form that the browser submits to the ACS at once. */
function postPage(samlResponse, relayState) {
  const relay = relayState == null ? '' : `\n<input type="hidden" name="RelayState" value="${escapeHtml(relayState)}">`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test SAML IdP: signing you in</title></head>
<body><main>
<h1>Test SAML IdP</h1>
<form method="post" action="${escapeHtml(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${escapeHtml(samlResponse)}">${relay}
<button type="submit">Continue</button>
</form>
</main>
<script>document.forms[0].submit()</script>
</body></html>`;
}

function start(listenPort) {
  return new Promise((resolve, reject) => {
    const server = http.createServer();
    server.on('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve(server));
  });
}

// Bind first: the entity ID has to name the port, and port 0 only becomes one here.
const server = await start(port).catch((err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
const origin = `http://127.0.0.1:${server.address().port}`;
const entityId = `${origin}/metadata`;
const { keyPem, certPem } = signingIdentity();

const idp = samlify.IdentityProvider({
  entityID: entityId,
  signingCert: certPem,
  privateKey: keyPem,
  requestSignatureAlgorithm: RSA_SHA256,
  wantAuthnRequestsSigned: false,
  nameIDFormat: [EMAIL_FORMAT],
  singleSignOnService: [{ Binding: samlify.Constants.namespace.binding.redirect, Location: `${origin}/sso` }],
  loginResponseTemplate: { context: RESPONSE_TEMPLATE, attributes: ATTRIBUTES },
});

// The service provider as this IdP sees it. samlify signs the Assertion when the SP
// wants assertions signed, and the Response when it wants messages signed or does
// not want assertions signed; a refusal has no assertion, so it goes through `refusalSp`.
const spSettings = {
  entityID: spEntityId,
  assertionConsumerService: [{ Binding: samlify.Constants.namespace.binding.post, Location: acsUrl }],
};
const sp = samlify.ServiceProvider({ ...spSettings, wantAssertionsSigned: true, wantMessageSigned: signResponse });
const refusalSp = samlify.ServiceProvider({ ...spSettings, wantAssertionsSigned: false, wantMessageSigned: true });

/** Sign-ins waiting for the login form, by the random id in its hidden field. */
const pending = new Map();

function remember(request) {
  const now = Date.now();
  for (const [id, entry] of pending) if (now - entry.created > PENDING_MS) pending.delete(id);
  const id = randomBytes(16).toString('hex');
  pending.set(id, { ...request, created: now });
  return id;
}

const iso = (ms) => new Date(ms).toISOString();

/** A signed Response for Ada; `inResponseTo` undefined makes it unsolicited. */
async function signedResponse(inResponseTo) {
  const now = Date.now();
  const values = {
    ID: idp.entitySetting.generateID(),
    AssertionID: idp.entitySetting.generateID(),
    IssueInstant: iso(now),
    Destination: acsUrl,
    InResponseTo: inResponseTo,
    Issuer: entityId,
    StatusCode: STATUS_SUCCESS,
    NameIDFormat: EMAIL_FORMAT,
    NameID: ACCOUNT.email,
    SubjectRecipient: acsUrl,
    SubjectConfirmationDataNotOnOrAfter: iso(now + VALIDITY_MS),
    ConditionsNotBefore: iso(now - CLOCK_SKEW_MS),
    ConditionsNotOnOrAfter: iso(now + VALIDITY_MS),
    Audience: spEntityId,
    AuthnInstant: iso(now),
    SessionIndex: idp.entitySetting.generateID(),
    attrEmail: ACCOUNT.email,
    attrGivenName: ACCOUNT.givenName,
    attrSurname: ACCOUNT.surname,
  };
  const { context } = await idp.createLoginResponse(sp, {}, 'post', { email: ACCOUNT.email }, {
    customTagReplacement: (template) => ({ id: values.ID, context: samlify.SamlLib.replaceTagsByValue(template, values) }),
  });
  return context;
}

/** A signed Response that refuses the AuthnRequest `inResponseTo`. */
async function refusal(inResponseTo, subStatus, message) {
  const values = {
    ID: idp.entitySetting.generateID(),
    IssueInstant: iso(Date.now()),
    Destination: acsUrl,
    InResponseTo: inResponseTo,
    Issuer: entityId,
    StatusCode: STATUS_RESPONDER,
    SubStatusCode: subStatus,
    StatusMessage: message,
  };
  const { context } = await idp.createLoginResponse(refusalSp, {}, 'post', {}, {
    customTagReplacement: () => ({ id: values.ID, context: samlify.SamlLib.replaceTagsByValue(REFUSAL_TEMPLATE, values) }),
  });
  return context;
}

/** Reads the AuthnRequest of an HTTP-Redirect binding request, or says why it cannot. */
async function authnRequest(url) {
  const query = Object.fromEntries(url.searchParams);
  if (!query.SAMLRequest) return { problem: 'There is no SAMLRequest in this address.' };
  let parsed;
  try {
    // octetString only matters for signed requests, which this IdP does not ask for.
    parsed = await idp.parseLoginRequest(sp, 'redirect', { query, octetString: url.search.slice(1) });
  } catch (err) {
    return { problem: `The SAMLRequest cannot be read: ${err.message}` };
  }
  const request = parsed.extract?.request ?? {};
  const issuer = parsed.extract?.issuer;
  if (!request.id) return { problem: 'The AuthnRequest has no ID.' };
  if (issuer !== spEntityId) return { problem: `The AuthnRequest's Issuer is ${issuer ?? 'missing'}, not ${spEntityId}.` };
  const acs = request.assertionConsumerServiceUrl; // samlify camel-cases the attribute names
  if (acs !== undefined && acs !== acsUrl) return { problem: `The AuthnRequest asks for responses at ${acs}, not ${acsUrl}.` };
  return { requestId: request.id, relayState: query.RelayState ?? null };
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 16_384) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, body, type = 'text/html; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}

async function login(req, res) {
  const form = await readForm(req);
  const id = form.get('pending') ?? '';
  const request = pending.get(id);
  if (!request || Date.now() - request.created > PENDING_MS) {
    return send(res, 400, errorPage('This sign-in has expired or was already used: start again.'));
  }
  if (form.get('action') === 'cancel') {
    pending.delete(id);
    if (!request.requestId) return send(res, 200, page('Test SAML IdP: cancelled', '<p>Sign-in cancelled.</p>'));
    const response = await refusal(request.requestId, STATUS_AUTHN_FAILED, 'The user cancelled the sign-in.');
    return send(res, 200, postPage(response, request.relayState));
  }
  const email = (form.get('email') ?? '').trim();
  if (email.toLowerCase() !== ACCOUNT.email || form.get('password') !== password) {
    return send(res, 200, loginPage(id, { email, problem: 'Wrong email or password.' }));
  }
  pending.delete(id);
  const response = await signedResponse(request.requestId ?? undefined);
  return send(res, 200, postPage(response, request.relayState));
}

async function handle(req, res) {
  const url = new URL(req.url, origin);
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /metadata':
      return send(res, 200, idp.getMetadata(), 'application/samlmetadata+xml; charset=utf-8');
    case 'GET /sso': {
      const request = await authnRequest(url);
      if (request.problem) return send(res, 400, errorPage(request.problem));
      return send(res, 200, loginPage(remember(request)));
    }
    case 'GET /idp-initiated':
      return send(res, 200, loginPage(remember({ requestId: null, relayState: null })));
    case 'POST /sso/login':
      return login(req, res);
    default:
      if (['/metadata', '/sso', '/sso/login', '/idp-initiated'].includes(url.pathname)) {
        return send(res, 405, errorPage('Method not allowed'));
      }
      return send(res, 404, errorPage('Not found'));
  }
}

server.on('request', (req, res) => {
  handle(req, res).catch((err) => {
    // The message names what went wrong; no key or password is in it.
    process.stderr.write(`tests/idp: ${req.method} ${req.url}: ${err.stack ?? err}\n`);
    if (!res.headersSent) send(res, 500, errorPage(`Sign-in failed: ${err.message}`));
  });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`metadata ${entityId}\n`);
