// A real, independent identity provider for mcpgate's tests: oidc-provider
// on 127.0.0.1 (a free port), issuing client_credentials access tokens for
// a resource (RFC 8707):
//
//   client mcp-jwt     (secret jwt-secret)     JWT access tokens, RS256
//   client mcp-jwt-es  (secret jwt-es-secret)  JWT access tokens, ES256
//   client mcp-opaque  (secret opaque-secret)  opaque access tokens
//   client mcpgate     (secret introspect-secret) introspects them
//
// With LOGIN_REDIRECT_URI set it is also the provider people sign in with
// (federated sign-in), through oidc-provider's own login and consent pages
// (any login name, any password):
//
//   client mcpgate-login (secret login-secret) authorization code + PKCE,
//                       refresh tokens; redirect URI LOGIN_REDIRECT_URI;
//                       access tokens live LOGIN_ACCESS_TTL seconds (600)
//
// It prints its issuer URL on stdout once it listens, then serves until
// stdin closes or it is killed. Test-only endpoints:
//
//   POST /admin/rotate  new signing keys first in the JWKS (old ones kept);
//                       answers {"kids": [...]}
//   GET  /admin/stats   {"jwks": <number of JWKS fetches>}
import crypto from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

let generation = 0;
function newKeys() {
  generation++;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return [
    { ...rsa.privateKey.export({ format: 'jwk' }), kid: `rs-${generation}`, alg: 'RS256', use: 'sig' },
    { ...ec.privateKey.export({ format: 'jwk' }), kid: `es-${generation}`, alg: 'ES256', use: 'sig' },
  ];
}

const client = (id, secret) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const loginRedirect = process.env.LOGIN_REDIRECT_URI;
const loginClients = loginRedirect ? [{
  client_id: 'mcpgate-login',
  client_secret: 'login-secret',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: [loginRedirect],
  token_endpoint_auth_method: 'client_secret_basic',
}] : [];

function newProvider(issuer, keys) {
  const provider = new Provider(issuer, {
    clients: [
      client('mcp-jwt', 'jwt-secret'),
      client('mcp-jwt-es', 'jwt-es-secret'),
      client('mcp-opaque', 'opaque-secret'),
      client('mcpgate', 'introspect-secret'),
      ...loginClients,
    ],
    jwks: { keys },
    claims: { openid: ['sub'], email: ['email'], profile: ['preferred_username'] },
    async findAccount(ctx, id) {
      return { accountId: id, claims: () => ({ sub: id, preferred_username: id, email: `${id}@example.com` }) };
    },
    ttl: { AccessToken: Number(process.env.LOGIN_ACCESS_TTL || 600) },
    // mcpgate keeps a refresh token of every person who signs in.
    issueRefreshToken: async (ctx, c) => c.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: Boolean(loginRedirect) },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: (ctx, c, oneOf) => oneOf,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, c) => ({
          scope: 'docs:read notes:read notes:write mcp:tools',
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: c.clientId === 'mcp-opaque' ? 'opaque' : 'jwt',
          jwt: { sign: { alg: c.clientId === 'mcp-jwt-es' ? 'ES256' : 'RS256' } },
        }),
      },
    },
  });
  // Every token of a revoked opaque token's client may be introspected by
  // mcpgate, which authenticates as a confidential client.
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}

let keys = newKeys();
let jwksFetches = 0;
let handler = null;

const server = http.createServer((req, res) => {
  if (req.url === '/admin/rotate' && req.method === 'POST') {
    keys = [...newKeys(), ...keys];
    handler = newProvider(issuer, keys).callback();
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ kids: keys.map((k) => k.kid) }));
    return;
  }
  if (req.url === '/admin/stats') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ jwks: jwksFetches }));
    return;
  }
  if (req.url === '/jwks') jwksFetches++;
  handler(req, res);
});

await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
handler = newProvider(issuer, keys).callback();
process.stdout.write(`${issuer}\n`);

// The test ends the provider by closing stdin (or killing it).
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
