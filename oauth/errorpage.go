package oauth

import (
	"bytes"
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// errorPage shows an authorization error that must not be redirected (an
// unknown client, an unregistered redirect_uri) as a small HTML page to
// browsers; other callers get the library's JSON error.
func errorPage(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			h.ServeHTTP(w, r)
			return
		}
		rec := &errorRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status < 400 {
			return
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		json.Unmarshal(rec.body.Bytes(), &e)
		hdr := w.Header()
		hdr.Del("Content-Length")
		hdr.Set("Content-Type", "text/html; charset=utf-8")
		hdr.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Cache-Control", "no-store")
		w.WriteHeader(rec.status)
		errorTemplate.Execute(w, e)
	})
}

var errorTemplate = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Authorization error</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body>
<h1>This sign-in request cannot continue</h1>
<p>{{if .Description}}{{.Description}}{{else}}The request was not valid.{{end}}</p>
<p>Error: <code>{{.Error}}</code></p>
<p>The application that sent you here may be misconfigured. You can close this page.</p>
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
