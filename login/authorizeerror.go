package login

import (
	"log/slog"
	"net/http"

	"github.com/mcpgate/mcpgate/oauth"
)

// AuthorizeErrorPage writes the page of an authorization request that the
// authorization server refused without a redirect, in the pages' layout;
// it fits oauth.Options.ErrorPage.
func AuthorizeErrorPage(w http.ResponseWriter, _ *http.Request, f *oauth.AuthorizeFailure) {
	tmpl, _ := siteTemplates() // nil on a parse error, which renderPage reports
	renderPage(w, tmpl, slog.Default(), f.Status, "authorize_error.html", f)
}
