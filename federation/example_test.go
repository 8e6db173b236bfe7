package federation_test

import (
	"fmt"

	"github.com/mcpgate/mcpgate/federation"
)

// A person's local subject is derived from their provider and their sub
// there: stable across sign-ins, different at another provider, never a
// local user's name.
func ExampleSubject() {
	a := federation.Subject("https://sso.example.com/realms/acme", "248289761001")
	b := federation.Subject("https://accounts.google.com", "248289761001")
	fmt.Println(a)
	fmt.Println(a == b, federation.IsFederated(a), federation.IsFederated("alice"))
	// Output:
	// oidc:iROJEEDHRBnJS7so:248289761001
	// false true false
}
