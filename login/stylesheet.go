package login

// Stylesheet returns the pages' stylesheet and a short hash of its content,
// for other mcpgate pages that share their look (the admin dashboard) and
// serve it under a URL that changes with it.
func Stylesheet() (css []byte, version string) { return styleCSS, styleVersion }
