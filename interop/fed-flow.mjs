// The official TypeScript SDK client connects to mcpgate with OAuth while a
// browser, driven by the test, does the sign-in: this script prints the
// authorization URL the SDK would open, reads the authorization code back
// on stdin, finishes the SDK's OAuth flow (PKCE, the code exchange) and
// then calls a tool once per "call" line on stdin, printing one JSON line
// per call. "quit" (or the end of stdin) closes the client.
//
// Environment: MCP_URL, REDIRECT_URL, TOOL.
//
// stdout: {"authorize": URL}, then per call {"result": …} or {"error": "…"}.
import readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const mcpURL = new URL(process.env.MCP_URL);
const redirect = process.env.REDIRECT_URL;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const out = (v) => process.stdout.write(JSON.stringify(v) + '\n');
async function nextLine() {
  const { value, done } = await lines.next();
  return done ? null : value.trim();
}

let info, tokens, verifier;
const provider = {
  get redirectUrl() { return redirect; },
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
  async redirectToAuthorization(url) { out({ authorize: url.toString() }); },
};

let client = new Client({ name: 'ts-sdk-federated', version: '1' });
try {
  await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: provider }));
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  const code = await nextLine();
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider });
  await transport.finishAuth(code);
  client = new Client({ name: 'ts-sdk-federated', version: '1' });
  await client.connect(transport);
}
for (let line = await nextLine(); line !== null && line !== 'quit'; line = await nextLine()) {
  try {
    const result = await client.callTool({ name: process.env.TOOL, arguments: {} });
    out({ result, access_token: tokens.access_token });
  } catch (e) {
    out({ error: String(e?.message || e), access_token: tokens?.access_token });
  }
}
await client.close();
process.exit(0);
