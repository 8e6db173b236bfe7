package doctor

import (
	"fmt"
	"io"
	"net/url"
	"strings"
)

// WriteText writes the report for people: each step with its result and
// what doctor saw, or, for a step with problems, the families each problem
// breaks (or hinders) and its fix; then one line per family. Metadata URLs
// on the MCP URL's origin are shortened to their paths.
func (r *Report) WriteText(w io.Writer) error {
	short := func(s string) string { return s }
	if u, err := url.Parse(r.URL); err == nil {
		o := u.Scheme + "://" + u.Host
		short = func(s string) string { return strings.ReplaceAll(s, o+"/.well-known/", "/.well-known/") }
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Discovery as MCP clients meet %s\n\n", r.URL)
	const indent = "                          "
	for _, st := range r.Steps {
		head := fmt.Sprintf("%-4s  %-18s  ", strings.ToUpper(st.Result), st.ID)
		var lines []string
		for _, is := range st.Issues {
			verb := "breaks"
			if is.Result == Warn {
				verb = "hinders"
			}
			lines = append(lines, fmt.Sprintf("%s %s: %s", verb, strings.Join(is.Families, ", "), short(is.Problem)))
			if is.Fix != "" {
				lines = append(lines, "  fix: "+short(is.Fix))
			}
		}
		if len(st.Issues) == 0 {
			for _, s := range st.Seen {
				lines = append(lines, clip(short(s), 150))
			}
		}
		if len(lines) == 0 {
			lines = []string{"not reached: " + st.Title}
		}
		for i, l := range lines {
			if i == 0 {
				b.WriteString(head)
			} else {
				b.WriteString(indent)
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	b.WriteString("\n")
	for _, f := range r.Families {
		if f.Result == OK {
			fmt.Fprintf(&b, "%-4s  %-18s  every step passes\n", "OK", f.Name)
			continue
		}
		fmt.Fprintf(&b, "%-4s  %-18s  at %s: %s\n", strings.ToUpper(f.Result), f.Name, f.Step, clip(short(f.Problem), 150))
	}
	fmt.Fprintf(&b, "\n%d step(s) failed, %d warned.\n", r.Failures, r.Warnings)
	_, err := io.WriteString(w, b.String())
	return err
}
