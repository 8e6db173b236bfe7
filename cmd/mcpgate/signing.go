package main

import "fmt"

// OAuthCmd groups maintenance of the authorization server.
type OAuthCmd struct {
	RotateKey   OAuthRotateKeyCmd   `cmd:"" name:"rotate-key" help:"Start signing tokens with a new key; the old one stays published until its tokens expire."`
	EncryptKeys OAuthEncryptKeysCmd `cmd:"" name:"encrypt-keys" help:"Encrypt the stored signing keys with --encryption-key: keys stored unencrypted, and after a rotation keys under --encryption-key-previous."`
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

// OAuthEncryptKeysCmd encrypts the stored signing keys with the current
// encryption key.
type OAuthEncryptKeysCmd struct{}

// Run encrypts, in place, the signing keys stored unencrypted (before
// mcpgate encrypted them) or under --encryption-key-previous. The keys
// themselves do not change, so tokens they signed keep verifying; a server
// still running with only the previous key can no longer reload them, so
// give every replica both keys before running it.
func (c *OAuthEncryptKeysCmd) Run(e *env, g *Globals) error {
	srv, store, err := g.authServer(e)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := srv.EncryptSigningKeys(e.ctx)
	if err != nil {
		return g.keyDecryptionError(err)
	}
	fmt.Fprintf(e.stdout, "Encrypted %d signing key(s) with the key from %s; the others were already.\n", n, g.encryptionKeySource())
	return nil
}
