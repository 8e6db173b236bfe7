package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
// a client_id that is an https URL names a JSON document, fetched by the
// authorization server, that describes the client.
const (
	cimdMaxBytes   = 64 << 10
	cimdTimeout    = 5 * time.Second
	cimdMinTTL     = time.Minute
	cimdMaxTTL     = 24 * time.Hour
	cimdDefaultTTL = 5 * time.Minute
	cimdMaxEntries = 1000
	// cimdFailureTTL is how long a failed fetch is remembered: a URL that
	// does not serve a valid document is not fetched again before then.
	cimdFailureTTL = 30 * time.Second
	// cimdFetchesPerMinute is the default of Options.CIMDFetchesPerMinute.
	cimdFetchesPerMinute = 20
)

// ErrBlockedAddress is returned when a CIMD URL resolves to an address
// mcpgate will not connect to (private, loopback, link-local, ...).
var ErrBlockedAddress = errors.New("oauth: address not allowed for client metadata")

// errCIMDRateLimited refuses a fetch that the requesting address has no
// budget left for.
var errCIMDRateLimited = errors.New("oauth: too many client metadata fetches from this address")

// cimdResolver fetches and caches metadata documents. An unauthenticated
// /authorize request names the URL, so every fetch is bounded: a document
// is kept as long as its Cache-Control allows (between cimdMinTTL and
// cimdMaxTTL), a failure for cimdFailureTTL, concurrent requests for one
// URL share one fetch, and each requesting address may cause only so
// many fetches a minute.
type cimdResolver struct {
	client         *http.Client
	allowLoopback  bool
	privateSchemes []string
	now            func() time.Time
	limit          *addrLimiter // fetches per requesting address

	flights singleflight.Group

	mu    sync.Mutex
	cache map[string]cimdEntry
}

// cimdEntry is a fetched client, or the error its fetch failed with.
type cimdEntry struct {
	client  *mcpgate.Client
	err     error
	expires time.Time
}

func newCIMDResolver(o Options) *cimdResolver {
	r := &cimdResolver{allowLoopback: o.AllowLoopbackCIMD, privateSchemes: o.PrivateUseSchemes, now: o.Now,
		limit: newAddrLimiter(o.Limiter, "cimd", o.CIMDFetchesPerMinute), cache: map[string]cimdEntry{}}
	r.client = o.CIMDClient
	if r.client == nil {
		r.client = newSafeHTTPClient(o.AllowLoopbackCIMD)
	}
	return r
}

// newSafeHTTPClient returns a client that connects only to public unicast
// addresses, checked after DNS resolution on the socket itself so that DNS
// rebinding cannot slip past, and follows no redirects.
func newSafeHTTPClient(allowLoopback bool) *http.Client {
	d := &net.Dialer{
		Timeout: cimdTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			return checkDialAddress(address, allowLoopback)
		},
	}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		Proxy:                 nil, // a proxy would hide the real destination
		TLSHandshakeTimeout:   cimdTimeout,
		ResponseHeaderTimeout: cimdTimeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   cimdTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // CGNAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64: may reach IPv4 internals
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("100::/64"),       // discard
	netip.MustParsePrefix("fec0::/10"),      // site-local (deprecated)
	netip.MustParsePrefix("2002::/16"),      // 6to4: embeds IPv4
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (unmapped before check)
	netip.MustParsePrefix("2001::/32"),      // Teredo: embeds IPv4
}

// checkDialAddress refuses addresses that are not public unicast: private
// (RFC 1918, unique-local fc00::/7), loopback (unless allowLoopback),
// link-local (169.254.0.0/16, the cloud metadata address included,
// fe80::/10), CGNAT, multicast, unspecified and reserved ranges.
func checkDialAddress(address string, allowLoopback bool) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, address)
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() {
		if allowLoopback {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
		return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
	}
	for _, p := range blockedPrefixes {
		if p.Contains(ip) {
			return fmt.Errorf("%w: %s", ErrBlockedAddress, ip)
		}
	}
	return nil
}

// isCIMD reports whether id is shaped like a metadata document URL: https
// (or http on a loopback host in test mode) with a path and nothing that
// makes two spellings of one URL possible.
func (r *cimdResolver) isCIMD(id string) bool {
	_, err := r.parseID(id)
	return err == nil
}

