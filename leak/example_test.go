package leak_test

import (
	"fmt"

	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/leak"
)

// Lines finds an mcpgate key in text and masks it; a look-alike whose
// checksum does not match is not reported.
func ExampleLines() {
	key, id, _, _ := apikey.Generate()
	last := "A"
	if key[len(key)-1] == 'A' {
		last = "B"
	}
	damaged := key[:len(key)-1] + last // a mistyped copy
	found := leak.Lines([]leak.Line{
		{N: 1, Text: `export MCPGATE_KEY="` + key + `"`},
		{N: 2, Text: `export OTHER="` + damaged + `"`},
	})
	for _, f := range found {
		fmt.Println(f.Line, f.Kind, f.KeyID == id)
	}
	// Output:
	// 1 mcpgate-api-key true
}
