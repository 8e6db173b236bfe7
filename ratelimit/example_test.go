package ratelimit_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authn"
	"github.com/mcpgate/mcpgate/authz"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/pipeline"
	"github.com/mcpgate/mcpgate/ratelimit"
)

// A Limiter goes into the pipeline's options. Here each caller may make
// two calls of the tool "search" a minute; the third gets 429 with
// Retry-After, and allowed answers carry the RateLimit fields.
func ExampleNew() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	store := inmem.New(&inmem.Options{Now: func() time.Time { return now }})
	limits, err := ratelimit.New(store, &ratelimit.Policy{
		Default: mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600},
		Rules:   []ratelimit.Rule{{Name: "search", Tool: "search", Limit: mcpgate.Limit{Rate: 2, Per: time.Minute, Burst: 2}}},
	}, nil)
	if err != nil {
		panic(err)
	}
	ann := authn.VerifierFunc(func(_ context.Context, _ string) (*mcpgate.Principal, error) {
		return &mcpgate.Principal{Subject: "ann"}, nil
	})
	h := pipeline.New(authn.New(ann, nil), &pipeline.Options{RateLimit: limits, Policy: &authz.Policy{}}).
		Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	for range 3 {
		r := httptest.NewRequest("POST", "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search"}}`))
		r.Header.Set("Authorization", "Bearer any")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " RateLimit: ", w.Header().Get("RateLimit"), " Retry-After: ", w.Header().Get("Retry-After"))))
	}
	// Output:
	// 200 RateLimit: "search";r=1;t=30 Retry-After:
	// 200 RateLimit: "search";r=0;t=60 Retry-After:
	// 429 RateLimit: "search";r=0;t=60 Retry-After: 30
}
