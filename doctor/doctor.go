// Package doctor checks a live MCP deployment the way MCP clients will
// meet it: it replays each client family's discovery sequence (the
// unauthenticated request and its 401 challenge, protected resource
// metadata, authorization server metadata, PKCE, registration, CORS) and
// reports which step would fail for which family, and why.
//
// [MCP authorization]: https://modelcontextprotocol.io/specification/2025-11-25/basic/authorization
package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Results of a step and of a family.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
	Skip = "skip" // a step no family reached
)

// Step identifiers, in the order clients take the steps.
const (
	StepURL               = "url"
	StepChallenge         = "challenge"
	StepChallengeMetadata = "challenge-metadata"
	StepPRM               = "prm"
	StepResource          = "prm-resource"
	StepASMetadata        = "as-metadata"
	StepPKCE              = "pkce"
	StepRegistration      = "registration"
	StepCORS              = "cors"
)

var stepTitles = []struct{ id, title string }{
	{StepURL, "the MCP URL is https, or http on loopback"},
	{StepChallenge, "an unauthenticated initialize gets 401 with a Bearer challenge"},
	{StepChallengeMetadata, "the challenge names the protected resource metadata (resource_metadata=)"},
	{StepPRM, "protected resource metadata (RFC 9728) is found where the client looks"},
	{StepResource, "the metadata's resource is the MCP URL"},
	{StepASMetadata, "authorization server metadata (RFC 8414 / OpenID discovery) is found"},
	{StepPKCE, "the authorization server advertises PKCE S256"},
	{StepRegistration, "the client can get a client id (dynamic registration or a client ID metadata document)"},
	{StepCORS, "browser clients may call the endpoints cross-origin (CORS)"},
}

// Options configure Check. The zero value is valid.
type Options struct {
	// Timeout bounds each request; 0 means 10 seconds.
	Timeout time.Duration
	// Register registers a client for real to check dynamic registration;
	// without it doctor sends only a registration the server must refuse,
	// so a live deployment does not collect clients.
	Register bool
	// Families are the clients to model; nil means Families.
	Families []Family
	// Transport sends the requests; nil means http.DefaultTransport.
	Transport http.RoundTripper
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.Timeout <= 0 {
		d.Timeout = 10 * time.Second
	}
	if d.Families == nil {
		d.Families = Families
	}
	return d
}

// Report is the outcome of Check.
type Report struct {
	URL      string         `json:"url"`
	Steps    []*Step        `json:"steps"`
	Families []FamilyResult `json:"families"`
	// Failures and Warnings count the steps that fail or warn.
	Failures int `json:"failures"`
	Warnings int `json:"warnings"`
}

// Step is one discovery step: what doctor saw, and the problems it means
// for the families that take it.
type Step struct {
	ID     string   `json:"step"`
	Title  string   `json:"title"`
	Result string   `json:"result"`
	Seen   []string `json:"seen,omitempty"`
	Issues []*Issue `json:"issues,omitempty"`
	byKey  map[string]*Issue
}

// Issue is one problem at a step, with the families it breaks (Result
// fail) or hinders (Result warn).
type Issue struct {
	Result   string   `json:"result"`
	Families []string `json:"families"`
	Problem  string   `json:"problem"`
	Fix      string   `json:"fix,omitempty"`
}

// FamilyResult is how far one family gets: its first failing step, or its
// first warning when nothing fails.
type FamilyResult struct {
	Name    string `json:"name"`
	Result  string `json:"result"`
	Step    string `json:"step,omitempty"`
	Problem string `json:"problem,omitempty"`
	Basis   string `json:"basis"`
}

// ErrBadURL is wrapped by the error Check returns for a URL it cannot
// check.
var ErrBadURL = fmt.Errorf("the MCP URL must be an absolute http or https URL")

// Check replays every family's discovery sequence against the MCP endpoint
// at mcpURL. It returns an error only for a URL it cannot check (wrapping
// ErrBadURL); what the deployment gets wrong is in the report.
func Check(ctx context.Context, mcpURL string, opts *Options) (*Report, error) {
	o := opts.withDefaults()
	u, err := url.Parse(mcpURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%w, without credentials or fragment: got %q", ErrBadURL, mcpURL)
	}
	r := &Report{URL: mcpURL}
	steps := map[string]*Step{}
	for _, s := range stepTitles {
		st := &Step{ID: s.id, Title: s.title, Result: OK, byKey: map[string]*Issue{}}
		r.Steps = append(r.Steps, st)
		steps[s.id] = st
	}
	c := &checker{
		opts:  o,
		p:     newProber(ctx, o),
		url:   u,
		raw:   mcpURL,
		steps: steps,
	}
	for _, f := range o.Families {
		fr := FamilyResult{Name: f.Name, Result: OK, Basis: f.Basis}
		w := &walk{c: c, f: f, res: &fr}
		w.run()
		r.Families = append(r.Families, fr)
	}
	for _, st := range r.Steps {
		if len(st.Seen) == 0 && len(st.Issues) == 0 {
			st.Result = Skip // every family stopped before it
		}
		for _, is := range st.Issues {
			if is.Result == Fail {
				st.Result = Fail
			} else if st.Result == OK {
				st.Result = Warn
			}
		}
		switch st.Result {
		case Fail:
			r.Failures++
		case Warn:
			r.Warnings++
		}
	}
	return r, nil
}

// checker holds what the walks share: the prober and the steps they add
// to.
type checker struct {
	opts  Options
	p     *prober
	url   *url.URL
	raw   string
	steps map[string]*Step
	reg   map[string]regResult // registration endpoint → what it answered
}

// seen records an observation at a step, once.
func (c *checker) seen(step, format string, args ...any) {
	st := c.steps[step]
	s := fmt.Sprintf(format, args...)
	if !slices.Contains(st.Seen, s) {
		st.Seen = append(st.Seen, s)
	}
}

// issue records that a problem at step affects family.
func (c *checker) issue(step, result, family, problem, fix string) {
	st := c.steps[step]
	key := result + "\x00" + problem
	is := st.byKey[key]
	if is == nil {
		is = &Issue{Result: result, Problem: problem, Fix: fix}
		st.byKey[key] = is
		st.Issues = append(st.Issues, is)
	}
	if !slices.Contains(is.Families, family) {
		is.Families = append(is.Families, family)
	}
}
