// The sandbox's identity provider: the real `oidc-provider` (a certified OpenID Connect
// implementation) with its own login page that checks a password, a consent page, and fault
// switches flipped through a control port while everything runs.
//
// Usage: node server.mjs   (configuration from the environment, see `env` below)
// Prints one JSON line {"ready": true, ...} on stdout when both ports listen.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const env = {
  host: process.env.IDP_HOST ?? '127.0.0.1',
  port: Number(process.env.IDP_PORT),
  controlPort: Number(process.env.IDP_CONTROL_PORT),
  clientId: process.env.IDP_CLIENT_ID,
  clientSecret: process.env.IDP_CLIENT_SECRET,
  redirectUri: process.env.IDP_REDIRECT_URI,
  username: process.env.IDP_USERNAME,
  password: process.env.IDP_PASSWORD,
};
// Callbacks of the hub's other ways in (sandbox/route.py: another location's path to it).
const otherRedirectUris = (process.env.IDP_OTHER_REDIRECT_URIS ?? '').split(',').filter(Boolean);
for (const [key, value] of Object.entries(env)) {
  if (value === undefined || Number.isNaN(value)) {
    console.error(`sandbox idp: missing environment for ${key}`);
    process.exit(2);
  }
}
const issuer = `http://${env.host}:${env.port}`;
// What the IdP holds after someone rotated the secret without telling the hub.
const ROTATED_SECRET = `rotated-${crypto.randomUUID()}`;

// Fault switches. The Python side (sandbox/__init__.py) owns the full set and PUTs it whole.
const NO_FAULTS = Object.freeze({
  secret_expired: false, // client_secret_expires_at in the past: token endpoint says "client secret is expired"
  secret_wrong: false, // the IdP now holds another secret than the hub and the prober
  redirect_uri_mismatch: false, // registered redirect_uri no longer matches the hub's callback
  password_wrong: false, // the test account's password was changed at the IdP
  down: false, // the IdP's port refuses connections
  slow_seconds: 0, // every IdP answer is delayed by this many seconds
  consent_blocked: false, // consent page without a way through ("ask your administrator")
  js_form: false, // the login form is rendered by JavaScript after the page loads
  stay_signed_in: false, // a "Stay signed in?" interstitial after the password
  odd_form: false, // a login form whose username field no heuristic recognises
  hostile: false, // "idp_error" | "idp_login": serve the hostile-page corpus (sandbox/hostile.py)
  login_hang_seconds: 0, // after a login POST arrives, wait this long before answering it
});
// The hostile-page corpus, written by the Python side before the IdP starts.
const hostile = process.env.IDP_HOSTILE_FILE
  ? JSON.parse(fs.readFileSync(process.env.IDP_HOSTILE_FILE, 'utf8'))
  : { pages: {}, headers: {} };
// Login POSTs received: a test waits on it to act right after the password was sent.
let loginsReceived = 0;
let faults = { ...NO_FAULTS };

function clientMetadata() {
  return {
    client_id: env.clientId,
    client_secret: faults.secret_wrong ? ROTATED_SECRET : env.clientSecret,
    client_secret_expires_at: faults.secret_expired ? Math.floor(Date.now() / 1000) - 3600 : 0,
    redirect_uris: faults.redirect_uri_mismatch
      ? [`${env.redirectUri}-old`]
      : [env.redirectUri, ...otherRedirectUris],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  };
}

