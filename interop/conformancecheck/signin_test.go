package main

import (
	"net/url"
	"slices"
	"testing"
)

func TestForm(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:8080/consent?x=1")
	p := &page{url: u, status: 200, body: `<form method="post" action="/login" id="password-form">
  <input type="hidden" name="csrf" value="wrong"></form>
<form method="post" action="/consent" id="consent-form">
  <input type="hidden" name="csrf" value="a&amp;b">
  <input type="hidden" name="req" value="r1">
  <li><label><input type="checkbox" name="scope" value="docs:read" checked>
  <li><label><input type="checkbox" name="scope" value="notes:read">
  <button type="submit" name="action" value="deny" id="deny">Deny</button>
</form>`}
	f, err := p.form("consent-form")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.action.String(), "http://127.0.0.1:8080/consent"; got != want {
		t.Errorf("action = %s, want %s", got, want)
	}
	if got, want := f.origin, "http://127.0.0.1:8080"; got != want {
		t.Errorf("origin = %s, want %s", got, want)
	}
	if got, want := f.values.Get("csrf"), "a&b"; got != want {
		t.Errorf("csrf = %q, want %q", got, want)
	}
	if got, want := f.values["scope"], []string{"docs:read"}; !slices.Equal(got, want) {
		t.Errorf("scopes = %q, want %q (only checked boxes)", got, want)
	}
	if f.values.Has("action") {
		t.Error("a button's value is sent without a click")
	}
	if _, err := p.form("apps-form"); err == nil {
		t.Error("a missing form is found")
	}
}
