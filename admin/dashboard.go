package admin

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/inmem"
	"github.com/mcpgate/mcpgate/login"
	"github.com/mcpgate/mcpgate/redact"
)

// Scope is the reserved scope of mcpgate's own administration: only an API
// key created with it explicitly (mcpgate keys create --scope
// mcpgate:admin) signs in to the dashboard.
const Scope = "mcpgate:admin"

// Store is what the dashboard reads and changes. Revocations go through
// the same store calls as the CLI's, which append to the change feed, so
// every replica applies them.
type Store interface {
	mcpgate.OverviewStore
	// RevokeKey is mcpgate.KeyStore's.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// Client is mcpgate.ClientStore's.
	Client(ctx context.Context, id string) (*mcpgate.Client, error)
	// Grant and RevokeGrant are mcpgate.GrantStore's.
	Grant(ctx context.Context, id string) (*mcpgate.Grant, error)
	RevokeGrant(ctx context.Context, subject, id string, at time.Time) error
}

// KeyVerifier checks API keys; authn.KeyVerifier does, and the dashboard
// should be given the gateway's own (gateway.Gateway.KeyVerifier), whose
// cache the change feed keeps current.
type KeyVerifier interface {
	// Verify returns the principal of an API key, or an error matching
	// mcpgate.ErrUnauthenticated for a bad one.
	Verify(ctx context.Context, key string) (*mcpgate.Principal, error)
	// CheckKey returns an error matching mcpgate.ErrUnauthenticated once
	// the key with id is revoked, expired or gone.
	CheckKey(ctx context.Context, id string) error
}

// DashboardOptions configure a Dashboard. The zero value is valid.
type DashboardOptions struct {
	// Now returns the current time; time.Now by default.
	Now func() time.Time
	// Logger receives sign-ins, refusals and revocations; slog.Default()
	// by default. Keys and session ids are never logged.
	Logger *slog.Logger
	// Limiter is charged with failed sign-ins; give the gateway's shared
	// (Redis) limiter so that the budget holds across replicas. Nil keeps
	// it in this process.
	Limiter mcpgate.Limiter
	// SessionTTL is how long a sign-in lasts at most; 8 hours by default.
	// It ends sooner when its key expires or is revoked.
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept in memory; 1,000 by default.
	MaxSessions int
}

// How many rows each table shows; the store is asked for one more, to
// tell whether there are others.
const (
	maxKeys    = 200
	maxClients = 200
	maxGrants  = 200
	maxDenials = 25
)

// maxFormBytes bounds a posted form.
const maxFormBytes = 16 << 10

// Dashboard serves the admin dashboard: sign-in with an admin API key,
// keys, OAuth clients, connected grants, the latest refusals and charts
// of the audit log, and revocation of keys and grants.
type Dashboard struct {
	store    Store
	keys     KeyVerifier
	now      func() time.Time
	log      *slog.Logger
	ttl      time.Duration
	sessions *sessions
	throttle *signinThrottle
	tmpl     *template.Template
	cop      *http.CrossOriginProtection
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/admin.css
var adminCSS []byte

// NewDashboard returns the dashboard over store, signing in with keys.
// opts may be nil.
func NewDashboard(store Store, keys KeyVerifier, opts *DashboardOptions) (*Dashboard, error) {
	if store == nil || keys == nil {
		return nil, errors.New("admin: a store and a key verifier are required")
	}
	var o DashboardOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Limiter == nil {
		o.Limiter = inmem.New(&inmem.Options{Now: o.Now, MaxKeys: maxLocks})
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 1000
	}
	cssVersion := login.StylesheetVersion()
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"when":         when,
		"styleVersion": func() string { return cssVersion },
		"join":         strings.Join,
		"thousands":    thousands,
		"lower":        strings.ToLower,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	d := &Dashboard{
		store: store, keys: keys, now: o.Now, log: o.Logger, ttl: o.SessionTTL,
		sessions: newSessions(o.MaxSessions),
		throttle: &signinThrottle{limiter: o.Limiter, until: make(map[string]time.Time)},
		tmpl:     tmpl,
		cop:      http.NewCrossOriginProtection(),
	}
	d.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.renderMessage(w, http.StatusForbidden, "Request refused", "This form was sent from another site, so it was refused.")
	}))
	return d, nil
}

