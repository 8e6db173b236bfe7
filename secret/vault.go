package secret

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A Vault reference is read with a small client of Vault's HTTP API (KV
// version 2, token or AppRole login) rather than the official Go client,
// which would add about 9 MB to the binary for three endpoints; see
// docs/secrets.md.

const (
	vaultTimeout = 10 * time.Second
	// vaultRetry is how soon a failed re-read is tried again.
	vaultRetry = 30 * time.Second
	// maxVaultBody bounds a response: a KV secret is small.
	maxVaultBody = 1 << 20
)

// vaultPath is a parsed vault:PATH#FIELD: GET /v1/<mount>/data/<name>.
type vaultPath struct{ mount, name, field string }

// parseVaultRef reads MOUNT/NAME#FIELD, or MOUNT/data/NAME#FIELD (the API
// path, for a mount whose own path has several segments).
func parseVaultRef(s string) (vaultPath, error) {
	p, field, ok := strings.Cut(s, "#")
	if !ok || field == "" {
		return vaultPath{}, fmt.Errorf("vault:%s: want vault:MOUNT/PATH#FIELD (the field of the secret to use)", p)
	}
	p = strings.Trim(p, "/")
	var vp vaultPath
	if m, n, ok := strings.Cut(p, "/data/"); ok {
		vp = vaultPath{m, n, field}
	} else if m, n, ok := strings.Cut(p, "/"); ok {
		vp = vaultPath{m, n, field}
	}
	if vp.mount == "" || vp.name == "" {
		return vaultPath{}, fmt.Errorf("vault:%s#%s: want vault:MOUNT/PATH#FIELD, such as vault:secret/mcpgate#alert_secret", p, field)
	}
	return vp, nil
}

func (p vaultPath) String() string { return p.mount + "/" + p.name + "#" + p.field }

// vaultClient reads KV v2 secrets with a token: VAULT_TOKEN, or one it
// gets by AppRole login (VAULT_ROLE_ID, VAULT_SECRET_ID) and renews by
// logging in again before it expires.
type vaultClient struct {
	addr      string // VAULT_ADDR, without a final slash
	namespace string // VAULT_NAMESPACE (Vault Enterprise, HCP)
	roleID    string
	secretID  string
	http      *http.Client

	mu          sync.Mutex
	token       string
	tokenExpiry time.Time // AppRole: when to log in again; zero: never
	checked     bool      // VAULT_TOKEN: lookup-self succeeded
}

func vaultFromEnv(getenv func(string) (string, bool)) (*vaultClient, error) {
	get := func(k string) string { v, _ := getenv(k); return v }
	c := &vaultClient{
		addr:      strings.TrimRight(get("VAULT_ADDR"), "/"),
		namespace: get("VAULT_NAMESPACE"),
		token:     get("VAULT_TOKEN"),
		roleID:    get("VAULT_ROLE_ID"),
		secretID:  get("VAULT_SECRET_ID"),
		// Redirects are not followed: Go's client would resend the
		// X-Vault-Token header (and an AppRole login's secret_id) to
		// wherever one points, another host or plain http included. Vault
		// standbys forward requests to the active node themselves.
		http: &http.Client{Timeout: vaultTimeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}},
	}
	u, err := url.Parse(c.addr)
	if c.addr == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("vault: VAULT_ADDR must be the URL of the Vault server, such as https://vault.example.com:8200")
	}
	if c.roleID != "" || c.secretID != "" {
		if c.roleID == "" || c.secretID == "" {
			return nil, errors.New("vault: AppRole login needs both VAULT_ROLE_ID and VAULT_SECRET_ID")
		}
		c.token = "" // AppRole wins over a token left in the environment
	} else if c.token == "" {
		return nil, errors.New("vault: set VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID for AppRole login")
	}
	return c, nil
}

// vaultResponse is the part of Vault's answers the client reads.
type vaultResponse struct {
	LeaseDuration int             `json:"lease_duration"`
	Data          json.RawMessage `json:"data"`
	Auth          *struct {
		ClientToken   string `json:"client_token"`
		LeaseDuration int    `json:"lease_duration"`
	} `json:"auth"`
	Errors []string `json:"errors"`
}

