// node oidc-provider configured like idp, for `make bench` (bench/compare.sh).
//
//   PEER_PORT=... PEER_OUT=DIR PEER_REFRESH_TOKENS=N node bench/peer/server.mjs
//
// One process on 127.0.0.1:PEER_PORT (node's usual deployment; it signs on libuv's pool).
// Like idp: RS256 signing key (2048-bit RSA), a client_credentials client whose access
// tokens are RS256 JWTs (RFC 9068) valid 15 min, a confidential web client with refresh
// tokens rotated on every use, one user with profile and email claims for /userinfo.
// Unlike idp: state lives in memory (no database round trips, nothing survives a restart),
// and no rate limiting, audit trail or request log.
//
// At start it mints PEER_REFRESH_TOKENS unused refresh tokens (each its own grant, as after
// a code exchange) and a user access token, and writes into PEER_OUT:
//   refresh_tokens.txt   one token per line
//   bench.env            BENCH_SERVICE_BASIC, BENCH_WEB_BASIC, BENCH_USER_ACCESS_TOKEN
// then prints "ready" on stdout.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

const port = Number(process.env.PEER_PORT || 3000);
const out = process.env.PEER_OUT || '.';
const refreshCount = Number(process.env.PEER_REFRESH_TOKENS || 1000);
const alg = process.env.PEER_ALG || 'RS256';
const issuer = `http://127.0.0.1:${port}`;
const API = 'https://api.bench.example';

// The library's MemoryAdapter keeps at most 1000 entries (an LRU): a pool of refresh tokens
// would be evicted before use. Same adapter, on an unbounded Map.
class MapStore extends Map {
  set(key, value) {
    return super.set(key, value);
  }
}
const store = new MapStore();
const adapter = (model) => new MemoryAdapter(model, store);

const secret = (n = 32) => randomBytes(n).toString('base64url');
const service = { client_id: 'bench-service', client_secret: secret() };
const web = { client_id: 'bench-web', client_secret: secret() };

const signingKey =
  alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const jwk = { ...signingKey.export({ format: 'jwk' }), alg, use: 'sig', kid: secret(8) };

const provider = new Provider(issuer, {
  adapter,
  clients: [
    {
      ...service,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'orders:read orders:write',
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg, // unused, but must name a key the provider has
    },
    {
      ...web,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['https://rp.bench.example/callback'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: alg,
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [secret()] },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  scopes: ['openid', 'offline_access', 'profile', 'email', 'orders:read', 'orders:write'],
  async findAccount(ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: 'Bench User', email: 'bench-user@example.com', email_verified: true };
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // client_credentials tokens are for the API (a JWT, like idp's); the web client's
      // tokens stay opaque, for /userinfo.
      defaultResource: (ctx) => (ctx.oidc.client?.clientId === service.client_id ? API : undefined),
      getResourceServerInfo: () => ({
        scope: 'orders:read orders:write',
        audience: API,
        accessTokenTTL: 900,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
      useGrantedResource: () => false,
    },
  },
  interactions: { url: () => '/interaction' },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: 900,
    ClientCredentials: 900,
    IdToken: 3600,
    RefreshToken: 30 * 24 * 3600,
    Grant: 30 * 24 * 3600,
  },
});
provider.on('server_error', (ctx, error) => console.error('server_error', error));

async function mint() {
  const client = await provider.Client.find(web.client_id);
  const scope = 'openid offline_access profile email';
  const grantFor = async (accountId) => {
    const grant = new provider.Grant({ accountId, clientId: web.client_id });
    grant.addOIDCScope(scope);
    return grant.save();
  };
  const tokens = [];
  for (let i = 0; i < refreshCount; i += 1) {
    const grantId = await grantFor('bench-user');
    const refresh = new provider.RefreshToken({
      accountId: 'bench-user',
      client,
      grantId,
      scope,
      gty: 'authorization_code',
      authTime: Math.floor(Date.now() / 1000),
      expiresWithSession: false,
    });
    tokens.push(await refresh.save());
  }
  const access = new provider.AccessToken({
    accountId: 'bench-user',
    client,
    grantId: await grantFor('bench-user'),
    scope: 'openid profile email',
    gty: 'authorization_code',
  });
  const basic = (c) => Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64');
  writeFileSync(join(out, 'refresh_tokens.txt'), `${tokens.join('\n')}\n`);
  writeFileSync(
    join(out, 'bench.env'),
    [
      `BENCH_SERVICE_BASIC=${basic(service)}`,
      `BENCH_WEB_BASIC=${basic(web)}`,
      `BENCH_USER_ACCESS_TOKEN=${await access.save()}`,
      `BENCH_SERVICE_ACCESS_TOKEN=unused`,
      '',
    ].join('\n'),
  );
}

await mint();
provider.listen(port, '127.0.0.1', () => console.log('ready'));