// Handler serves GET / (the dashboard), GET/POST /signin, POST /signout,
// POST /keys/revoke, POST /grants/revoke and the stylesheets. Every POST
// must pass http.CrossOriginProtection (Sec-Fetch-Site, Origin) and carry
// its form's CSRF token.
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.getDashboard)
	mux.HandleFunc("GET /signin", d.getSignin)
	mux.HandleFunc("POST /signin", d.postSignin)
	mux.HandleFunc("POST /signout", d.postSignout)
	mux.HandleFunc("POST /keys/revoke", d.postRevokeKey)
	mux.HandleFunc("POST /grants/revoke", d.postRevokeGrant)
	mux.Handle("GET /static/style.css", login.Stylesheet)
	mux.HandleFunc("GET /static/admin.css", serveAdminCSS)
	return d.cop.Handler(withPageDefaults(mux))
}

// serveAdminCSS serves the dashboard's own stylesheet. Its URL carries the
// shared stylesheet's version, not its own, so browsers revalidate it.
func serveAdminCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(adminCSS)
}

// withPageDefaults sets the security headers before routing, so that the
// mux's own 404 and 405 answers carry them too, and bounds posted forms.
func withPageDefaults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		}
		h.ServeHTTP(w, r)
	})
}

func (d *Dashboard) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		d.renderMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// render executes template name into a buffer first, so that a template
// error becomes a clean 500 rather than half a page.
func (d *Dashboard) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := d.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		d.log.Error("admin: render page", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct{ Title, Message string }

func (d *Dashboard) renderMessage(w http.ResponseWriter, status int, title, msg string) {
	d.render(w, status, "message.html", messagePage{title, msg})
}

func (d *Dashboard) internalError(w http.ResponseWriter, what string, err error) {
	d.log.Error("admin: "+what, "err", err)
	d.renderMessage(w, http.StatusInternalServerError, "Something went wrong", "The page could not be shown. The error was logged.")
}

func (d *Dashboard) csrfRefused(w http.ResponseWriter) {
	d.renderMessage(w, http.StatusForbidden, "Request refused", "This form has expired or was not sent by this dashboard. Go back, reload the page and try again.")
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2 Jan 2006 15:04 UTC")
}

type keyRow struct {
	*mcpgate.APIKey
	State  string // active, expired, revoked, rotated
	Active bool
	Admin  bool
}

type grantRow struct {
	*mcpgate.Grant
	ClientName string
}

type clientRow struct {
	*mcpgate.Client
	Redirects []string // hosts of the redirect URIs
	Revoked   bool
}

type denialRow struct {
	*mcpgate.AuditEvent
	Target string // masked
}

type dashboardPage struct {
	Subject, KeyID, CSRF string
	Notice               string
	Range                chartRange
	Ranges               []chartRange
	Charts               []*chart
	Keys                 []keyRow
	MoreKeys             bool
	Clients              []clientRow
	MoreClients          bool
	Grants               []grantRow
	MoreGrants           bool
	Denials              []denialRow
	Now                  time.Time
}

// refusals are the decisions the "latest refusals" table shows.
var refusals = []string{mcpgate.DecisionDeny, mcpgate.DecisionUnauthenticated, mcpgate.DecisionRateLimited,
	mcpgate.DecisionTooLarge, mcpgate.DecisionBadRequest}

func (d *Dashboard) getDashboard(w http.ResponseWriter, r *http.Request) {
	s, _ := d.requireSession(w, r)
	if s == nil {
		return
	}
	ctx, now := r.Context(), d.now()
	page := dashboardPage{Subject: s.Subject, KeyID: s.KeyID, CSRF: s.CSRF, Now: now, Ranges: chartRanges}
	page.Range = findRange(r.URL.Query().Get("range"))
	switch r.URL.Query().Get("done") {
	case "key":
		page.Notice = "Key revoked. It is refused from now on, on every replica."
	case "grant":
		page.Notice = "Grant revoked. The app's tokens are refused from now on, on every replica."
	}

	keys, err := d.store.LatestKeys(ctx, maxKeys+1)
	if err != nil {
		d.internalError(w, "list keys", err)
		return
	}
	if len(keys) > maxKeys {
		keys, page.MoreKeys = keys[:maxKeys], true
	}
	for _, k := range keys {
		row := keyRow{APIKey: k, Active: k.Valid(now), Admin: slices.Contains(k.Scopes, Scope)}
		switch {
		case !k.RevokedAt.IsZero() && !now.Before(k.RevokedAt):
			row.State = "revoked"
		case !row.Active:
			row.State = "expired"
		case k.RotatedTo != "":
			row.State = "rotated"
		default:
			row.State = "active"
		}
		page.Keys = append(page.Keys, row)
	}

	clients, err := d.store.LatestClients(ctx, maxClients+1)
	if err != nil {
		d.internalError(w, "list clients", err)
		return
	}
	if len(clients) > maxClients {
		clients, page.MoreClients = clients[:maxClients], true
	}
	names := make(map[string]string, len(clients))
	for _, c := range clients {
		names[c.ID] = c.Name
		row := clientRow{Client: c, Revoked: !c.RevokedAt.IsZero()}
		for _, u := range c.RedirectURIs {
			row.Redirects = append(row.Redirects, redirectHost(u))
		}
		row.Redirects = slices.Compact(row.Redirects)
		page.Clients = append(page.Clients, row)
	}

	grants, err := d.store.ActiveGrants(ctx, maxGrants+1)
	if err != nil {
		d.internalError(w, "list grants", err)
		return
	}
	if len(grants) > maxGrants {
		grants, page.MoreGrants = grants[:maxGrants], true
	}
	for _, g := range grants {
		name, known := names[g.ClientID]
		if !known {
			// A client older than those listed: one lookup per client.
			c, err := d.store.Client(ctx, g.ClientID)
			if err != nil && !errors.Is(err, mcpgate.ErrNotFound) {
				d.internalError(w, "look up client", err)
				return
			}
			if c != nil {
				name = c.Name
			}
			names[g.ClientID] = name
		}
		if name == "" {
			name = g.ClientID
		}
		page.Grants = append(page.Grants, grantRow{Grant: g, ClientName: name})
	}

	denials, err := d.store.LatestAudit(ctx, refusals, maxDenials)
	if err != nil {
		d.internalError(w, "latest refusals", err)
		return
	}
	for _, e := range denials {
		page.Denials = append(page.Denials, denialRow{AuditEvent: e, Target: redact.String(e.Target)})
	}

	page.Charts, err = d.charts(ctx, page.Range, now)
	if err != nil {
		d.internalError(w, "count audit events", err)
		return
	}
	d.render(w, http.StatusOK, "dashboard.html", page)
}

// postRevokeKey revokes a key with the store call `mcpgate keys revoke`
// makes, which appends to the change feed.
func (d *Dashboard) postRevokeKey(w http.ResponseWriter, r *http.Request) {
	s, ok := d.checkPost(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("key")
	err := d.store.RevokeKey(r.Context(), id, d.now())
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		d.renderMessage(w, http.StatusNotFound, "Not found", "That key was not found.")
		return
	case err != nil:
		d.internalError(w, "revoke key", err)
		return
	}
	// The change feed ends sessions of the key within its delay; this
	// process's own end at once.
	d.sessions.endKey(id)
	d.log.Info("admin: key revoked", "key_id", id, "by_key_id", s.KeyID, "by_subject", s.Subject)
	http.Redirect(w, r, "/?done=key", http.StatusSeeOther)
}

// postRevokeGrant revokes a grant, and every token under it, with the
// store call of the connected-apps page and `mcpgate users disable`.
func (d *Dashboard) postRevokeGrant(w http.ResponseWriter, r *http.Request) {
	s, ok := d.checkPost(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("grant")
	g, err := d.store.Grant(r.Context(), id)
	if err == nil {
		err = d.store.RevokeGrant(r.Context(), g.Subject, id, d.now())
	}
	switch {
	case errors.Is(err, mcpgate.ErrNotFound):
		d.renderMessage(w, http.StatusNotFound, "Not found", "That grant was not found.")
		return
	case err != nil:
		d.internalError(w, "revoke grant", err)
		return
	}
	d.log.Info("admin: grant revoked", "grant_id", id, "subject", g.Subject, "client_id", g.ClientID, "by_key_id", s.KeyID, "by_subject", s.Subject)
	http.Redirect(w, r, "/?done=grant", http.StatusSeeOther)
}

// checkPost parses a signed-in form and checks its CSRF token; it answers
// and returns false when either fails.
func (d *Dashboard) checkPost(w http.ResponseWriter, r *http.Request) (*session, bool) {
	if !d.parseForm(w, r) {
		return nil, false
	}
	s, _ := d.requireSession(w, r)
	if s == nil {
		return nil, false
	}
	if !tokensEqual(s.CSRF, r.PostForm.Get("csrf")) {
		d.log.Warn("admin: form refused: CSRF token missing or wrong", "key_id", s.KeyID, "path", r.URL.Path)
		d.csrfRefused(w)
		return nil, false
	}
	return s, true
}

// redirectHost is how the clients table shows a redirect URI: its host
// (and port), or the scheme of a native app's custom scheme.
func redirectHost(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return uri
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return u.Scheme + ":"
	}
	return u.Host
}
