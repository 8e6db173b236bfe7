package oauth

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
)

// Resource is a protected resource this server issues tokens for
// ([RFC 8707]): an MCP endpoint with the scopes it understands. Each
// access token names exactly one resource as its audience, and is good
// for that endpoint only.
//
// [RFC 8707]: https://www.rfc-editor.org/rfc/rfc8707
type Resource struct {
	// URL is the canonical URL of the endpoint, e.g.
	// https://mcp.example.com/mcp/jira.
	URL string
	// Scopes are the scopes a client may ask for this resource; a token
	// for it carries no other.
	Scopes []string
	// ScopeDescriptions, when not nil, are the plain words the consent page
	// shows for Scopes (a scope it does not name is shown by its name);
	// nil leaves the pages' own descriptions.
	ScopeDescriptions map[string]string
}

// resources is the set of resources a server serves; the first is
// Options.Resource, the default of a request that names none. It is
// replaced whole, never changed in place.
type resources struct {
	list  []Resource
	byURL map[string]*Resource
	urls  []string // the URL of each resource
	union []string // every scope of every resource, in order
}

func newResources(list []Resource) *resources {
	rs := &resources{list: list, byURL: make(map[string]*Resource, len(list))}
	for i := range rs.list {
		r := &rs.list[i]
		rs.byURL[r.URL] = r
		rs.urls = append(rs.urls, r.URL)
		for _, sc := range r.Scopes {
			if !slices.Contains(rs.union, sc) {
				rs.union = append(rs.union, sc)
			}
		}
	}
	return rs
}

// checkResourceURL checks the URL of a resource: absolute http(s), no
// fragment (RFC 8707 §2).
func checkResourceURL(s string) error {
	u, err := url.Parse(s)
	if s == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Fragment != "" {
		return fmt.Errorf("oauth: a resource must be an absolute http(s) URL without a fragment, got %q", s)
	}
	return nil
}

// AddResource lets the server issue tokens for r as well, or replaces the
// scopes and descriptions of the resource with r's URL. The gateway calls
// it for every MCP endpoint it serves; tokens already issued keep the
// audience they have.
func (s *Server) AddResource(r Resource) error {
	if err := checkResourceURL(r.URL); err != nil {
		return err
	}
	r.Scopes = slices.Clone(r.Scopes)
	if r.ScopeDescriptions != nil {
		r.ScopeDescriptions = maps.Clone(r.ScopeDescriptions)
	}
	s.resMu.Lock()
	defer s.resMu.Unlock()
	list := slices.Clone(s.res.list)
	if i := slices.IndexFunc(list, func(x Resource) bool { return x.URL == r.URL }); i >= 0 {
		list[i] = r
	} else {
		list = append(list, r)
	}
	s.res = newResources(list)
	return nil
}

// Resources returns the resources the server issues tokens for, the
// default one first.
func (s *Server) Resources() []Resource {
	return slices.Clone(s.resources().list)
}

func (s *Server) resources() *resources {
	s.resMu.RLock()
	defer s.resMu.RUnlock()
	return s.res
}

// resource returns the resource with url, or nil.
func (s *Server) resource(url string) *Resource {
	return s.resources().byURL[url]
}

// scopesOf returns the scopes of the resource with url.
func (s *Server) scopesOf(url string) []string {
	if r := s.resource(url); r != nil {
		return r.Scopes
	}
	return nil
}

// allScopes are the scopes of every resource: what clients may register
// for, and scopes_supported in the metadata.
func (s *Server) allScopes() []string { return s.resources().union }

// resourceURLs are the URLs of every resource: the audiences a token of
// this server may have.
func (s *Server) resourceURLs() []string { return s.resources().urls }
