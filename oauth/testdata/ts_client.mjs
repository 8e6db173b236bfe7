// The official TypeScript SDK client runs the whole OAuth flow against
// mcpgate's authorization server: discovery, DCR or a Client ID Metadata
// Document, PKCE, the code exchange, a tool call, and a refresh.
// Run by TestTypeScriptClient from the interop directory (where the pinned
// SDK is installed). The "browser" step asks the test server to approve.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const mcpURL = new URL(process.env.MCP_URL);
const approveURL = process.env.APPROVE_URL;
const cimdURL = process.env.CIMD_URL || undefined;
const redirect = process.env.REDIRECT_URL;

let info, tokens, verifier, code;
const provider = {
  get redirectUrl() { return redirect; },
  clientMetadataUrl: cimdURL,
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK client',
      redirect_uris: [redirect],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation() { return info; },
  saveClientInformation(i) { info = i; },
  tokens() { return tokens; },
  saveTokens(t) { tokens = t; },
  saveCodeVerifier(v) { verifier = v; },
  codeVerifier() { return verifier; },
  async redirectToAuthorization(url) {
    const r = await fetch(url, { redirect: 'manual' });
    const loc = new URL(r.headers.get('location') ?? '', url);
    const req = loc.searchParams.get('req');
    if (!req) throw new Error(`authorize answered ${r.status} ${loc}`);
    const a = await fetch(`${approveURL}?req=${encodeURIComponent(req)}`);
    const to = new URL(await a.text());
    if (to.searchParams.get('iss') === null) throw new Error('no iss in the authorization response');
    code = to.searchParams.get('code');
  },
};

async function connect() {
  let client = new Client({ name: 'ts-sdk', version: '1' });
  try {
    await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: provider }));
    return client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider });
  await transport.finishAuth(code);
  client = new Client({ name: 'ts-sdk', version: '1' });
  await client.connect(transport);
  return client;
}

const client = await connect();
const first = await client.callTool({ name: 'whoami', arguments: {} });
const firstRefresh = tokens.refresh_token;
// Make the access token unusable: the next call gets a 401 and the SDK
// refreshes with its refresh token.
tokens = { ...tokens, access_token: 'not-a-token' };
const second = await client.callTool({ name: 'whoami', arguments: {} });
console.log(JSON.stringify({
  clientID: info?.client_id,
  first: first.content[0].text,
  second: second.content[0].text,
  rotated: tokens.refresh_token !== firstRefresh && tokens.access_token !== 'not-a-token',
}));
await client.close();
