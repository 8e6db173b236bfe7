// The official TypeScript SDK client completes mcpgate's whole OAuth flow
// headless: protected resource metadata, authorization server metadata,
// dynamic registration or a Client ID Metadata Document, PKCE with the
// resource, then the real sign-in and consent pages (this script plays the
// browser: it follows redirects, keeps cookies and posts the forms mcpgate
// serves), the code exchange, tool calls, and a refresh.
//
// Environment: MCP_URL, USERNAME, PASSWORD, REDIRECT_URL, and CIMD_URL for
// a Client ID Metadata Document instead of registration. For a server
// other than the built-in one (an upstream at /mcp/<name>), TOOL and
// TOOL_ARGS (JSON) name the tool to call instead of the notes tools, and
// OTHER_URL an endpoint the token must not open (a token is bound to the
// server it was issued for). Prints one JSON line with what happened;
// exits non-zero on any failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const mcpURL = new URL(process.env.MCP_URL);
const redirect = process.env.REDIRECT_URL;
const cimdURL = process.env.CIMD_URL || undefined;

// A minimal cookie jar: name=value pairs per origin, enough for the
// session and CSRF cookies of mcpgate's pages.
const jar = new Map();
function remember(res) {
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i).trim(), pair.slice(i + 1));
  }
}
function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
const field = (re, page) => {
  const m = page.match(re);
  return m ? m[1].replaceAll('&amp;', '&').replaceAll('&#43;', '+').replaceAll('&#34;', '"').replaceAll('&#39;', "'") : '';
};

// browse follows redirects within mcpgate and stops at the client's
// callback, returning its URL.
async function browse(url, init = {}) {
  for (let hops = 0; hops < 10; hops++) {
    if (!url.startsWith(mcpURL.origin + '/')) return { callback: new URL(url) };
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers || {}), cookie: cookieHeader() } });
    remember(res);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url).toString();
      init = {};
      continue;
    }
    const page = await res.text();
    if (res.status >= 400) throw new Error(`${init.method || 'GET'} ${url}: ${res.status} ${page}`);
    return { page };
  }
  throw new Error('too many redirects');
}

let pagesSeen = [];
let consent = []; // the permissions the consent page offered, in its words
async function signInAndConsent(authURL) {
  let { page, callback } = await browse(authURL.toString());
  for (let step = 0; !callback && step < 4; step++) {
    const action = field(/<form method="post" action="([^"]+)"/, page);
    const form = new URLSearchParams({ csrf: field(/name="csrf" value="([^"]+)"/, page), req: field(/name="req" value="([^"]+)"/, page) });
    pagesSeen.push(action);
    if (action === '/login') {
      form.set('method', 'password');
      form.set('username', process.env.USERNAME);
      form.set('password', process.env.PASSWORD);
    } else if (action === '/consent') {
      form.set('action', 'approve');
      for (const m of page.matchAll(/name="scope" value="([^"]+)"/g)) form.append('scope', m[1]);
      for (const m of page.matchAll(/name="scope" value="([^"]+)"[^>]*>\s*<span>([\s\S]*?)<\/span>/g)) {
        consent.push({ scope: m[1], text: m[2].replace(/<[^>]+>/g, '').trim() });
      }
    } else {
      throw new Error(`unexpected page: ${page.slice(0, 500)}`);
    }
    ({ page, callback } = await browse(mcpURL.origin + action, {
      method: 'POST',
      body: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: mcpURL.origin },
    }));
  }
  if (!callback) throw new Error('never redirected back to the client');
  if (callback.searchParams.get('error')) throw new Error(`authorization error: ${callback}`);
  if (!callback.searchParams.get('iss')) throw new Error('no iss in the authorization response (RFC 9207)');
  return callback.searchParams.get('code');
}

let info, tokens, verifier, code, refreshes = 0;
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
  saveTokens(t) {
    if (tokens && t.refresh_token !== tokens.refresh_token) refreshes++;
    tokens = t;
  },
  saveCodeVerifier(v) { verifier = v; },
  codeVerifier() { return verifier; },
  async redirectToAuthorization(url) { code = await signInAndConsent(url); },
};

async function connect() {
  let client = new Client({ name: 'ts-sdk-oauth', version: '1' });
  try {
    await client.connect(new StreamableHTTPClientTransport(mcpURL, { authProvider: provider }));
    return client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider });
  await transport.finishAuth(code);
  client = new Client({ name: 'ts-sdk-oauth', version: '1' });
  await client.connect(transport);
  return client;
}

// otherStatus is the HTTP status of an initialize sent to OTHER_URL with
// the access token issued for MCP_URL.
async function otherStatus() {
  if (!process.env.OTHER_URL) return undefined;
  const res = await fetch(process.env.OTHER_URL, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${tokens.access_token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'other', version: '1' } } }),
  });
  await res.text();
  return res.status;
}

const client = await connect();
const tools = await client.listTools();
const tool = process.env.TOOL;
const args = JSON.parse(process.env.TOOL_ARGS || '{}');
const first = tool
  ? await client.callTool({ name: tool, arguments: args })
  : await client.callTool({ name: 'notes_create', arguments: { title: 'from TypeScript', body: 'hello' } });
if (first.isError) throw new Error(`${tool || 'notes_create'}: ${JSON.stringify(first)}`);
const other = await otherStatus();
const firstRefresh = tokens.refresh_token;
// Spoil the access token: the next call gets a 401 and the SDK refreshes.
tokens = { ...tokens, access_token: 'not-a-token' };
const listed = tool
  ? await client.callTool({ name: tool, arguments: args })
  : await client.callTool({ name: 'notes_list', arguments: {} });
console.log(JSON.stringify({
  clientID: info?.client_id,
  tools: tools.tools.map((t) => t.name),
  first: JSON.stringify(first),
  listed: JSON.stringify(listed),
  refreshed: tokens.refresh_token !== firstRefresh && tokens.access_token !== 'not-a-token',
  scope: tokens.scope,
  otherStatus: other,
  otherStatusAfterRefresh: await otherStatus(),
  consent,
  pages: pagesSeen,
}));
await client.close();
