package inmem_test

import (
	"context"
	"fmt"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
)

// A limit of 2 a minute: the third request at once is refused, and told
// when to come back.
func ExampleLimiter_Allow() {
	l := inmem.New(nil)
	limit, _ := mcpgate.ParseLimit("2/1m")
	for range 3 {
		d, _ := l.Allow(context.Background(), "p:alice", limit, 1)
		fmt.Println(d.Allowed, d.Remaining, d.RetryAfter.Round(1e9))
	}
	// Output:
	// true 1 0s
	// true 0 0s
	// false 0 30s
}
