// A real OAuth 2.0 authorization server for tokengate's end-to-end tests:
// panva's oidc-provider (the certified OpenID Provider for Node.js) with
// client credentials, RFC 7662 introspection, RFC 9701 JWT introspection
// responses, RFC 7009 revocation, RFC 8707 resource indicators, RFC 9449
// DPoP and RFC 8705 mutual TLS (self-signed certificate client
// authentication and certificate-bound access tokens) and RFC 9068 JWT
// access tokens (for the api://jwt* resources), all in memory.
// Test-only: every secret below is public.
//
//   node server.mjs                       # listens on 127.0.0.1, a free port
//   REALAS_PORT=9400 node server.mjs      # a given port
//   REALAS_CONFIG=/path/setup.json node server.mjs
//
// setup.json (optional), every member optional:
//   "rs_jwt_jwks": {"keys": [<public JWK>]}   the key set of the
//       private_key_jwt client "rs-jwt"; without it that client is left out.
//   "tls": {"cert_file": PEM, "key_file": PEM}  a second listener, HTTPS on
//       127.0.0.1 (another free port, or REALAS_MTLS_PORT), which asks every
//       client for a certificate (any; trust is each client's registered
//       keys) and serves the same endpoints: the RFC 8705 token endpoint
//       for mutual TLS. Without it there is no such listener.
//   "mtls_jwks": {"keys": [<public JWK with x5c>]}  the certificates of the
//       self_signed_tls_client_auth client "app-mtls" (RFC 8705 §2.2);
//       without it that client is left out.
//   "backchannel_client": {"client_id": "...", "client_secret": "...",
//       "redirect_uri": URL, "backchannel_logout_uri": URL}  an
//       authorization-code client (openid, PKCE S256) with OpenID Connect
//       Back-Channel Logout 1.0 (backchannel_logout_session_required: true,
//       so logout tokens carry sid as well as sub); with it the provider
//       also enables features.backchannelLogout and features.devInteractions
//       (its built-in login and consent pages: any login, any password), so
//       a test can log users in and out headlessly. Without it neither.
//   "signing_keys": [{"kid": "...", "file": PEM}]  the provider's signing
//       keys (RSA, PKCS#8 or PKCS#1 PEM, RS256), in this order: the first
//       signs JWT access tokens, all are in jwks_uri. Restarting the server
//       on the same port with another list rotates the keys. Without it the
//       server makes one RSA key of its own.
//
// Test-only endpoint (not OAuth): GET /_realas/introspections?token_sha256=HEX
// answers {"count": N}, the introspection requests that named the token
// whose SHA-256 (hex) is HEX, so a test can prove a token was checked
// without the authorization server.
//
// Once it listens, the first (and only) line on stdout is
//   REALAS_READY {"issuer":"http://127.0.0.1:PORT","port":PORT,"mtls_port":PORT2}
// (mtls_port 0 without the HTTPS listener).
// Everything else (oidc-provider's notices, request errors) goes to stderr.
// SIGTERM/SIGINT stop it; with REALAS_EXIT_ON_STDIN_EOF=1 so does the end of
// its standard input (the Go test harness holds it open).

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import process from 'node:process';

import Provider, { errors } from 'oidc-provider';
// The provider's own in-memory adapter, extended below (JwtIndexAdapter);
// a deep import, which oidc-provider 8 allows (its package.json has no
// "exports" map): recheck when upgrading it.
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

// oidc-provider prints development notices with console.info (stdout);
// stdout is reserved for the ready line.
console.info = console.error;
console.log = console.error;

// Resource servers (RFC 8707 resource indicators) and their scopes. The
// api://jwt* ones get RFC 9068 JWT access tokens (typ at+jwt, RS256 with
// the first signing key, aud = audience, else the resource indicator);
// the others opaque ones.
const JWT_SHORT_TTL = 3;
const RESOURCES = {
  'api://orders': { scope: 'orders.read orders.write' },
  'api://billing': { scope: 'billing.read' },
  'api://jwt': { scope: 'orders.read orders.write', accessTokenFormat: 'jwt' },
  // Same audience, tokens live JWT_SHORT_TTL seconds.
  'api://jwt-short': {
    scope: 'orders.read orders.write', audience: 'api://jwt', accessTokenFormat: 'jwt', accessTokenTTL: JWT_SHORT_TTL,
  },
  // Another audience.
  'api://jwt-billing': { scope: 'billing.read', accessTokenFormat: 'jwt' },
  // Same audience as api://jwt, but its tokens are left the way
  // oidc-provider keeps JWT access tokens: not at all (see JwtIndexAdapter),
  // so its introspection answers active:false and its revocation does
  // nothing for them.
  'api://jwt-unstored': {
    scope: 'orders.read orders.write', audience: 'api://jwt', accessTokenFormat: 'jwt', unstored: true,
  },
};

