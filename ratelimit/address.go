package ratelimit

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// proxies are the addresses trusted to say who the client is.
type proxies struct {
	prefixes []netip.Prefix
}

// parseProxies reads CIDRs or single addresses.
func parseProxies(list []string) (*proxies, error) {
	p := &proxies{}
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
			}
			s = netip.PrefixFrom(a, a.BitLen()).String()
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		p.prefixes = append(p.prefixes, pf.Masked())
	}
	return p, nil
}

func (p *proxies) trusted(a netip.Addr) bool {
	for _, pf := range p.prefixes {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the key of r's client address: the IPv4 address, or the
// /64 an IPv6 address belongs to (one host holds a whole /64, and could
// otherwise spread over it). X-Forwarded-For and Forwarded are read only
// when the connection comes from a trusted proxy, right to left, skipping
// trusted proxies: the first address no trusted proxy vouches for is the
// client.
func (p *proxies) client(r *http.Request) string {
	a := remoteAddr(r.RemoteAddr)
	if a.IsValid() && p.trusted(a) {
		hops := forwardedFor(r.Header)
		for i := len(hops) - 1; i >= 0; i-- {
			h, err := netip.ParseAddr(hops[i])
			if err != nil {
				break // garbage: stop at the last address a proxy vouched for
			}
			a = h.Unmap()
			if !p.trusted(a) {
				break
			}
		}
	}
	return addressKey(a)
}

// AddressKey is the key under which limits per client address count the
// address of a connection (host:port, or a bare host): the IPv4 address,
// or the /64 an IPv6 address belongs to.
func AddressKey(remote string) string { return addressKey(remoteAddr(remote)) }

func remoteAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}

// addressKey is a for IPv4, its /64 for IPv6.
func addressKey(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "unknown"
	case a.Is4():
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// forwardedFor lists the addresses of X-Forwarded-For, then of Forwarded's
// for= parameters, oldest hop first.
func forwardedFor(h http.Header) []string {
	var out []string
	for _, v := range h.Values("X-Forwarded-For") {
		for _, f := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(f))
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, v := range h.Values("Forwarded") {
		for _, elem := range strings.Split(v, ",") {
			for _, pair := range strings.Split(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !strings.EqualFold(k, "for") {
					continue
				}
				val = strings.Trim(val, `"`)
				if host, _, err := net.SplitHostPort(val); err == nil {
					val = host
				}
				out = append(out, strings.Trim(val, "[]"))
			}
		}
	}
	return out
}
