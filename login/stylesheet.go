package login

// StylesheetVersion is a short hash of the pages' stylesheet, for other
// mcpgate pages that share their look (the admin dashboard) and link to
// [Stylesheet] under a URL that changes with it, as the pages do.
func StylesheetVersion() string { return styleVersion }
