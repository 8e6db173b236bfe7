package secret_test

import (
	"fmt"
	"os"

	"github.com/mcpgate/mcpgate/secret"
)

// A secret setting names where the secret is, so the secret itself is in
// neither the command line nor the config file.
func ExampleResolve() {
	os.Setenv("EXAMPLE_WEBHOOK_SECRET", "from the environment") // gitleaks:allow
	v, err := secret.Resolve("env:EXAMPLE_WEBHOOK_SECRET")
	fmt.Println(v, err)
	_, err = secret.Resolve("env:EXAMPLE_NOT_SET")
	fmt.Println(err != nil)
	// Output:
	// from the environment <nil>
	// true
}
