package authn

import (
	"context"
	"slices"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/apikey"
)

// CreateKey generates a new API key, stores it in store as k says (Name,
// Subject, Tenant, Scopes, ExpiresAt) and returns the key, which exists
// nowhere else: show it to its owner once. ID and Hash are generated; a
// zero CreatedAt is left for the store to set. k is not modified. The
// error is the store's.
//
// It is what `mcpgate keys create` does, for a server that issues keys
// itself (a sign-up page, an admin tool, a test).
func CreateKey(ctx context.Context, store mcpgate.KeyStore, k mcpgate.APIKey) (string, error) {
	key, id, hash, err := apikey.Generate()
	if err != nil {
		return "", err
	}
	k.ID, k.Hash, k.Scopes = id, hash, slices.Clone(k.Scopes)
	if err := store.CreateKey(ctx, &k); err != nil {
		return "", err
	}
	return key, nil
}
