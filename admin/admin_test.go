package admin_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/admin"
	"github.com/mcpgate/mcpgate/apikey"
	"github.com/mcpgate/mcpgate/gateway"
	"github.com/mcpgate/mcpgate/sqlite"
)

var _ gateway.Observer = (*admin.Metrics)(nil)

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	key, id, hash, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateKey(ctx, &mcpgate.APIKey{ID: id, Name: "m", Subject: "alice", Hash: hash, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	metrics := admin.NewMetrics()
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	gw, err := gateway.New(store, "http://example.com/mcp", &gateway.Options{
		Observer:  metrics,
		Upstreams: []gateway.Upstream{{Name: "echo", Path: "/mcp", Handler: upstream}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	call := func(bearer string) {
		r := httptest.NewRequest(http.MethodPost, "http://example.com/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`))
		r.Header.Set("Authorization", "Bearer "+bearer)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json, text/event-stream")
		gw.Handler().ServeHTTP(httptest.NewRecorder(), r)
	}
	for range 3 {
		call(key)
	}
	call("mcpg_nope")
	if _, err := store.PublishChange(ctx, mcpgate.ChangeToken, "jti"); err != nil {
		t.Fatal(err)
	}

	srv := httptest.NewServer(admin.Handler(&admin.Options{Metrics: metrics}))
	defer srv.Close()
	var families map[string]float64
	deadline := time.Now().Add(10 * time.Second)
	republish := time.Now().Add(time.Second)
	for {
		families = scrape(t, srv.URL+"/metrics")
		if families["mcpgate_audit_events_stored_total"] >= 4 && families[`mcpgate_changes_applied_total{kind="token"}`] >= 1 || time.Now().After(deadline) {
			break
		}
		if time.Now().After(republish) {
			// A change published before the watcher took its starting
			// point is behind it: publish another.
			if _, err := store.PublishChange(ctx, mcpgate.ChangeToken, "jti"); err != nil {
				t.Fatal(err)
			}
			republish = time.Now().Add(time.Second)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, want := range map[string]float64{
		`mcpgate_requests_total{decision="allow",upstream="/mcp"}`:           3,
		`mcpgate_requests_total{decision="unauthenticated",upstream="/mcp"}`: 1,
		"mcpgate_authentication_seconds_count":                               4,
		"mcpgate_audit_events_stored_total":                                  4,
	} {
		if got := families[name]; got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{`mcpgate_changes_applied_total{kind="token"}`, "mcpgate_change_feed_lag_seconds_count"} {
		if families[name] < 1 {
			t.Errorf("%s = %v, want at least 1", name, families[name])
		}
	}
	if _, ok := families["mcpgate_audit_queue_depth"]; !ok {
		t.Error("mcpgate_audit_queue_depth missing")
	}
}

// scrape reads /metrics with the Prometheus text parser, flattening each
// sample to name{labels} (labels in the order served) or name.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			key := name
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+`="`+l.GetValue()+`"`)
				}
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

func TestReady(t *testing.T) {
	var draining bool
	srv := httptest.NewServer(admin.Handler(&admin.Options{Ready: func(context.Context) error {
		if draining {
			return errors.New("shutting down")
		}
		return nil
	}}))
	defer srv.Close()
	get := func(path string) int {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/readyz"); got != 200 {
		t.Errorf("/readyz = %d, want 200", got)
	}
	draining = true
	if got := get("/readyz"); got != 503 {
		t.Errorf("/readyz while draining = %d, want 503", got)
	}
	if got := get("/healthz"); got != 200 {
		t.Errorf("/healthz while draining = %d, want 200", got)
	}
	if got := get("/metrics"); got != 404 {
		t.Errorf("/metrics without Metrics = %d, want 404", got)
	}
}