// oidc-provider's storage: memory for everything, except the one client, read from the switches
// on every lookup (oidc-provider rebuilds a client whenever its metadata hash changes).
const stores = new Map();
class SandboxAdapter {
  constructor(name) {
    this.name = name;
    if (!stores.has(name)) stores.set(name, new Map());
    this.store = stores.get(name);
  }
  async upsert(id, payload, expiresIn) {
    this.store.set(id, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : null });
    if (payload.grantId) this.store.set(`grant:${payload.grantId}:${id}`, { payload: id });
    if (payload.uid) this.store.set(`uid:${payload.uid}`, { payload: id });
    if (payload.userCode) this.store.set(`userCode:${payload.userCode}`, { payload: id });
  }
  async find(id) {
    if (this.name === 'Client') return id === env.clientId ? clientMetadata() : undefined;
    const entry = this.store.get(id);
    if (!entry || (entry.expiresAt && entry.expiresAt < Date.now())) return undefined;
    return entry.payload;
  }
  async findByUid(uid) {
    const id = this.store.get(`uid:${uid}`)?.payload;
    return id ? this.find(id) : undefined;
  }
  async findByUserCode(userCode) {
    const id = this.store.get(`userCode:${userCode}`)?.payload;
    return id ? this.find(id) : undefined;
  }
  async consume(id) {
    const entry = this.store.get(id);
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id) {
    this.store.delete(id);
  }
  async revokeByGrantId(grantId) {
    for (const key of [...this.store.keys()]) {
      if (key.startsWith(`grant:${grantId}:`)) {
        this.store.delete(this.store.get(key).payload);
        this.store.delete(key);
      }
    }
  }
}

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body, status = 200) {
  return {
    status,
    html: `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;max-width:24rem;margin:3rem auto}label,input,button{display:block;margin:.4rem 0}
.error{color:#b00020}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`,
  };
}

function loginForm(uid, { error, username = '' } = {}) {
  const alert = error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : '';
  const fields = faults.odd_form
    ? `<label for="f1">Identifier</label><input id="f1" name="ident" value="${escapeHtml(username)}" required>
  <label for="f2">Secret phrase</label><input id="f2" name="secret" type="password" required>
  <button type="submit">Proceed</button>`
    : `<label for="user">Username</label><input id="user" name="user" autocomplete="username" value="${escapeHtml(username)}" required>
  <label for="pw">Password</label><input id="pw" name="pw" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>`;
  const form = `<form method="post" action="/interaction/${uid}/login" autocomplete="off">
  ${alert}
  ${fields}
</form>`;
  if (!faults.js_form) return page('Sign in to Sandbox IdP', form);
  // Like single-page IdPs: the form only exists after a script has run, a while after load.
  return page(
    'Sign in to Sandbox IdP',
    `<div id="app">Loading…</div><script>setTimeout(() => {
      document.getElementById('app').innerHTML = ${JSON.stringify(form)};
    }, 1200);</script>`,
  );
}

function consentPage(uid, clientId) {
  if (faults.consent_blocked) {
    return page(
      'Approval required',
      `<p>${escapeHtml(clientId)} needs permission to access resources in your organization that only an admin can grant.
      Please ask an admin to grant permission to this app before you can use it.</p>
      <form method="post" action="/interaction/${uid}/abort"><button type="submit">Back to sign in</button></form>`,
    );
  }
  return page(
    'Authorize application',
    `<p><b>${escapeHtml(clientId)}</b> would like to know your username and email address.</p>
    <form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>
    <form method="post" action="/interaction/${uid}/abort"><button type="submit">Cancel</button></form>`,
  );
}

function staySignedInPage(uid) {
  return page(
    'Stay signed in?',
    `<p>Do this to reduce the number of times you are asked to sign in.</p>
    <form method="post" action="/interaction/${uid}/kmsi">
      <button type="submit" name="stay" value="no">No</button>
      <button type="submit" name="stay" value="yes">Yes</button>
    </form>`,
  );
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'sandbox', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  adapter: SandboxAdapter,
  jwks: { keys: [jwk] },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, preferred_username: sub, name: sub, email: `${sub}@sandbox.test` }),
  }),
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async renderError(ctx, out) {
    // Shaped like real IdPs' error pages: a title, the OAuth error code, its description.
    ctx.type = 'html';
    ctx.body = page(
      'Sign-in error',
      `<p>Sorry, but we're having trouble signing you in.</p>
      <p>Error: <code>${escapeHtml(out.error)}</code></p>
      <p>${escapeHtml(out.error_description ?? '')}</p>`,
    ).html;
  },
});

