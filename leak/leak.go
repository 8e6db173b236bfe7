// Package leak finds credentials in files and in git history: mcpgate API
// keys (checksum-verified, so a look-alike is never reported), mcpgate
// OAuth client secrets, JWTs and PEM private keys.
//
// A [Finding] carries the secret so that a caller can act on it (revoke a
// key); what is shown to people is [Finding.Masked], which keeps only what
// names the secret (an API key's public id, a JWT's algorithm).
package leak

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"regexp"
	"strings"

	"github.com/mcpgate/mcpgate/apikey"
)

// Kinds of secret.
const (
	KindAPIKey       = "mcpgate-api-key"
	KindClientSecret = "mcpgate-client-secret"
	KindJWT          = "jwt"
	KindPrivateKey   = "private-key"
)

// Finding is one secret found.
type Finding struct {
	Kind string `json:"kind"`
	// File is the path, relative to the scanned directory or repository.
	File string `json:"file"`
	// Line is 1-based.
	Line int `json:"line"`
	// Commit is the commit that added the line, for history scans.
	Commit string `json:"commit,omitempty"`
	// Masked is the secret with its secret part replaced.
	Masked string `json:"secret"`
	// KeyID is the public id of an API key.
	KeyID string `json:"key_id,omitempty"`

	// Secret is the secret itself; never print it.
	Secret string `json:"-"`
}

// allowMarker on a line keeps that line out of a scan: a test fixture that
// is a credential only in shape. gitleaks honours the same marker.
const allowMarker = "gitleaks:allow"

var (
	// clientSecretPattern: "mcps_" and 32 random bytes in base64url.
	clientSecretPattern = regexp.MustCompile(`mcps_[A-Za-z0-9_-]{43,}`)
	jwtPattern          = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]{16,}`)
	pemBegin            = regexp.MustCompile(`-----BEGIN[ A-Z0-9]*PRIVATE KEY( BLOCK)?-----`)
	// pemBody is a line of base64 as it appears inside a PEM block,
	// possibly quoted or after an escaped newline in source code.
	pemBody = regexp.MustCompile(`[A-Za-z0-9+/]{40,}={0,2}`)
)

// Line is one line of text to scan.
type Line struct {
	N    int
	Text string
}

// Lines scans lines that belong together (a file, or the lines one commit
// added to a file, in order) and returns what it finds, with File and
// Commit left for the caller to fill.
func Lines(lines []Line) []Finding {
	var out []Finding
	for i, l := range lines {
		if strings.Contains(l.Text, allowMarker) {
			continue
		}
		out = append(out, scanLine(l)...)
		if loc := pemBegin.FindStringIndex(l.Text); loc != nil {
			// The armour alone is not a key (code that checks a PEM type
			// has it too): the base64 body must follow, on this line after
			// an escaped newline or on the next.
			rest := l.Text[loc[1]:]
			if !pemBody.MatchString(rest) && i+1 < len(lines) && lines[i+1].N == l.N+1 {
				rest = lines[i+1].Text
			}
			if body := pemBody.FindString(rest); body != "" {
				armour := l.Text[loc[0]:loc[1]]
				out = append(out, Finding{Kind: KindPrivateKey, Line: l.N, Masked: armour + " " + body[:4] + "…", Secret: armour + body})
			}
		}
	}
	return out
}

// Text scans the lines of b.
func Text(b []byte) []Finding {
	var lines []Line
	for n := 1; len(b) > 0; n++ {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		lines = append(lines, Line{N: n, Text: string(line)})
		b = rest
	}
	return Lines(lines)
}

func scanLine(l Line) []Finding {
	var out []Finding
	if strings.Contains(l.Text, apikey.Prefix) {
		for _, k := range apikey.Pattern.FindAllString(l.Text, -1) {
			id, _, err := apikey.Parse(k)
			if err != nil {
				continue // right shape, wrong checksum: not a key
			}
			out = append(out, Finding{Kind: KindAPIKey, Line: l.N, KeyID: id, Masked: k[:len(apikey.Prefix)+apikey.IDLen+1] + "****", Secret: k})
		}
	}
	if strings.Contains(l.Text, "mcps_") {
		for _, loc := range clientSecretPattern.FindAllStringIndex(l.Text, -1) {
			s := l.Text[loc[0]:loc[1]]
			if len(s) != 48 || (loc[0] > 0 && isBase64URL(l.Text[loc[0]-1])) || entropy(s[5:]) < 4 {
				continue
			}
			out = append(out, Finding{Kind: KindClientSecret, Line: l.N, Masked: "mcps_" + s[5:9] + "****", Secret: s})
		}
	}
	if strings.Contains(l.Text, "eyJ") {
		for _, t := range jwtPattern.FindAllString(l.Text, -1) {
			alg, ok := jwtAlg(t)
			if !ok {
				continue
			}
			out = append(out, Finding{Kind: KindJWT, Line: l.N, Masked: "JWT (alg " + alg + ") " + t[:8] + "****", Secret: t})
		}
	}
	return out
}

// jwtAlg decodes a JWT's header and returns its algorithm, or false when
// the header is not a JOSE header.
func jwtAlg(t string) (string, bool) {
	h, _, _ := strings.Cut(t, ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return "", false
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(b, &hdr) != nil || hdr.Alg == "" {
		return "", false
	}
	return hdr.Alg, true
}

func isBase64URL(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// entropy is the Shannon entropy of s in bits per character. A random
// 43-character base64url string has about 5; placeholders such as
// "xxxx…" or "0123…" have much less.
func entropy(s string) float64 {
	var counts [256]int
	for i := range len(s) {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