func (r *cimdResolver) parseID(id string) (*url.URL, error) {
	if !strings.HasPrefix(id, "https://") && !strings.HasPrefix(id, "http://") {
		return nil, errors.New("not a URL")
	}
	u, err := url.Parse(id)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme == "http" && !(r.allowLoopback && isLoopbackHost(u.Hostname())):
		return nil, errors.New("client_id URL must be https")
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("client_id URL must be https")
	case u.Host == "" || u.User != nil || u.Fragment != "" || strings.Contains(id, "#"):
		return nil, errors.New("client_id URL must have a host and no credentials or fragment")
	case u.Path == "" || u.Path == "/":
		return nil, errors.New("client_id URL must have a path")
	case strings.Contains("/"+u.Path+"/", "/./") || strings.Contains("/"+u.Path+"/", "/../"):
		return nil, errors.New("client_id URL must not have dot segments")
	}
	return u, nil
}

func (r *cimdResolver) forget(id string) {
	r.mu.Lock()
	delete(r.cache, id)
	r.mu.Unlock()
}

// resolve returns the client a metadata document describes, or the error
// its fetch failed with, from the cache or fetched. The fetch is charged
// to the address in ctx (see withRequester) and shared with every
// concurrent request for the same URL; it is detached from the first
// requester's cancellation, so that one client going away neither fails
// the others nor leaves a failure in the cache.
func (r *cimdResolver) resolve(ctx context.Context, id string) (*mcpgate.Client, error) {
	if e, ok := r.cached(id); ok {
		return e.client, e.err
	}
	v, err, _ := r.flights.Do(id, func() (any, error) {
		if e, ok := r.cached(id); ok { // a flight that ended just now
			return e.client, e.err
		}
		if !r.limit.allow(ctx, requesterFrom(ctx)) {
			return nil, errCIMDRateLimited
		}
		c, ttl, err := r.fetch(context.WithoutCancel(ctx), id)
		if err != nil {
			r.store(id, cimdEntry{err: err}, cimdFailureTTL)
			return nil, err
		}
		r.store(id, cimdEntry{client: c}, ttl)
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*mcpgate.Client), nil
}

// cached returns the unexpired entry for id.
func (r *cimdResolver) cached(id string) (cimdEntry, bool) {
	now := r.now()
	r.mu.Lock()
	e, ok := r.cache[id]
	r.mu.Unlock()
	return e, ok && now.Before(e.expires)
}

// store caches e for id for ttl, keeping at most cimdMaxEntries entries.
func (r *cimdResolver) store(id string, e cimdEntry, ttl time.Duration) {
	now := r.now()
	e.expires = now.Add(ttl)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= cimdMaxEntries {
		for k, v := range r.cache {
			if !now.Before(v.expires) {
				delete(r.cache, k)
			}
		}
		if len(r.cache) >= cimdMaxEntries {
			clear(r.cache)
		}
	}
	r.cache[id] = e
}

type requesterKey struct{}

// withRequester records in each request's context the address it came
// from, which client metadata fetches are counted against.
func withRequester(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requesterKey{}, clientIP(r))))
	})
}

// requesterFrom returns the address withRequester recorded in ctx; "" for
// lookups that do not come from an HTTP request of this server (the login
// pages), which share one budget.
func requesterFrom(ctx context.Context) string {
	a, _ := ctx.Value(requesterKey{}).(string)
	return a
}

