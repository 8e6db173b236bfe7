package apikey_test

import (
	"fmt"

	"github.com/mcpgate/mcpgate/apikey"
)

func Example() {
	key, id, hash, err := apikey.Generate()
	if err != nil {
		panic(err)
	}
	// The key is shown to its owner once; the store keeps id and hash.
	gotID, secret, err := apikey.Parse(key)
	fmt.Println(len(key), gotID == id, err)
	fmt.Println(apikey.Verify(hash, secret))
	fmt.Println(apikey.Looks(key), apikey.Looks(damageLast(key)))
	// Output:
	// 67 true <nil>
	// true
	// true false
}
