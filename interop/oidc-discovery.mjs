// The official TypeScript SDK's schema for OpenID provider metadata, the one
// its client applies to a document found at /.well-known/openid-configuration,
// checked against such a document.
//
// Environment: CONFIG_URL. Prints one JSON line: {"valid": true} or
// {"valid": false, "issues": [...]}.
import { OpenIdProviderDiscoveryMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';

const res = await fetch(process.env.CONFIG_URL, { headers: { Accept: 'application/json' } });
const parsed = OpenIdProviderDiscoveryMetadataSchema.safeParse(await res.json());
console.log(JSON.stringify(parsed.success
  ? { valid: true, status: res.status }
  : { valid: false, status: res.status, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }));
