package login

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/postgres"
	"github.com/mcpgate/mcpgate/sqlite"
)

// BenchmarkSignIn measures password sign-ins through the handler against
// their baseline, one argon2id check, in the same run. Ratios near 1 show
// that the pages add little to the hash, and that an unknown name costs
// what a wrong password for a real one does.
func BenchmarkSignIn(b *testing.B) {
	ah, _ := testHashes(b)
	users := newFakeUsers()
	if err := users.CreateUser(b.Context(), &mcpgate.User{Name: "alice", PasswordHash: ah}); err != nil {
		b.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	p, err := New(newFakeBackend(), users, newFakeGrants(), nil, &Options{
		Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Issuer: "http://127.0.0.1:8080",
	})
	if err != nil {
		b.Fatal(err)
	}
	h := p.Handler()
	token, _ := randomToken()
	post := func(user, pw string, want int) {
		form := url.Values{"csrf": {token}, "method": {"password"}, "username": {user}, "password": {pw}}
		r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: loginCookieName, Value: token})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			b.Fatalf("status %d, want %d", w.Code, want)
		}
		clock.Advance(2 * time.Hour) // past any lock, so throttling does not interfere
	}
	// The four are interleaved in one loop, so that load from elsewhere on
	// the machine falls on all of them alike, and reported as ratios.
	var base, wrong, unknown, right time.Duration
	for b.Loop() {
		t0 := time.Now()
		if _, err := CheckPassword(ah, "wrong password"); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		post("alice", "wrong password", http.StatusUnauthorized)
		t2 := time.Now()
		post("mallory", "wrong password", http.StatusUnauthorized)
		t3 := time.Now()
		post("alice", alicePassword, http.StatusSeeOther)
		t4 := time.Now()
		base, wrong, unknown, right = base+t1.Sub(t0), wrong+t2.Sub(t1), unknown+t3.Sub(t2), right+t4.Sub(t3)
	}
	n := float64(b.N)
	b.ReportMetric(float64(base.Milliseconds())/n, "argon2id-ms/op")
	b.ReportMetric(float64(wrong)/float64(base), "wrong-pw/argon2id")
	b.ReportMetric(float64(unknown)/float64(base), "unknown-user/argon2id")
	b.ReportMetric(float64(unknown)/float64(wrong), "unknown-user/wrong-pw")
	b.ReportMetric(float64(right)/float64(base), "right-pw/argon2id")
}

// BenchmarkSignedInPage measures a page request of a signed-in person (the
// connected-apps page) with the session in memory, in SQLite and in
// Postgres: finding the session behind the cookie is what every page after
// sign-in pays, and with a store every replica shares it is one indexed
// read, with no cache that could outlive a sign-out elsewhere.
func BenchmarkSignedInPage(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchSignedInPage(b, nil) })
	b.Run("sqlite", func(b *testing.B) {
		db, err := sqlite.Open(b.Context(), b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchSignedInPage(b, db)
	})
	b.Run("postgres", func(b *testing.B) {
		base := os.Getenv("MCPGATE_TEST_POSTGRES_URL")
		if base == "" {
			base = "postgres://postgres@127.0.0.1:5432/test"
		}
		schema := "t_bench_" + strings.ToLower(rand.Text())
		db, err := postgres.Open(context.Background(), base+"?search_path="+schema)
		if err != nil {
			b.Skipf("Postgres: %v", err)
		}
		defer func() {
			_, _ = db.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			db.Close()
		}()
		benchSignedInPage(b, db)
	})
}

func benchSignedInPage(b *testing.B, sessions mcpgate.SigninSessionStore) {
	ah, _ := testHashes(b)
	users := newFakeUsers()
	if err := users.CreateUser(b.Context(), &mcpgate.User{Name: "alice", PasswordHash: ah}); err != nil {
		b.Fatal(err)
	}
	p, err := New(newFakeBackend(), users, newFakeGrants(), nil, &Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Issuer: "http://127.0.0.1:8080", Sessions: sessions,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := p.Handler()
	token, _ := randomToken()
	form := url.Values{"csrf": {token}, "method": {"password"}, "username": {"alice"}, "password": {alicePassword}}
	r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.AddCookie(&http.Cookie{Name: loginCookieName, Value: token})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	var session *http.Cookie
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookieName && c.Value != "" {
			session = c
		}
	}
	if w.Code != http.StatusSeeOther || session == nil {
		b.Fatalf("sign-in: status %d, session cookie %v", w.Code, session)
	}
	for b.Loop() {
		r := httptest.NewRequest(http.MethodGet, "/apps", nil)
		r.AddCookie(session)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("GET /apps: status %d", w.Code)
		}
	}
}