// oidc-provider 8 does not store a JWT access token: its jwt format
// returns no payload to save (lib/models/formats/jwt.js), so introspection
// looks the JWT up, finds nothing and answers active:false, and revocation
// finds nothing to revoke. To test introspection and revocation of JWT
// access tokens (tokengate's jwt.mode local_then_introspect) against this
// server, the token endpoint's answer is post-processed (provider.use):
// each JWT access token's record is saved under its jti exactly as an
// opaque token's would be, and this adapter finds that record when given
// the whole JWT (an exact match on the issued value, never a decoded jti,
// so a forged JWT finds nothing). Revocation then destroys the record
// (by jti) and introspection answers active:false, as for an opaque token.
const jwtIndex = new Map(); // issued JWT access token -> its jti

class JwtIndexAdapter extends MemoryAdapter {
  async find(id) {
    return super.find(jwtIndex.get(id) ?? id);
  }
}

// The record opaque tokens get (formats/opaque.js getValueAndPayload):
// the model's IN_PAYLOAD members (extra included), with iat and exp, which
// the jwt format computes without keeping on the model, from the JWT.
function storedPayload(token, value) {
  const payload = {};
  for (const key of token.constructor.IN_PAYLOAD) {
    if (token[key] !== undefined) payload[key] = token[key];
  }
  const { iat, exp } = JSON.parse(Buffer.from(value.split('.')[1], 'base64url').toString('utf8'));
  return { ...payload, iat, exp };
}

async function indexJwtAccessToken(ctx) {
  const token = ctx.oidc?.entities?.ClientCredentials;
  const value = ctx.body?.access_token;
  const rs = token?.resourceServer;
  if (!token?.jti || typeof value !== 'string' || rs?.accessTokenFormat !== 'jwt') return;
  if (RESOURCES[rs.identifier()]?.unstored) return;
  const payload = storedPayload(token, value);
  const ttl = payload.exp - Math.floor(Date.now() / 1000);
  await token.adapter.upsert(token.jti, payload, ttl);
  jwtIndex.set(value, token.jti);
  setTimeout(() => jwtIndex.delete(value), (ttl + 60) * 1000).unref();
}

// Introspection requests per token (by SHA-256 hex), for
// GET /_realas/introspections.
const introspections = new Map();

function sha256(s) {
  return crypto.createHash('sha256').update(s).digest('hex');
}

// Clients whose client-credentials tokens live SHORT_TTL seconds.
const SHORT_TTL = 3;
const SHORT_TTL_CLIENTS = new Set(['app-short']);

// The secrets. The introspecting ones contain characters that RFC 6749
// form-encoding changes (":" "%" "+" "&" "=" "/" space), so a client that
// does not encode them, or encodes them twice, fails to authenticate.
export const SECRETS = {
  app: 'app-secret',
  'app-short': 'app-short-secret',
  'rs:basic': 'b:s%2B+&=/ ~secret',
  'rs-post': 'p:s%2B+&=/ ~secret',
  'rs-jwtresp': 'jwtresp-secret',
  'app-dpop': 'app-dpop-secret',
};

// DPoP proof algorithms the token endpoint accepts (oidc-provider's default
// is ES256 and EdDSA): tokengate's default dpop_algorithms, so a test can
// use each.
const DPOP_ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'];

