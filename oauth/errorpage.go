package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"strings"
)

// AuthorizeFailure is an authorization request that cannot continue and
// cannot be answered at the app's redirect URI, because the app or that URI
// is not trusted ([RFC 6749] §4.1.2.1): the person who followed the link
// sees a page saying so. Title, What and Todo are plain words for that
// person; the other fields are protocol detail for the app's developer.
// None of them holds anything internal to the server.
//
// [RFC 6749]: https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2.1
type AuthorizeFailure struct {
	Status int    // HTTP status of the answer
	Title  string // what went wrong, in a few words
	What   string // what happened, in a sentence or two
	Todo   string // what the person can do about it

	Error       string // RFC 6749 error code, e.g. invalid_request
	Description string // error_description, as a JSON caller gets it
	ClientID    string // client_id of the request, as sent
	RedirectURI string // redirect_uri of the request, as sent
	// Cause says why the app's client metadata document could not be
	// used (fetched, or valid); empty for other failures.
	Cause string
}

// ErrorPageFunc writes the page of an AuthorizeFailure, with its status,
// to a browser. See Options.ErrorPage.
type ErrorPageFunc func(w http.ResponseWriter, r *http.Request, f *AuthorizeFailure)

// failureKind is the reason VerifyAuthRequest refused a request, noted in
// the request's context for the error page to explain.
type failureKind uint8

const (
	failInvalid        failureKind = iota // anything the library refused
	failUnknownClient                     // no such client, or revoked
	failClientMetadata                    // the client's metadata document is unusable
	failRedirect                          // redirect_uri not registered
	failBusy                              // too many metadata fetches from this address
)

// failureNote is where VerifyAuthRequest notes why it refused a request.
type failureNote struct {
	kind  failureKind
	cause string
}

type failureKey struct{}

// noteFailure records why the request of ctx is refused, when errorPage
// asked for it.
func noteFailure(ctx context.Context, kind failureKind, cause string) {
	if n, ok := ctx.Value(failureKey{}).(*failureNote); ok {
		n.kind, n.cause = kind, cause
	}
}

// errorPage answers a browser whose authorization request is refused
// without a redirect (an unknown client, an unregistered redirect_uri, an
// unusable metadata document) with a page it can read, written by page;
// other callers get the library's JSON error unchanged.
func errorPage(h http.Handler, page ErrorPageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			h.ServeHTTP(w, r)
			return
		}
		note := &failureNote{}
		r = r.WithContext(context.WithValue(r.Context(), failureKey{}, note))
		rec := &errorRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status < 400 {
			return
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &e) // a body that is not JSON leaves them empty
		w.Header().Del("Content-Length")
		page(w, r, describeFailure(r, rec.status, note, e.Error, e.Description))
	})
}

// describeFailure puts a refused request into words.
func describeFailure(r *http.Request, status int, n *failureNote, code, desc string) *AuthorizeFailure {
	f := &AuthorizeFailure{Status: status, Error: code, Description: desc,
		ClientID: r.FormValue("client_id"), RedirectURI: r.FormValue("redirect_uri"), Cause: n.cause}
	if f.Error == "" {
		f.Error = "invalid_request"
	}
	again := "Go back to the app and connect again. If this keeps happening, contact the app's developer or the administrator of this server."
	switch {
	case status >= 500:
		f.Title = "Something went wrong on this server"
		f.What = "The server could not handle this sign-in request."
		f.Todo = "Wait a minute, then go back to the app and connect again."
	case n.kind == failBusy:
		f.Title = "Too many attempts"
		f.What = "This server has checked too many new apps for your network in the last minute."
		f.Todo = "Wait a minute, then go back to the app and connect again."
	case n.kind == failClientMetadata:
		f.Title = "This app's details could not be loaded"
		f.What = "The app identifies itself with a document at " + hostOf(f.ClientID) +
			", which this server reads to learn the app's name and where to send you back. The document could not be used: " + n.cause + "."
		f.Todo = "Wait a minute and connect again from the app. If it keeps failing, the app's developer needs to fix that document; the details below are for them."
	case n.kind == failUnknownClient:
		f.Title = "This app is not known to this server"
		f.What = "The app that sent you here identified itself with an ID this server does not have. It may have been removed, or the app may be set up for a different server."
		if n.cause != "" {
			f.What += " " + upperFirst(n.cause) + "."
		}
		f.Todo = "Go back to the app, remove this server from it and add it again, so that it registers afresh. If that does not help, contact the administrator of this server."
	case n.kind == failRedirect:
		f.Title = "This app asked to send you somewhere it did not register"
		f.What = "After you sign in, you would be sent to " + hostOf(f.RedirectURI) +
			", which is not an address this app registered. To protect your account, the sign-in stops here."
		f.Todo = "If you started this from an app you trust, remove this server from the app and add it again. If you did not, close this page."
	default:
		f.Title = "This sign-in link is incomplete"
		f.What = "The link that brought you here is missing something the app should have sent, or has something this server does not accept."
		f.Todo = again
	}
	return f
}

// hostOf names where a URL leads, for a person: its host, or its scheme
// for a native app's own scheme; "an address" when there is none.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil || raw == "":
		return "an address that is not valid"
	case u.Host != "":
		return u.Host
	case u.Scheme != "":
		return "an app's own address (" + u.Scheme + ":)"
	}
	return "an address that is not valid"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// plainErrorPage is the page of a Server whose Options.ErrorPage is nil:
// self-contained, as such a server has no stylesheet of its own.
func plainErrorPage(w http.ResponseWriter, _ *http.Request, f *AuthorizeFailure) {
	var buf bytes.Buffer
	if err := plainErrorTemplate.Execute(&buf, f); err != nil {
		buf.Reset()
		buf.WriteString("authorization error\n")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(f.Status)
	_, _ = w.Write(buf.Bytes())
}

var plainErrorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}code{overflow-wrap:anywhere}</style>
</head><body>
<h1>{{.Title}}</h1>
<p>{{.What}}</p>
<p>{{.Todo}}</p>
<details><summary>Details for the app's developer</summary>
<p>Error: <code>{{.Error}}</code>{{if .Description}}: {{.Description}}{{end}}</p>
{{if .ClientID}}<p>client_id: <code>{{.ClientID}}</code></p>{{end}}
{{if .RedirectURI}}<p>redirect_uri: <code>{{.RedirectURI}}</code></p>{{end}}
</details>
</body></html>
`))

// errorRecorder holds back an error response so that errorPage can
// replace it; anything else goes straight through.
type errorRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (e *errorRecorder) WriteHeader(code int) {
	e.status = code
	if code < 400 {
		e.ResponseWriter.WriteHeader(code)
	}
}

func (e *errorRecorder) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.status >= 400 {
		return e.body.Write(b)
	}
	return e.ResponseWriter.Write(b)
}
