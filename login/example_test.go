package login_test

import (
	"fmt"
	"strings"

	"github.com/mcpgate/mcpgate/login"
)

// The CLI's `mcpgate users add NAME` reads the password from standard
// input and stores only its hash.
func ExampleHashPassword() {
	pw, err := login.ReadPassword(strings.NewReader("correct horse battery\n"))
	if err != nil {
		panic(err)
	}
	hash, err := login.HashPassword(pw)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$"))

	ok, _ := login.CheckPassword(hash, "correct horse battery")
	fmt.Println(ok)
	ok, _ = login.CheckPassword(hash, "Correct horse battery")
	fmt.Println(ok)
	// Output:
	// true
	// true
	// false
}