function readSetup() {
  const file = process.env.REALAS_CONFIG;
  if (!file) return {};
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function clients(setup) {
  // A resource server only introspects: no grant, no response type.
  const introspector = {
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  };
  const list = [
    // Obtain tokens with client credentials (client_secret_basic).
    {
      client_id: 'app',
      client_secret: SECRETS.app,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'app-short',
      client_secret: SECRETS['app-short'],
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    // Introspect with HTTP Basic; ":" in the client_id too.
    {
      ...introspector,
      client_id: 'rs:basic',
      client_secret: SECRETS['rs:basic'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    // Introspect with client_id/client_secret in the form.
    {
      ...introspector,
      client_id: 'rs-post',
      client_secret: SECRETS['rs-post'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    // Introspect with HTTP Basic and get signed JWT answers (RFC 9701) when
    // asking with Accept: application/token-introspection+jwt. (RS256 is
    // also oidc-provider's default for every client once jwtIntrospection
    // is on: any client asking with that Accept gets a JWT.)
    {
      ...introspector,
      client_id: 'rs-jwtresp',
      client_secret: SECRETS['rs-jwtresp'],
      token_endpoint_auth_method: 'client_secret_basic',
      introspection_signed_response_alg: 'RS256',
    },
    // No client authentication. oidc-provider accepts the call but, by its
    // default features.introspection.allowedPolicy, answers active:false for
    // every token issued to another client.
    {
      ...introspector,
      client_id: 'rs-none',
      token_endpoint_auth_method: 'none',
    },
  ];
  // DPoP (RFC 9449): every token of "app-dpop" is bound to the key of the
  // proof sent with the token request (none: invalid_grant). "app" gets a
  // DPoP-bound token too when it sends a proof, a Bearer one otherwise.
  list.push({
    client_id: 'app-dpop',
    client_secret: SECRETS['app-dpop'],
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    dpop_bound_access_tokens: true,
  });
  if (setup.mtls_jwks) {
    // Mutual TLS (RFC 8705): authenticates with one of its self-signed
    // certificates (§2.2, matched by x5t#S256 of x5c[0]) at the HTTPS
    // listener, and every token is bound to that certificate (§3).
    list.push({
      client_id: 'app-mtls',
      token_endpoint_auth_method: 'self_signed_tls_client_auth',
      tls_client_certificate_bound_access_tokens: true,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      jwks: setup.mtls_jwks,
    });
  }
  if (setup.backchannel_client) {
    // End users log in (devInteractions) and get authorization-code tokens;
    // ending their session at /session/end makes the provider POST a
    // logout token to backchannel_logout_uri (http on loopback is a valid
    // web URI for oidc-provider: only https-only metadata such as
    // initiate_login_uri refuse it).
    const bc = setup.backchannel_client;
    list.push({
      client_id: bc.client_id,
      client_secret: bc.client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [bc.redirect_uri],
      backchannel_logout_uri: bc.backchannel_logout_uri,
      backchannel_logout_session_required: true,
    });
  }
  if (setup.rs_jwt_jwks) {
    // private_key_jwt (RFC 7523) with the test's public keys.
    list.push({
      ...introspector,
      client_id: 'rs-jwt',
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: setup.rs_jwt_jwks,
    });
  }
  return list;
}

function signingKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: `realas-${crypto.randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };
}

// The provider's signing keys: the setup's (in order), else one of its own.
function signingKeys(setup) {
  if (!setup.signing_keys?.length) return [signingKey()];
  return setup.signing_keys.map(({ kid, file }) => {
    const jwk = crypto.createPrivateKey(fs.readFileSync(file)).export({ format: 'jwk' });
    if (jwk.kty !== 'RSA') throw new Error(`signing key ${kid}: RSA wanted, got ${jwk.kty}`);
    return { ...jwk, kid, use: 'sig', alg: 'RS256' };
  });
}

// The client certificate of the request (features.mTLS.getCertificate):
// the one presented on the HTTPS listener's TLS connection, as an
// X509Certificate; none on the plain HTTP listener. It is read from the
// connection itself, never from a header, so a client cannot claim one.
function getCertificate(ctx) {
  const { socket } = ctx.req;
  if (typeof socket.getPeerX509Certificate !== 'function') return undefined;
  return socket.getPeerX509Certificate() || undefined;
}

function configuration(setup) {
  return {
    clients: clients(setup),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none', 'self_signed_tls_client_auth'],
    enabledJWA: { dPoPSigningAlgValues: DPOP_ALGS },
    jwks: { keys: signingKeys(setup) },
    adapter: JwtIndexAdapter,
    cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
    features: {
      // Built-in login/consent pages and back-channel logout, only for the
      // setup's backchannel_client (see clients).
      devInteractions: { enabled: Boolean(setup.backchannel_client) },
      backchannelLogout: { enabled: Boolean(setup.backchannel_client) },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      jwtIntrospection: { enabled: true },
      revocation: { enabled: true },
      // RFC 9449: a token request with a DPoP proof gets a token bound to
      // the proof's key (cnf.jkt in introspection, token_type "DPoP"). No
      // server nonce; proof jti replay is refused (allowReplay false).
      dPoP: { enabled: true, allowReplay: false },
      // RFC 8705: certificate-bound tokens (cnf["x5t#S256"] in
      // introspection) for clients with
      // tls_client_certificate_bound_access_tokens, and
      // self_signed_tls_client_auth.
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        selfSignedTlsClientAuth: true,
        getCertificate,
      },
      resourceIndicators: {
        enabled: true,
        // No implicit resource: a token request names one.
        defaultResource: async (ctx, client, oneOf) => oneOf,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          const rs = RESOURCES[resourceIndicator];
          if (!rs) throw new errors.InvalidTarget();
          const { unstored, ...info } = rs;
          return { accessTokenFormat: 'opaque', ...info };
        },
      },
    },
    // Client-credentials tokens have no end user; like Hydra and most other
    // servers, give them the client as subject, plus one custom claim so
    // tests can map an unregistered claim to a header.
    extraTokenClaims: async (ctx, token) => (token.kind === 'ClientCredentials'
      ? { sub: token.clientId, org_id: 'org-42' }
      : undefined),
    ttl: {
      ClientCredentials: (ctx, token, client) => {
        if (client && SHORT_TTL_CLIENTS.has(client.clientId)) return SHORT_TTL;
        return token.resourceServer?.accessTokenTTL || 10 * 60;
      },
    },
  };
}

async function main() {
  const setup = readSetup();
  const port = Number(process.env.REALAS_PORT || 0);
  let handler = (req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const actual = server.address().port;
  const issuer = `http://127.0.0.1:${actual}`;

  // The mutual TLS listener: the same provider over HTTPS. Any client
  // certificate is requested and accepted at the TLS layer (they are
  // self-signed); the provider checks it against the client's registered
  // certificates and binds tokens to it.
  let mtlsPort = 0;
  let mtlsServer;
  if (setup.tls) {
    mtlsServer = https.createServer({
      cert: fs.readFileSync(setup.tls.cert_file),
      key: fs.readFileSync(setup.tls.key_file),
      requestCert: true,
      rejectUnauthorized: false,
    }, (req, res) => handler(req, res));
    await new Promise((resolve, reject) => {
      mtlsServer.once('error', reject);
      mtlsServer.listen(Number(process.env.REALAS_MTLS_PORT || 0), '127.0.0.1', resolve);
    });
    mtlsPort = mtlsServer.address().port;
  }

  const provider = new Provider(issuer, configuration(setup));
  provider.on('server_error', (ctx, err) => console.error('server_error', ctx.path, err));
  // Client authentication failures, for the test's logs.
  for (const event of ['introspection.error', 'revocation.error', 'grant.error', 'end_session.error', 'end_session_confirm.error', 'authorization.error']) {
    provider.on(event, (ctx, err) => console.error(event, err.error ?? '', err.error_description ?? err.message));
  }
  // Back-channel logout deliveries (the receiver's answer), for the test's
  // logs: a refused logout token shows up here.
  provider.on('backchannel.error', (ctx, err, client, accountId, sid) => console.error(
    'backchannel.error', client.clientId, sid, err.message, err.response?.body ?? '',
  ));
  provider.on('backchannel.success', (ctx, client, accountId, sid) => console.error('backchannel.success', client.clientId, sid));
  // JWT access tokens become introspectable and revocable (see
  // JwtIndexAdapter); introspection requests are counted per token.
  provider.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      const route = ctx.oidc?.route;
      const token = ctx.oidc?.params?.token;
      if (route === 'introspection' && typeof token === 'string') {
        const key = sha256(token);
        introspections.set(key, (introspections.get(key) ?? 0) + 1);
      }
    }
    if (ctx.oidc?.route === 'token' && ctx.status === 200) await indexJwtAccessToken(ctx);
  });
  const callback = provider.callback();
  handler = (req, res) => {
    const url = new URL(req.url, issuer);
    if (req.method === 'GET' && url.pathname === '/_realas/introspections') {
      const count = introspections.get(url.searchParams.get('token_sha256') ?? '') ?? 0;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ count }));
      return;
    }
    callback(req, res);
  };

  process.stdout.write(`REALAS_READY ${JSON.stringify({ issuer, port: actual, mtls_port: mtlsPort })}\n`);

  const stop = () => {
    for (const srv of [server, mtlsServer]) {
      srv?.close();
      srv?.closeAllConnections?.();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Under a test harness: stop when the parent goes away (its end of our
  // stdin closes), even if it could not signal us.
  if (process.env.REALAS_EXIT_ON_STDIN_EOF === '1') {
    process.stdin.on('end', stop);
    process.stdin.on('close', stop);
    process.stdin.resume();
  }
}

main().catch((err) => {
  console.error('realas:', err);
  process.exit(1);
});
