package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

// OverviewStore is what RunOverview needs: a store with grants and the
// dashboard's bounded reads.
type OverviewStore interface {
	mcpgate.Store
	mcpgate.ClientStore
	mcpgate.ConsentStore
	mcpgate.OverviewStore
}

// RunOverview runs the conformance suite for mcpgate.OverviewStore. open
// must return a new, empty store and close it when the test ends.
func RunOverview(t *testing.T, open func(t *testing.T) OverviewStore) {
	t.Helper()
	t.Run("LatestKeys", func(t *testing.T) { testLatestKeys(t, open(t)) })
	t.Run("LatestClients", func(t *testing.T) { testLatestClients(t, open(t)) })
	t.Run("ActiveGrants", func(t *testing.T) { testActiveGrants(t, open(t)) })
	t.Run("CountAudit", func(t *testing.T) { testCountAudit(t, open(t)) })
	t.Run("LatestAudit", func(t *testing.T) { testLatestAudit(t, open(t)) })
	t.Run("BadLimits", func(t *testing.T) { testOverviewLimits(t, open(t)) })
}

func testLatestKeys(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	for i := range 5 {
		mustCreateKey(t, s, newKey(fmt.Sprintf("k%d", i), base.Add(time.Duration(i)*time.Minute)))
	}
	if err := s.RevokeKey(ctx, "k4", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestKeys(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if ids := keyIDs(got); !slices.Equal(ids, []string{"k4", "k3", "k2"}) {
		t.Errorf("LatestKeys(3) = %v, want k4 k3 k2 (revoked ones included)", ids)
	}
	if d := diffKey(got[1], newKey("k3", base.Add(3*time.Minute))); d != "" {
		t.Errorf("LatestKeys: k3: %s", d)
	}
	if got, err := s.LatestKeys(ctx, 100); err != nil || len(got) != 5 {
		t.Errorf("LatestKeys(100) = %d keys, %v; want 5", len(got), err)
	}
}

func keyIDs(keys []*mcpgate.APIKey) []string {
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}

func testLatestClients(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	for i := range 4 {
		c := &mcpgate.Client{ID: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("App %d", i), RedirectURIs: []string{"https://app.example/cb"},
			GrantTypes: []string{"authorization_code"}, Source: "dcr", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeClient(ctx, "c3", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.LatestClients(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "c3" || got[1].ID != "c2" {
		t.Fatalf("LatestClients(2) = %+v, want c3, c2 (revoked ones included)", got)
	}
	if c := got[1]; c.Name != "App 2" || c.Source != "dcr" || !slices.Equal(c.RedirectURIs, []string{"https://app.example/cb"}) || !sameTime(c.CreatedAt, base.Add(2*time.Minute)) {
		t.Errorf("LatestClients[1] = %+v", c)
	}
	if got[0].RevokedAt.IsZero() {
		t.Error("LatestClients: c3 not shown revoked")
	}
	if _, err := s.LatestClients(ctx, 0); err == nil {
		t.Error("LatestClients(0) succeeded")
	}
}

func testActiveGrants(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	for i, subject := range []string{"alice", "bob", "carol", "dave"} {
		g := &mcpgate.Grant{ID: fmt.Sprintf("g%d", i), Subject: subject, Tenant: "t", ClientID: "c",
			Scopes: []string{"notes:read"}, Resource: "https://mcp.example.com/mcp", CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		if err := s.SaveGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeGrantByID(ctx, "g3", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, err := s.ActiveGrants(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range got {
		ids = append(ids, g.ID)
	}
	if !slices.Equal(ids, []string{"g2", "g1", "g0"}) {
		t.Errorf("ActiveGrants = %v, want g2 g1 g0 (every subject, not the revoked g3)", ids)
	}
	if g := got[0]; g.Subject != "carol" || g.Tenant != "t" || !slices.Equal(g.Scopes, []string{"notes:read"}) || !sameTime(g.CreatedAt, base.Add(2*time.Minute)) {
		t.Errorf("ActiveGrants[0] = %+v", g)
	}
	if got, err := s.ActiveGrants(ctx, 2); err != nil || len(got) != 2 || got[0].ID != "g2" {
		t.Errorf("ActiveGrants(2) = %v, %v", got, err)
	}
}

func testCountAudit(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	since := base.Truncate(time.Hour)
	add := func(at time.Time, decision string) {
		t.Helper()
		e := newAudit("r", at)
		e.Decision = decision
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	add(since.Add(-time.Microsecond), mcpgate.DecisionAllow) // before since
	add(since, mcpgate.DecisionAllow)
	add(since.Add(9*time.Minute), mcpgate.DecisionAllow)
	add(since.Add(9*time.Minute), mcpgate.DecisionDeny)
	add(since.Add(10*time.Minute), mcpgate.DecisionRateLimited) // first of the second interval
	add(since.Add(35*time.Minute), mcpgate.DecisionRateLimited)
	add(since.Add(35*time.Minute), mcpgate.DecisionRateLimited)
	add(since.Add(time.Hour), mcpgate.DecisionAllow) // at until: left out

	got, err := s.CountAudit(ctx, since, since.Add(time.Hour), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []mcpgate.AuditCount{
		{Start: since, Decision: mcpgate.DecisionAllow, Count: 2},
		{Start: since, Decision: mcpgate.DecisionDeny, Count: 1},
		{Start: since.Add(10 * time.Minute), Decision: mcpgate.DecisionRateLimited, Count: 1},
		{Start: since.Add(30 * time.Minute), Decision: mcpgate.DecisionRateLimited, Count: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("CountAudit = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || got[i].Start.Location() != time.UTC ||
			got[i].Decision != want[i].Decision || got[i].Count != want[i].Count {
			t.Errorf("CountAudit[%d] = %+v, want %+v in UTC", i, got[i], want[i])
		}
	}
	if got, err := s.CountAudit(ctx, since.Add(2*time.Hour), since.Add(3*time.Hour), time.Minute); err != nil || len(got) != 0 {
		t.Errorf("CountAudit of an empty range = %v, %v", got, err)
	}
	if _, err := s.CountAudit(ctx, since, since.Add(time.Hour), 0); err == nil {
		t.Error("CountAudit with step 0 succeeded")
	}
	if _, err := s.CountAudit(ctx, since, since.Add(-time.Hour), time.Minute); err == nil {
		t.Error("CountAudit with until before since succeeded")
	}
}

func testLatestAudit(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	decisions := []string{mcpgate.DecisionAllow, mcpgate.DecisionDeny, mcpgate.DecisionUnauthenticated,
		mcpgate.DecisionAllow, mcpgate.DecisionRateLimited, mcpgate.DecisionAllow}
	for i, d := range decisions {
		e := newAudit(fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Second))
		e.Decision = d
		e.Reason = "reason " + d
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	refused := []string{mcpgate.DecisionDeny, mcpgate.DecisionUnauthenticated, mcpgate.DecisionRateLimited}
	got, err := s.LatestAudit(ctx, refused, 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range got {
		ids = append(ids, e.RequestID)
	}
	if !slices.Equal(ids, []string{"r4", "r2"}) {
		t.Errorf("LatestAudit(refusals, 2) = %v, want r4 r2", ids)
	}
	want := newAudit("r4", base.Add(4*time.Second))
	if e := got[0]; e.Decision != mcpgate.DecisionRateLimited || e.Reason != "reason rate_limited" || !sameTime(e.Time, want.Time) ||
		e.Time.Location() != time.UTC || e.Subject != want.Subject || e.KeyID != want.KeyID || e.Target != want.Target ||
		e.Status != want.Status || e.Latency != want.Latency || e.Remote != want.Remote || e.ID == 0 {
		t.Errorf("LatestAudit[0] = %+v, want %+v", e, want)
	}
	if got, err := s.LatestAudit(ctx, []string{mcpgate.DecisionError}, 10); err != nil || len(got) != 0 {
		t.Errorf("LatestAudit of a decision never recorded = %v, %v", got, err)
	}
	if got, err := s.LatestAudit(ctx, nil, 10); err != nil || len(got) != 0 {
		t.Errorf("LatestAudit of no decision = %v, %v", got, err)
	}
}

func testOverviewLimits(t *testing.T, s OverviewStore) {
	ctx := t.Context()
	if _, err := s.LatestKeys(ctx, 0); err == nil {
		t.Error("LatestKeys(0) succeeded")
	}
	if _, err := s.ActiveGrants(ctx, -1); err == nil {
		t.Error("ActiveGrants(-1) succeeded")
	}
	if _, err := s.LatestAudit(ctx, []string{mcpgate.DecisionDeny}, 0); err == nil {
		t.Error("LatestAudit(0) succeeded")
	}
}
