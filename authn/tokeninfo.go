package authn

import (
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mcpgate/mcpgate"
)

// NeverExpires is the Expiration given to the TokenInfo of a credential
// without an expiry: the SDK refuses a zero Expiration.
var NeverExpires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// principalExtra is the TokenInfo.Extra key holding the *mcpgate.Principal.
const principalExtra = "principal"

// TokenInfo converts p to the MCP Go SDK's form. UserID is p.ID(), which
// binds SDK sessions to the principal: a session created by one principal
// cannot be used by another. Extra["principal"] holds p itself, which
// [PrincipalFromTokenInfo] returns. It returns nil for a nil p.
func TokenInfo(p *mcpgate.Principal) *auth.TokenInfo {
	if p == nil {
		return nil
	}
	exp := p.Expires
	if exp.IsZero() {
		exp = NeverExpires
	}
	return &auth.TokenInfo{
		Scopes:     p.Scopes,
		Expiration: exp,
		UserID:     p.ID(),
		Extra:      map[string]any{principalExtra: p},
	}
}

// PrincipalFromTokenInfo returns the principal that [TokenInfo] stored in
// ti, so that an MCP handler can use req.Extra.TokenInfo. It returns nil
// when ti is nil or was not made by TokenInfo.
func PrincipalFromTokenInfo(ti *auth.TokenInfo) *mcpgate.Principal {
	if ti == nil {
		return nil
	}
	p, _ := ti.Extra[principalExtra].(*mcpgate.Principal)
	return p
}
