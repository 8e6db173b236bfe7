package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries an alert's signature:
//
//	Mcpgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA-256 of "<t>.<raw body>">
//
// The timestamp is inside the signed text, so a receiver that rejects old
// timestamps (see [Verify]) cannot be replayed a captured delivery later.
const SignatureHeader = "Mcpgate-Signature"

// DeliveryHeader carries an id that is the same on every attempt to
// deliver one alert, so that a receiver can drop a retry of a delivery it
// accepted but whose answer was lost.
const DeliveryHeader = "Mcpgate-Delivery"

// DefaultMaxAge is the oldest signature timestamp [Verify] accepts when
// given no maxAge.
const DefaultMaxAge = 5 * time.Minute

// Errors of [Verify].
var (
	// ErrMalformedSignature: the header is not t=<digits>,v1=<64 hex
	// digits>[,v1=…].
	ErrMalformedSignature = errors.New("alert: malformed " + SignatureHeader + " header")
	// ErrSignatureMismatch: no v1 signature matches the body and the
	// secret.
	ErrSignatureMismatch = errors.New("alert: signature does not match")
	// ErrSignatureExpired: the signature matches but its timestamp is more
	// than maxAge away from now (either way), so it may be a replay.
	ErrSignatureExpired = errors.New("alert: signature timestamp too old or in the future")
)

// Sign returns the [SignatureHeader] value for body signed with secret at
// time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks header, the [SignatureHeader] of a delivery, against the
// raw request body (the bytes as received, before any JSON decoding) and
// the shared secret. It returns nil if a v1 signature matches and its
// timestamp is within maxAge of now ([DefaultMaxAge] if maxAge <= 0);
// otherwise an error matching [ErrMalformedSignature],
// [ErrSignatureMismatch] or [ErrSignatureExpired]. Several v1 values are
// accepted, any of which may match, so that a sender can sign with an old
// and a new secret while they are rotated. Unknown fields are ignored.
func Verify(secret []byte, header string, body []byte, now time.Time, maxAge time.Duration) error {
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	if len(secret) == 0 {
		return errors.New("alert: empty secret")
	}
	var ts string
	var sigs [][]byte
	for field := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return ErrMalformedSignature
		}
		switch k {
		case "t":
			if ts != "" || !digits(v) {
				return ErrMalformedSignature
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return ErrMalformedSignature
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return ErrMalformedSignature
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrMalformedSignature
	}
	want := mac(secret, ts, body)
	matched := false
	for _, sig := range sigs {
		matched = hmac.Equal(sig, want) || matched
	}
	if !matched {
		return ErrSignatureMismatch
	}
	if age := now.Sub(time.Unix(t, 0)); age > maxAge || age < -maxAge {
		return ErrSignatureExpired
	}
	return nil
}

func digits(s string) bool {
	if s == "" || len(s) > 18 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