// do sends one request and decodes the answer. Vault's error messages name
// paths and permissions, never secret values, so they are kept.
func (c *vaultClient) do(ctx context.Context, method, path, token string, body any) (*vaultResponse, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+"/v1/"+path, rd)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if c.namespace != "" {
		req.Header.Set("X-Vault-Namespace", c.namespace)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	defer resp.Body.Close()
	var vr vaultResponse
	dec := json.NewDecoder(io.LimitReader(resp.Body, maxVaultBody))
	decErr := dec.Decode(&vr)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		return nil, fmt.Errorf("vault: %s: answered %d, a redirect to %q, which is not followed so the token goes nowhere else: set VAULT_ADDR to the active node or its load balancer", path, resp.StatusCode, redactURL(resp.Header.Get("Location")))
	}
	if resp.StatusCode != http.StatusOK {
		msg := strings.Join(vr.Errors, "; ")
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return nil, &vaultError{Status: resp.StatusCode, Path: path, Message: msg}
	}
	if decErr != nil {
		return nil, fmt.Errorf("vault: %s: reading the answer: %w", path, decErr)
	}
	return &vr, nil
}

// vaultError is a refusal by Vault.
type vaultError struct {
	Status  int
	Path    string
	Message string
}

func (e *vaultError) Error() string {
	s := fmt.Sprintf("vault: %s: %d %s", e.Path, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// currentToken returns the token to use: VAULT_TOKEN, checked once with
// lookup-self so that a wrong one is reported at start, or an AppRole
// token, got again when two thirds of its lifetime have passed or when
// Vault refused it.
func (c *vaultClient) currentToken(ctx context.Context, refused bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.roleID == "" {
		if !c.checked {
			if _, err := c.do(ctx, http.MethodGet, "auth/token/lookup-self", c.token, nil); err != nil {
				return "", fmt.Errorf("VAULT_TOKEN: %w", err)
			}
			c.checked = true
		}
		return c.token, nil
	}
	if c.token != "" && !refused && (c.tokenExpiry.IsZero() || time.Now().Before(c.tokenExpiry)) {
		return c.token, nil
	}
	vr, err := c.do(ctx, http.MethodPost, "auth/approle/login", "", map[string]string{"role_id": c.roleID, "secret_id": c.secretID})
	if err != nil {
		return "", err
	}
	if vr.Auth == nil || vr.Auth.ClientToken == "" {
		return "", errors.New("vault: auth/approle/login: the answer holds no token")
	}
	c.token, c.tokenExpiry = vr.Auth.ClientToken, time.Time{}
	if vr.Auth.LeaseDuration > 0 {
		c.tokenExpiry = time.Now().Add(time.Duration(vr.Auth.LeaseDuration) * time.Second * 2 / 3)
	}
	return c.token, nil
}

// read returns the field of a KV v2 secret and the secret's lease (zero
// for KV v2, which has none).
func (c *vaultClient) read(ctx context.Context, p vaultPath) (string, time.Duration, error) {
	path := p.mount + "/data/" + p.name
	var vr *vaultResponse
	for attempt := range 2 {
		token, err := c.currentToken(ctx, attempt > 0)
		if err != nil {
			return "", 0, err
		}
		vr, err = c.do(ctx, http.MethodGet, path, token, nil)
		var ve *vaultError
		if attempt == 0 && errors.As(err, &ve) && ve.Status == http.StatusForbidden && c.roleID != "" {
			continue // the AppRole token may have been revoked: log in again
		}
		if err != nil {
			return "", 0, err
		}
		break
	}
	var d struct {
		Data map[string]any `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(vr.Data))
	dec.UseNumber() // a numeric field stays as written, not a float64
	if err := dec.Decode(&d); err != nil || d.Data == nil {
		return "", 0, fmt.Errorf("vault: %s is not a KV version 2 secret", path)
	}
	raw, ok := d.Data[p.field]
	if !ok {
		return "", 0, fmt.Errorf("vault: %s has no field %q", path, p.field)
	}
	var v string
	switch x := raw.(type) {
	case string:
		v = x
	case nil:
	case json.Number:
		v = x.String()
	case bool:
		v = fmt.Sprint(x)
	default:
		return "", 0, fmt.Errorf("vault: field %q of %s is not a string", p.field, path)
	}
	if v == "" {
		return "", 0, fmt.Errorf("vault: field %q of %s: %w", p.field, path, ErrEmpty)
	}
	return v, time.Duration(vr.LeaseDuration) * time.Second, nil
}

// redactURL returns u without its user information and query, which may
// carry credentials, for an error message.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
