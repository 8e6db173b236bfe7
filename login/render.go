package login

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// styleVersion changes whenever the stylesheet does, so browsers never use a
// stale cached copy.
var styleVersion = func() string {
	sum := sha256.Sum256(styleCSS)
	return hex.EncodeToString(sum[:6])
}()

// siteTemplates are the templates of the pages that need no Pages: the
// front page and the authorization error page.
var siteTemplates = sync.OnceValues(parseTemplates)

// layout is what the "head" template takes: the page's title and the
// class of its card ("wide" for pages with code on them).
type layout struct {
	Title string
	Class string
}

func parseTemplates() (*template.Template, error) {
	return template.New("").Funcs(template.FuncMap{
		"layout": func(title, class string) layout { return layout{title, class} },
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		},
		"day":          func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
		"styleVersion": func() string { return styleVersion },
	}).ParseFS(templateFS, "templates/*.html")
}

// StylesheetPath is where the pages' stylesheet is served; Stylesheet
// serves it there for a site that mounts the front page without Pages.
const StylesheetPath = "/login/style.css"

// Stylesheet serves the pages' stylesheet.
var Stylesheet http.Handler = http.HandlerFunc(serveCSS)

func serveCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	// The URL carries the content hash, so it may be cached for long.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(styleCSS)
}

// setPageHeaders sets the security headers every page carries. formTargets
// are origins (or "scheme:" sources) that forms on the page may submit to
// or be redirected to, besides this server.
func setPageHeaders(w http.ResponseWriter, formTargets ...string) {
	formAction := "'self'"
	for _, t := range formTargets {
		if t != "" {
			formAction += " " + t
		}
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; "+
		"form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// render executes template name into a buffer first, so a template error
// becomes a clean 500 rather than half a page.
func (p *Pages) render(w http.ResponseWriter, status int, name string, data any, formTargets ...string) {
	renderPage(w, p.tmpl, p.log, status, name, data, formTargets...)
}

func renderPage(w http.ResponseWriter, tmpl *template.Template, log *slog.Logger, status int, name string, data any, formTargets ...string) {
	var buf bytes.Buffer
	err := errors.New("no templates")
	if tmpl != nil {
		err = tmpl.ExecuteTemplate(&buf, name, data)
	}
	if err != nil {
		log.Error("login: render page", "page", name, "err", err)
		setPageHeaders(w)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	setPageHeaders(w, formTargets...)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type messagePage struct {
	Title   string
	Message string
	Link    string // where the "Continue" link goes; empty: none
}

func (p *Pages) renderMessage(w http.ResponseWriter, status int, title, msg, link string) {
	p.render(w, status, "message.html", messagePage{Title: title, Message: msg, Link: link})
}

// redirectSource returns the CSP source expression that allows a form on
// this server to end up at redirectURI: its origin for http(s), its scheme
// for custom schemes of native apps. It returns "" for anything that could
// not be written safely into the header.
func redirectSource(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	for _, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return ""
		}
	}
	if scheme != "http" && scheme != "https" {
		return scheme + ":"
	}
	host := strings.ToLower(u.Host)
	if host == "" {
		return ""
	}
	for _, c := range host {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return scheme + "://" + host
}

// redirectHost is what the consent page shows as where the person is sent:
// the host and port, or the scheme for a native app's custom scheme.
func redirectHost(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil {
		return redirectURI
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
		return u.Scheme + ":"
	}
	return u.Host
}