// Accounts that finished the password but still face the "Stay signed in?" page, by interaction.
const pendingLogin = new Map();

async function interaction(ctx) {
  const { req, res } = ctx;
  const [, , uid, action] = ctx.path.split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch');
  const send = ({ status, html }) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = html;
  };
  if (ctx.method === 'GET' && !action) {
    if (faults.hostile === 'idp_login') return sendHostile(ctx, 'idp_login', 200, uid);
    if (details.prompt.name === 'login') return send(loginForm(uid));
    return send(consentPage(uid, details.params.client_id));
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  const form = await readForm(req);
  if (action === 'login') {
    loginsReceived += 1;
    if (faults.login_hang_seconds > 0) {
      await new Promise((resolve) => setTimeout(resolve, faults.login_hang_seconds * 1000));
    }
    if (faults.hostile === 'idp_login') return sendHostile(ctx, 'idp_login_error', 200, uid);
    const user = form.get('user') ?? form.get('ident') ?? '';
    const password = form.get('pw') ?? form.get('secret');
    const expected = faults.password_wrong ? `changed-${env.password}` : env.password;
    if (user !== env.username || password !== expected) {
      return send(loginForm(uid, { error: 'Invalid username or password.', username: user }));
    }
    if (faults.stay_signed_in) {
      pendingLogin.set(uid, user);
      return send(staySignedInPage(uid));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
  }
  if (action === 'kmsi' && pendingLogin.has(uid)) {
    const user = pendingLogin.get(uid);
    pendingLogin.delete(uid);
    return provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && !faults.consent_blocked) {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope ?? 'openid');
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  if (action === 'abort') {
    return provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
  }
  ctx.throw(400, 'unknown interaction step');
}

function sendHostile(ctx, name, status, uid = '') {
  ctx.status = status;
  ctx.type = 'html';
  for (const [header, value] of Object.entries(hostile.headers)) ctx.set(header, value);
  ctx.body = hostile.pages[name].replaceAll('{uid}', uid);
}

provider.use(async (ctx, next) => {
  if (faults.slow_seconds > 0) {
    await new Promise((resolve) => setTimeout(resolve, faults.slow_seconds * 1000));
  }
  if (faults.hostile === 'idp_error' && ctx.path === '/auth') return sendHostile(ctx, 'idp_error', 400);
  if (ctx.path.startsWith('/interaction/')) return interaction(ctx);
  return next();
});

const server = http.createServer(provider.callback());
let listening = false;
function setDown(down) {
  return new Promise((resolve, reject) => {
    if (down && listening) {
      listening = false;
      server.close(() => resolve());
      server.closeAllConnections();
    } else if (!down && !listening) {
      server.once('error', reject);
      server.listen(env.port, env.host, () => {
        listening = true;
        server.off('error', reject);
        resolve();
      });
    } else {
      resolve();
    }
  });
}

const control = http.createServer(async (req, res) => {
  try {
    if (req.url !== '/faults') {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'PUT') {
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const wanted = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const unknown = Object.keys(wanted).filter((k) => !(k in NO_FAULTS));
      if (unknown.length) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `unknown fault(s): ${unknown.join(', ')}` }));
        return;
      }
      faults = { ...NO_FAULTS, ...wanted };
      await setDown(faults.down);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...faults, logins_received: loginsReceived }));
  } catch (err) {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: String(err) }));
  }
});

await setDown(false);
await new Promise((resolve) => control.listen(env.controlPort, '127.0.0.1', resolve));
console.log(JSON.stringify({ ready: true, issuer, control: `http://127.0.0.1:${env.controlPort}` }));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.closeAllConnections();
    control.closeAllConnections();
    process.exit(0);
  });
}
