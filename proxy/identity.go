package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate"
)

// Identity headers mcpgate sets on every upstream request. Whatever the
// client sent under these names (or any other X-Mcpgate-* name) is removed
// first, so an upstream can trust them as long as only mcpgate can reach it.
const (
	HeaderSubject  = "X-Mcpgate-Subject"  // Principal.Subject
	HeaderTenant   = "X-Mcpgate-Tenant"   // Principal.Tenant
	HeaderClient   = "X-Mcpgate-Client"   // Principal.ClientID
	HeaderScopes   = "X-Mcpgate-Scopes"   // Principal.Scopes, space-separated
	HeaderIdentity = "X-Mcpgate-Identity" // a short-lived JWT, if IdentityOptions.Sign is set
)

// IdentityOptions say how the upstream learns who is calling.
type IdentityOptions struct {
	// Sign, if set, signs the claims of a short-lived JWT sent in the
	// X-Mcpgate-Identity header: sub, tenant, client_id, scope
	// (space-separated), aud, iat and exp. The gateway supplies it (with its
	// own key and iss); the proxy knows no keys.
	Sign func(claims map[string]any) (string, error)
	// TTL is the JWT's lifetime; 0 means 5 minutes. A token is reused for
	// the same principal until half its lifetime is gone.
	TTL time.Duration
	// Audience is the JWT's aud; empty means the upstream URL.
	Audience string
}

// headerValue makes v safe as an HTTP header value: a value with control
// characters or non-ASCII bytes is sent percent-encoded (RFC 3986).
func headerValue(v string) string {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c >= 0x7f {
			return url.QueryEscape(v)
		}
	}
	return v
}

// isHopByHop reports whether the (canonical) header name must not be
// forwarded, as httputil.ReverseProxy does (RFC 9110, section 7.6.1).
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// isClientOnly reports whether the (canonical) request header carries the
// client's credentials or claims an identity, and so must not be forwarded.
// Names with an underscore are dropped too, as nginx does by default: CGI
// and WSGI servers read X_Mcpgate_Tenant and X-Mcpgate-Tenant as the same
// variable, so such a header could forge what mcpgate asserts.
func isClientOnly(k string) bool {
	if strings.IndexByte(k, '_') >= 0 {
		return true
	}
	switch k {
	case "Authorization", "Cookie", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
		return true
	}
	return len(k) >= 10 && strings.EqualFold(k[:10], "X-Mcpgate-")
}

// connectionTokens returns the header names listed in Connection, which are
// hop-by-hop too.
func connectionTokens(h http.Header) []string {
	var names []string
	for _, v := range h["Connection"] {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	return names
}

// signer keeps identity tokens per principal, so that a busy client does not
// cost a signature per request.
type signer struct {
	opts     IdentityOptions
	audience string
	now      func() time.Time

	mu     sync.Mutex
	tokens map[string]cachedToken
}

type cachedToken struct {
	token   string
	renewAt time.Time
}

const maxCachedTokens = 10000

func (s *signer) token(pr *mcpgate.Principal) (string, error) {
	scope := strings.Join(pr.Scopes, " ")
	key := pr.Tenant + "\x00" + pr.Subject + "\x00" + pr.ClientID + "\x00" + scope
	now := s.now()
	s.mu.Lock()
	if t, ok := s.tokens[key]; ok && now.Before(t.renewAt) {
		s.mu.Unlock()
		return t.token, nil
	}
	s.mu.Unlock()

	claims := map[string]any{
		"sub":   pr.Subject,
		"aud":   s.audience,
		"iat":   now.Unix(),
		"exp":   now.Add(s.opts.TTL).Unix(),
		"scope": scope,
	}
	if pr.Tenant != "" {
		claims["tenant"] = pr.Tenant
	}
	if pr.ClientID != "" {
		claims["client_id"] = pr.ClientID
	}
	tok, err := s.opts.Sign(claims)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.tokens == nil || len(s.tokens) >= maxCachedTokens {
		s.tokens = make(map[string]cachedToken)
	}
	s.tokens[key] = cachedToken{token: tok, renewAt: now.Add(s.opts.TTL / 2)}
	s.mu.Unlock()
	return tok, nil
}
