// The official TypeScript SDK client connects to an MCP URL and goes as far
// as a client can without a person: the 401, protected resource metadata,
// authorization server metadata, a client id (a Client ID Metadata Document
// where the server supports them and CIMD_URL is set, else dynamic
// registration), PKCE, up to the authorization URL it would open in a
// browser. mcpgate doctor's model of the SDK is checked against it.
//
// Environment: MCP_URL, and CIMD_URL to offer a Client ID Metadata
// Document. Prints one JSON line: {"reached": true, "resource": …} when the
// SDK got to the authorization URL, else {"reached": false, "error": …}.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const redirectUrl = 'http://127.0.0.1:33418/callback';
let authorizationURL;
let clientInfo;
let tokens;
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return {
      client_name: 'sdk discovery check',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientMetadataUrl: process.env.CIMD_URL || undefined,
  clientInformation() { return clientInfo; },
  saveClientInformation(info) { clientInfo = info; },
  tokens() { return tokens; },
  saveTokens(t) { tokens = t; },
  redirectToAuthorization(url) { authorizationURL = url; },
  saveCodeVerifier() {},
  codeVerifier() { return ''; },
};

const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), { authProvider: provider });
const client = new Client({ name: 'sdk-discovery', version: '1' });
let error;
try {
  await client.connect(transport);
  error = 'connected without signing in';
} catch (e) {
  error = e?.message || String(e);
}
if (authorizationURL) {
  console.log(JSON.stringify({
    reached: true,
    resource: authorizationURL.searchParams.get('resource'),
    code_challenge_method: authorizationURL.searchParams.get('code_challenge_method'),
    client_id: clientInfo?.client_id,
  }));
} else {
  console.log(JSON.stringify({ reached: false, error }));
}
process.exit(0);
