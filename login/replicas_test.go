package login

import (
	"bytes"
	"crypto/sha256"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/sqlite"
)

// TestSessionsSharedByReplicas runs the pages twice, as two replicas, each
// with its own handle on one SQLite store, and sends one browser's requests
// to both in turn: a sign-in on one is known to the other, consent shown
// by one is accepted by the other, a sign-out on one ends the session on
// both, and so does ending the subject's sessions (what users disable,
// remove and passwd do). The store never holds the session id.
func TestSessionsSharedByReplicas(t *testing.T) {
	dir := t.TempDir()
	open := func() *sqlite.DB {
		db, err := sqlite.Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	e := newEnv(t, func(o *Options) { o.Sessions = dbA })
	pagesB, err := New(e.backend, e.users, e.grants, e.keys, &Options{
		Now: e.clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Issuer: "http://127.0.0.1:8080", Sessions: dbB,
	})
	if err != nil {
		t.Fatal(err)
	}
	srvA, srvB := e.srv.URL, newServer(t, pagesB.Handler()).URL

	a := e.agent()
	on := func(base string) *agent { a.base = base; return a }
	req := e.backend.addRequest("cli-app", appRedirect, "notes:read")
	wantRedirect(t, on(srvA).login(req, "alice", alicePassword), "/consent?req="+req)
	consent := on(srvB).get("/consent?req=" + req)
	wantStatus(t, consent, http.StatusOK)
	res := on(srvA).post("/consent", url.Values{"csrf": {csrf(t, consent)}, "req": {req}, "action": {"approve"}, "scope": {"notes:read"}})
	if res.Status != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), appRedirect) {
		t.Fatalf("consent approved on the other replica: %d %s\n%s", res.Status, res.Header.Get("Location"), res.Body)
	}

	id := a.cookies[sessionCookieName]
	rows, err := dbA.SQL().QueryContext(t.Context(), "SELECT * FROM signin_sessions")
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	n := 0
	for rows.Next() {
		n++
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256([]byte(id))
		for i, v := range vals {
			b, _ := v.([]byte)
			s, _ := v.(string)
			if strings.Contains(s, id) || bytes.Contains(b, []byte(id)) || strings.Contains(s, sessionCSRF(id)) {
				t.Errorf("column %s holds the session id or its CSRF token", cols[i])
			}
			if cols[i] == "id_hash" && !bytes.Equal(b, want[:]) {
				t.Errorf("id_hash %x, want the SHA-256 of the id", b)
			}
		}
	}
	rows.Close()
	if n != 1 {
		t.Fatalf("%d stored sessions, want 1", n)
	}

	// Signed out on B: A no longer knows the session either.
	apps := on(srvA).get("/apps")
	wantStatus(t, apps, http.StatusOK)
	a.cookies[sessionCookieName] = id // as a browser that kept a copy would send it
	wantRedirect(t, on(srvB).post("/logout", url.Values{"csrf": {csrf(t, apps)}}), "/login")
	a.cookies[sessionCookieName] = id
	wantRedirect(t, on(srvA).get("/apps"), "/login")

	// Ending the subject's sessions through the store signs alice out of
	// both.
	wantRedirect(t, on(srvB).login("", "alice", alicePassword), "/apps")
	wantStatus(t, on(srvA).get("/apps"), http.StatusOK)
	if n, err := dbA.DeleteSubjectSigninSessions(t.Context(), "alice"); err != nil || n != 1 {
		t.Fatalf("DeleteSubjectSigninSessions = %d, %v; want 1", n, err)
	}
	wantRedirect(t, on(srvA).get("/apps"), "/login")
	wantRedirect(t, on(srvB).get("/apps"), "/login")
}