func (r *cimdResolver) fetch(ctx context.Context, id string) (*mcpgate.Client, time.Duration, error) {
	if _, err := r.parseID(id); err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, cimdTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("oauth: fetch client metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, cimdStatusError(resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, cimdMaxBytes+1))
	if err != nil {
		return nil, 0, fmt.Errorf("oauth: read client metadata: %w", err)
	}
	if len(body) > cimdMaxBytes {
		return nil, 0, cimdInvalid(fmt.Sprintf("it is larger than %d KiB", cimdMaxBytes>>10))
	}
	c, err := parseCIMD(id, body, r.privateSchemes)
	if err != nil {
		return nil, 0, err
	}
	c.CreatedAt = r.now()
	return c, cacheTTL(resp.Header.Get("Cache-Control")), nil
}

// parseCIMD validates a metadata document fetched from id.
func parseCIMD(id string, body []byte, privateSchemes []string) (*mcpgate.Client, error) {
	var md ClientMetadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, cimdInvalid("it is not a JSON object")
	}
	if md.ClientID != id {
		return nil, cimdInvalid("its client_id is not the URL it is served at")
	}
	if md.ClientSecret != "" {
		return nil, cimdInvalid("it contains a client_secret, which a public document must not")
	}
	switch md.TokenEndpointAuthMethod {
	case "", "none":
	default:
		return nil, cimdInvalid(fmt.Sprintf("its token_endpoint_auth_method %q is not supported (only \"none\")", md.TokenEndpointAuthMethod))
	}
	if len(md.RedirectURIs) == 0 {
		return nil, cimdInvalid("it lists no redirect_uris")
	}
	for _, u := range md.RedirectURIs {
		if err := validRedirectURI(u, privateSchemes); err != nil {
			return nil, cimdInvalid(fmt.Sprintf("its redirect_uri %q is refused: %v", u, err))
		}
	}
	gts := []string{GrantAuthorizationCode, GrantRefreshToken}
	if len(md.GrantTypes) > 0 {
		gts = nil
		for _, g := range md.GrantTypes {
			if g == GrantAuthorizationCode || g == GrantRefreshToken {
				gts = append(gts, g)
			}
		}
	}
	name := md.ClientName
	if len(name) > 200 {
		name = name[:200]
	}
	return &mcpgate.Client{
		ID:           id,
		Name:         name,
		RedirectURIs: md.RedirectURIs,
		GrantTypes:   gts,
		Source:       SourceCIMD,
	}, nil
}

// cacheTTL is the max-age of a Cache-Control header, bounded; no-store
// and no-cache still get the minimum, so a flood cannot force a fetch per
// request.
func cacheTTL(cc string) time.Duration {
	ttl := cimdDefaultTTL
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		if v, ok := strings.CutPrefix(d, "max-age="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				ttl = time.Duration(n) * time.Second
			}
		}
		if d == "no-store" || d == "no-cache" {
			ttl = 0
		}
	}
	return min(max(ttl, cimdMinTTL), cimdMaxTTL)
}

// cimdInvalid is a metadata document that was fetched but cannot be used;
// its text says why in words fit for the document's author, and is shown
// on the error page.
type cimdInvalid string

func (e cimdInvalid) Error() string { return "oauth: client metadata document: " + string(e) }

// cimdStatusError is a fetch answered with a status other than 200.
type cimdStatusError int

func (e cimdStatusError) Error() string {
	return fmt.Sprintf("oauth: fetch client metadata: status %d", int(e))
}

// cimdCause says why a metadata document could not be used, for the
// person at the authorization endpoint and the app's developer. Unlike
// err's own text it never holds an address the host name resolved to or
// any other detail of this server's network: a client_id may name any
// host, and the answer must not map the inside of the network for it.
func cimdCause(err error) string {
	var (
		invalid cimdInvalid
		status  cimdStatusError
		dns     *net.DNSError
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invCert x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &invalid):
		return "the document is not valid: " + string(invalid)
	case errors.As(err, &status):
		return fmt.Sprintf("its server answered HTTP %d %s instead of the document", int(status), http.StatusText(int(status)))
	case errors.Is(err, errCIMDRateLimited):
		return "too many client metadata documents were fetched for your address; try again in a minute"
	case errors.Is(err, ErrBlockedAddress):
		return "its host name leads to a private, loopback or reserved network address, which this server does not connect to"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "its host name does not exist"
		}
		return "its host name could not be looked up"
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invCert):
		return "its server's TLS certificate is not valid for that host name"
	case errors.As(err, &recErr), errors.Is(err, http.ErrSchemeMismatch):
		return "its server did not speak TLS (https)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("its server did not answer within %s", cimdTimeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "its server refused the connection"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "its server closed the connection before answering"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "its server cannot be reached from here"
	}
	return "its server could not be reached"
}
