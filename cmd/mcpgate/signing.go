package main

import "fmt"

// OAuthCmd groups maintenance of the authorization server.
type OAuthCmd struct {
	RotateKey OAuthRotateKeyCmd `cmd:"" name:"rotate-key" help:"Start signing tokens with a new key; the old one stays published until its tokens expire."`
}

// OAuthRotateKeyCmd rotates the token signing key.
type OAuthRotateKeyCmd struct{}

// Run adds a new signing key. Running servers pick it up on their next key
// refresh; tokens signed with the old key keep verifying until they expire.
func (c *OAuthRotateKeyCmd) Run(e *env, g *Globals) error {
	srv, store, err := g.authServer(e)
	if err != nil {
		return err
	}
	defer store.Close()
	kid, err := srv.RotateSigningKey(e.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "New signing key %s; the previous key stays in /jwks.json until its tokens expire.\n", kid)
	return nil
}
