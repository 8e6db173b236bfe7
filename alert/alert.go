// Package alert raises mcpgate's security alerts: refresh-token and code
// reuse, sign-in lockouts, rate-limit exceedances, bursts of failed
// authentication, use of a revoked key, a fail-over of the shared rate
// limiter.
//
// A [Sink] logs every alert, drops repeats of the same kind for the same
// principal within a window, and hands the rest to a [Webhook], which
// POSTs them as JSON signed with HMAC-SHA-256 (see [Sign] and [Verify]),
// retrying with backoff. Raising an alert never blocks: deliveries run in
// the background from a bounded queue, and when the queue is full alerts
// are dropped and counted rather than slowing the request that raised
// them.
package alert

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/redact"
)

// Alert is one security event.
type Alert struct {
	// Kind says what happened; one of the Kind constants, or another
	// short snake_case word.
	Kind string
	// Principal is who or what the alert is about, the unit of
	// de-duplication: a principal id ("tenant/subject", see
	// mcpgate.Principal.ID) for alerts about an identity, a client address
	// ("203.0.113.7", or an IPv6 /64 such as "2001:db8:1:2::/64") for
	// failed authentication, a client id for a refused client, or "" for
	// the gateway itself.
	Principal string
	// Time is when it happened; Sink.Raise fills in the current time when
	// it is zero.
	Time time.Time
	// Detail is what a responder needs to act: client id, grant id, key
	// id, limit, counts. Values must encode as JSON. Values under
	// credential-like names (token, secret, password, …), and anything
	// shaped like an API key, JWT or bearer credential, are masked before
	// the alert is logged or sent.
	Detail map[string]any
}

// Kinds of alert.
const (
	// KindRateLimited: a principal exceeded its rate limit (raised by the
	// rate-limit middleware, once per principal and window).
	KindRateLimited = "rate_limited"
	// KindAuthFailures: a client address sent a burst of failed
	// authentications and is being refused with 429.
	KindAuthFailures = "auth_failures"
	// KindRefreshReuse: a refresh token that was already used was
	// presented again, so it was copied; the whole grant is revoked.
	KindRefreshReuse = "refresh_reuse"
	// KindCodeReuse: an authorization code was redeemed a second time; the
	// tokens issued for it are revoked.
	KindCodeReuse = "code_reuse"
	// KindSigninLockout: a username or client address failed sign-in often
	// enough to be locked out for a while.
	KindSigninLockout = "signin_lockout"
	// KindRevokedKeyUsed: a request presented an API key that has been
	// revoked.
	KindRevokedKeyUsed = "revoked_key_used"
	// KindRedisFailover: the shared (Redis) rate limiter became
	// unreachable and the failure policy took over.
	KindRedisFailover = "redis_failover"
	// KindRedisRecovered: the shared rate limiter is reachable again. It
	// is a kind of its own so that a recovery soon after a fail-over is
	// not taken for a repeat of it.
	KindRedisRecovered = "redis_recovered"
	// KindCIMDBlocked: a client id metadata document URL pointed at an
	// address the authorization server refuses to fetch from (private,
	// loopback, link-local), a sign of an attempt to reach internal
	// services.
	KindCIMDBlocked = "cimd_blocked"
)

// wire is the JSON body of an alert.
type wire struct {
	Kind      string         `json:"kind"`
	Time      time.Time      `json:"time"`
	Principal string         `json:"principal"`
	Detail    map[string]any `json:"detail"`
}

// MarshalJSON encodes a as the webhook body:
//
//	{"kind":"code_reuse","time":"2025-01-02T15:04:05Z","principal":"acme/alice","detail":{"client_id":"…"}}
//
// time is RFC 3339 in UTC; detail is an object, {} when empty, with
// credentials masked.
func (a Alert) MarshalJSON() ([]byte, error) {
	return json.Marshal(wire{Kind: a.Kind, Time: a.Time.UTC(), Principal: a.Principal, Detail: cleanDetail(a.Detail)})
}

// cleanDetail returns d with credentials masked, never nil.
func cleanDetail(d map[string]any) map[string]any {
	out := make(map[string]any, len(d))
	for k, v := range d {
		switch {
		case redact.SensitiveKey(k):
			out[k] = redact.Mask
		default:
			if s, ok := v.(string); ok {
				v = redact.String(s)
			}
			out[k] = v
		}
	}
	return out
}

// Log writes a to logger as one warning, "security alert", with the kind,
// the principal and the detail (as a group, keys sorted). The logger
// should redact (see package redact); Log masks credentials as the webhook
// body does in any case.
func Log(logger *slog.Logger, a Alert) {
	d := cleanDetail(a.Detail)
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	detail := make([]any, 0, len(keys))
	for _, k := range keys {
		detail = append(detail, slog.Any(k, d[k]))
	}
	logger.LogAttrs(context.Background(), slog.LevelWarn, "security alert",
		slog.String("alert", a.Kind), slog.String("principal", a.Principal), slog.Group("detail", detail...))
}
