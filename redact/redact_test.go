package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/apikey"
)

// A JWT as an authorization server issues it (header {"alg":"ES256","typ":"at+jwt"}).
const testJWT = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiJhbGljZSIsImF1ZCI6Imh0dHBzOi8vZ3cuZXhhbXBsZSJ9.MEUCIQDx4b9PqkW1rzN4xVvL0mHk3Y2a7sFqYpLrV3Cq8bq0tQIgS2vZ" // gitleaks:allow (a test fixture)

func mustKey(tb testing.TB) (key, id, secret string) {
	tb.Helper()
	key, id, _, err := apikey.Generate()
	if err != nil {
		tb.Fatal(err)
	}
	_, secret, _ = apikey.Parse(key)
	return key, id, secret
}

func TestString(t *testing.T) {
	key, id, _ := mustKey(t)
	key2, id2, _ := mustKey(t)
	badSum := damageLast(key) // shape without a valid checksum: masked all the same
	tests := []struct {
		name, in, want string
	}{
		{"plain", "nothing to see here", "nothing to see here"},
		{"key", "key=" + key + " used", "key=mcpg_" + id + "_" + Mask + " used"},
		{"two keys glued", key + key2, "mcpg_" + id + "_" + Mask + "mcpg_" + id2 + "_" + Mask},
		{"key in json", `{"k":"` + key + `"}`, `{"k":"mcpg_` + id + "_" + Mask + `"}`},
		{"key bad checksum", badSum, "mcpg_" + id + "_" + Mask},
		{"key with trailing text", key + "abc", "mcpg_" + id + "_" + Mask + "abc"},
		{"jwt", "token " + testJWT + " end", "token " + Mask + " end"},
		{"client secret", "secret mcps_" + strings.Repeat("Ab3_-", 9) + " end", "secret mcps_" + Mask + " end"},
		{"client secret too short", "mcps_short", "mcps_short"},
		{"jwt unsigned", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", Mask},
		{"jwe", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", Mask},
		{"bearer", "Authorization: Bearer s3cr3t-t0ken.value", "Authorization: Bearer " + Mask},
		{"bearer lower", "bearer abc==", "bearer " + Mask},
		{"bearer upper tabs", "BEARER\t\tabc", "BEARER\t\t" + Mask},
		{"bearer in header map", "map[Authorization:[Bearer opaque123]]", "map[Authorization:[Bearer " + Mask + "]]"},
		{"bearer key", "Bearer " + key, "Bearer mcpg_" + id + "_" + Mask},
		{"bearer jwt", "Bearer " + testJWT, "Bearer " + Mask},
		{"two bearers", "Bearer a, Bearer b", "Bearer " + Mask + ", Bearer " + Mask},
		{"bearer auth-param", `WWW-Authenticate: Bearer resource_metadata="https://x/prm", error="invalid_token"`, `WWW-Authenticate: Bearer resource_metadata="https://x/prm", error="invalid_token"`},
		{"bearer unquoted param", "Bearer error=invalid_token", "Bearer error=invalid_token"},
		{"bearer alone", "scheme Bearer", "scheme Bearer"},
		{"bearer glued", "Bearerabc", "Bearerabc"},
		{"word containing bearer", "flagbearer abc", "flagbearer abc"},
		{"bearer then symbol", "Bearer [x]", "Bearer [x]"},
		{"eyJ without dots", "eyJhbGciOiJ", "eyJhbGciOiJ"},
		{"mcpg prefix only", "mcpg_short", "mcpg_short"},

		{"query", "GET /cb?code=abc&access_token=xyz123&state=s", "GET /cb?code=abc&access_token=" + Mask + "&state=s"},
		{"form", "grant_type=refresh_token&refresh_token=r1.r2&client_id=c", "grant_type=refresh_token&refresh_token=" + Mask + "&client_id=c"},
		{"password param", "login password=hunter2 ok", "login password=" + Mask + " ok"},
		{"quoted param", `client_secret="s3 cr3t" x`, `client_secret="` + Mask + `" x`},
		{"json member", `{"client_secret":"s3cr3t","client_id":"c1"}`, `{"client_secret":"` + Mask + `","client_id":"c1"}`},
		{"json spaced", `{"refresh_token": "abc\"def"}`, `{"refresh_token": "` + Mask + `"}`},
		{"json number", `{"token":123}`, `{"token":123}`},
		{"header basic", "Authorization: Basic dXNlcjpwYXNz\r\nHost: x", "Authorization: Basic " + Mask + "\r\nHost: x"},
		{"header cookie", "Cookie: session=abc; csrf=def\nAccept: */*", "Cookie: " + Mask + "\nAccept: */*"},
		{"yaml", "password: hunter2 Bearer xyz", "password: " + Mask},
		{"header key", "X-Api-Key: " + key, "X-Api-Key: mcpg_" + id + "_" + Mask},
		{"fmt header map", "map[Authorization:[Basic dXNl] Accept:[*/*]]", "map[Authorization:[Basic " + Mask + "] Accept:[*/*]]"},
		{"innocent params", "token_type=Bearer error=invalid_token at 12:30:45 scope=notes:read", "token_type=Bearer error=invalid_token at 12:30:45 scope=notes:read"},
		{"empty value", "password= next", "password= next"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStringNoAlloc(t *testing.T) {
	s := `GET /mcp 200 subject=alice tenant=acme method=tools/call tool=notes_create latency=3ms remote=127.0.0.1:5555 bob`
	if n := testing.AllocsPerRun(100, func() { String(s) }); n != 0 {
		t.Errorf("String of clean text allocates %v times", n)
	}
}

func TestSensitiveKey(t *testing.T) {
	for _, k := range []string{"authorization", "Authorization", "PROXY-AUTHORIZATION", "Cookie", "Set-Cookie",
		"password", "secret", "client_secret", "token", "access_token", "refresh_token", "id_token",
		"code_verifier", "api_key", "X-Api-Key", "x_api_key", "Api-Key"} {
		if !SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false", k)
		}
	}
	for _, k := range []string{"", "subject", "key_id", "Mcpgate-Subject", "Mcpgate-Identity", "Mcpgate-Tenant",
		"token_type", "scope", "Content-Type", "expires", strings.Repeat("a", 100)} {
		if SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true", k)
		}
	}
}

type secretStruct struct {
	Name string
	Note string
}

type valuer struct{ s string }

func (v valuer) LogValue() slog.Value { return slog.StringValue(v.s) }

type jsonOnly struct{ hidden string }

func (j jsonOnly) MarshalJSON() ([]byte, error) { return []byte(`{"t":"` + j.hidden + `"}`), nil }
func (j jsonOnly) String() string               { return "jsonOnly" }

type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

// TestHandler proves that each credential shape is masked at every level
// a log record can carry it.
func TestHandler(t *testing.T) {
	key, id, keySecret := mustKey(t)
	shapes := []struct {
		name   string
		value  string // what is logged
		secret string // what must not appear
		keep   string // what must still appear
	}{
		{"api key", key, keySecret, "mcpg_" + id + "_" + Mask},
		{"jwt", testJWT, testJWT[10:40], Mask},
		{"bearer", "Bearer op4que-t0ken.v", "op4que-t0ken", "Bearer " + Mask},
	}
	levels := []struct {
		name string
		log  func(l *slog.Logger, v string)
	}{
		{"message", func(l *slog.Logger, v string) { l.Info("calling with " + v) }},
		{"attr", func(l *slog.Logger, v string) { l.Info("m", "note", "x "+v+" y") }},
		{"nested group", func(l *slog.Logger, v string) {
			l.Info("m", slog.Group("req", slog.Group("meta", slog.String("v", v), slog.Int("n", 1))))
		}},
		{"error", func(l *slog.Logger, v string) {
			l.Info("m", "err", fmt.Errorf("upstream said %q: %w", v, errors.ErrUnsupported))
		}},
		{"joined error", func(l *slog.Logger, v string) { l.Error("m", "err", errors.Join(errors.New("a"), errors.New(v))) }},
		{"header value", func(l *slog.Logger, v string) {
			l.Info("m", "headers", http.Header{"X-Upstream-Echo": {v}, "Accept": {"*/*"}})
		}},
		{"string map", func(l *slog.Logger, v string) { l.Info("m", "env", map[string]string{"NOTE": v}) }},
		{"any map", func(l *slog.Logger, v string) {
			l.Info("m", "params", map[string]any{"arguments": map[string]any{"x": v}})
		}},
		{"struct", func(l *slog.Logger, v string) { l.Info("m", "req", secretStruct{"n", v}) }},
		{"struct pointer", func(l *slog.Logger, v string) { l.Info("m", "req", &secretStruct{"n", v}) }},
		{"json marshaler", func(l *slog.Logger, v string) { l.Info("m", "x", jsonOnly{v}) }},
		{"string slice", func(l *slog.Logger, v string) { l.Info("m", "args", []string{"--flag", v}) }},
		{"bytes", func(l *slog.Logger, v string) { l.Info("m", "stderr", []byte("line: "+v)) }},
		{"log valuer", func(l *slog.Logger, v string) { l.Info("m", "lv", valuer{v}) }},
		{"with attrs", func(l *slog.Logger, v string) { l.With("conn", v).Info("m") }},
		{"with group", func(l *slog.Logger, v string) { l.WithGroup("g").Info("m", "v", v) }},
		{"any", func(l *slog.Logger, v string) { l.Info("m", "v", any(v)) }},
	}
	for _, shape := range shapes {
		for _, level := range levels {
			for _, format := range []string{"json", "text"} {
				t.Run(shape.name+"/"+level.name+"/"+format, func(t *testing.T) {
					var buf bytes.Buffer
					var inner slog.Handler = slog.NewJSONHandler(&buf, nil)
					if format == "text" {
						inner = slog.NewTextHandler(&buf, nil)
					}
					level.log(slog.New(NewHandler(inner)), shape.value)
					out := buf.String()
					if strings.Contains(out, shape.secret) {
						t.Errorf("secret %q leaked:\n%s", shape.secret, out)
					}
					if !strings.Contains(out, shape.keep) {
						t.Errorf("output lacks %q:\n%s", shape.keep, out)
					}
				})
			}
		}
	}
}

func TestHandlerSensitiveKeys(t *testing.T) {
	key, id, keySecret := mustKey(t)
	const pw = "hunter2-correct-horse"
	tests := []struct {
		name   string
		log    func(l *slog.Logger)
		secret string
		want   string
	}{
		{"authorization attr", func(l *slog.Logger) { l.Info("m", "Authorization", "Basic "+pw) }, pw, `"Authorization":"[REDACTED]"`},
		{"authorization key keeps id", func(l *slog.Logger) { l.Info("m", "authorization", "Bearer "+key) }, keySecret, `"authorization":"mcpg_` + id + `_[REDACTED]"`},
		{"password", func(l *slog.Logger) { l.Info("m", "password", pw) }, pw, `"password":"[REDACTED]"`},
		{"password int", func(l *slog.Logger) { l.Info("m", "PASSWORD", 123456) }, "123456", `"PASSWORD":"[REDACTED]"`},
		{"client_secret in group", func(l *slog.Logger) { l.Info("m", slog.Group("client", "id", "c1", "client_secret", pw)) }, pw, `"client":{"id":"c1","client_secret":"[REDACTED]"}`},
		{"sensitive group", func(l *slog.Logger) { l.Info("m", slog.Group("cookie", "session", pw)) }, pw, `"cookie":{"session":"[REDACTED]"}`},
		{"sensitive WithGroup", func(l *slog.Logger) { l.WithGroup("token").Info("m", "value", pw) }, pw, `"token":{"value":"[REDACTED]"}`},
		{"header map", func(l *slog.Logger) {
			l.Info("m", "h", http.Header{"Authorization": {"Basic " + pw}, "Cookie": {"s=" + pw}, "Mcpgate-Subject": {"alice"}})
		}, pw, `"h":{"Authorization":["[REDACTED]"],"Cookie":["[REDACTED]"],"Mcpgate-Subject":["alice"]}`},
		{"string map", func(l *slog.Logger) {
			l.Info("m", "form", map[string]string{"code_verifier": pw, "grant_type": "authorization_code"})
		}, pw,
			`"form":{"code_verifier":"[REDACTED]","grant_type":"authorization_code"}`},
		{"any map", func(l *slog.Logger) { l.Info("m", "body", map[string]any{"refresh_token": pw, "n": 1}) }, pw, `"body":{"n":1,"refresh_token":"[REDACTED]"}`},
		{"x-api-key", func(l *slog.Logger) { l.Info("m", "X-Api-Key", pw) }, pw, `"X-Api-Key":"[REDACTED]"`},
		{"http request", func(l *slog.Logger) {
			r := httptest.NewRequest("GET", "/mcp?access_token="+pw, nil)
			r.Header.Set("Authorization", "Basic "+pw)
			r.Header.Set("Cookie", "session="+pw)
			l.Info("m", "req", r)
		}, pw, `Authorization:[Basic [REDACTED]]`},
		{"url values", func(l *slog.Logger) { l.Info("m", "form", url.Values{"password": {pw}, "username": {"alice"}}) }, pw,
			`"form":{"password":["[REDACTED]"],"username":["alice"]}`},
		{"url", func(l *slog.Logger) {
			u, _ := url.Parse("https://gw.example/cb?access_token=" + pw + "&state=x")
			l.Info("m", "url", u)
		}, pw, `access_token=[REDACTED]&state=x`},
		{"empty stays empty", func(l *slog.Logger) { l.Info("m", "authorization", "") }, "[REDACTED]", `"authorization":""`},
		{"log valuer", func(l *slog.Logger) { l.Info("m", "secret", valuer{pw}) }, pw, `"secret":"[REDACTED]"`},
		{"with attrs", func(l *slog.Logger) { l.With("api_key", pw).Info("m") }, pw, `"api_key":"[REDACTED]"`},
		{"innocent keys untouched", func(l *slog.Logger) { l.Info("m", "subject", "alice", "key_id", id, "n", 3) }, "[REDACTED]",
			`"subject":"alice","key_id":"` + id + `","n":3`},
		{"typed nil error", func(l *slog.Logger) { var e *nilErr; l.Info("m", "err", error(e)) }, "[REDACTED]", `"err":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(NewHandler(slog.NewJSONHandler(&buf, nil))))
			out := buf.String()
			if strings.Contains(out, tt.secret) {
				t.Errorf("%q appears:\n%s", tt.secret, out)
			}
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %s:\n%s", tt.want, out)
			}
		})
	}
}

func TestHandlerPassesThrough(t *testing.T) {
	var want, got bytes.Buffer
	opts := &slog.HandlerOptions{Level: slog.LevelWarn}
	plain := slog.New(slog.NewJSONHandler(&want, opts))
	red := slog.New(NewHandler(slog.NewJSONHandler(&got, opts)))
	if red.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled ignores the inner handler's level")
	}
	for _, l := range []*slog.Logger{plain, red} {
		l.Info("dropped")
		l.With("a", 1).WithGroup("g").Warn("kept", "s", "v", "d", 3, "b", true, "l", []string{"x"}, "h", http.Header{"Accept": {"*/*"}})
	}
	// Same output but for the time.
	strip := func(s string) string { return s[strings.Index(s, `"level"`):] }
	if strip(got.String()) != strip(want.String()) {
		t.Errorf("redacting handler changed clean output:\n got %s\nwant %s", got.String(), want.String())
	}
}

func TestRecover(t *testing.T) {
	key, id, keySecret := mustKey(t)
	var buf bytes.Buffer
	logger := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	mw := Recover(logger)

	t.Run("panic value and stack are masked", func(t *testing.T) {
		buf.Reset()
		h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Mcp-Session-Id", "s1")
			panic(fmt.Sprintf("bad request with %s and %s", key, "Bearer "+testJWT))
		}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/mcp", nil))
		if w.Code != 500 || w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Mcp-Session-Id") != "" {
			t.Errorf("response = %d %v", w.Code, w.Header())
		}
		if !strings.Contains(w.Body.String(), `"internal_error"`) {
			t.Errorf("body = %s", w.Body)
		}
		out := buf.String()
		for _, leak := range []string{keySecret, testJWT[10:40]} {
			if strings.Contains(out, leak) {
				t.Errorf("log leaks %q:\n%s", leak, out)
			}
		}
		for _, want := range []string{`"msg":"panic serving request"`, "mcpg_" + id + "_" + Mask, `"stack":"goroutine`, "redact.TestRecover"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("error panic value", func(t *testing.T) {
		buf.Reset()
		h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic(fmt.Errorf("token %s rejected", key))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
		if strings.Contains(buf.String(), keySecret) {
			t.Errorf("log leaks the key:\n%s", buf.String())
		}
	})

	t.Run("abort handler is re-panicked", func(t *testing.T) {
		buf.Reset()
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler", v)
			}
			if buf.Len() != 0 {
				t.Errorf("ErrAbortHandler was logged: %s", buf.String())
			}
		}()
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})

	t.Run("started response is aborted", func(t *testing.T) {
		buf.Reset()
		w := httptest.NewRecorder()
		func() {
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Errorf("recovered %v, want http.ErrAbortHandler", v)
				}
			}()
			mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Write([]byte("data: 1\n\n"))
				http.NewResponseController(w).Flush()
				panic("mid-stream")
			})).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		}()
		if !w.Flushed {
			t.Error("Flush did not reach the underlying writer")
		}
		if w.Code != 200 || strings.Contains(w.Body.String(), "internal_error") {
			t.Errorf("a 500 was written into a started response: %d %q", w.Code, w.Body)
		}
		if !strings.Contains(buf.String(), "mid-stream") {
			t.Errorf("panic not logged: %s", buf.String())
		}
	})

	t.Run("real server", func(t *testing.T) {
		buf.Reset()
		srv := httptest.NewServer(mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			var s []int
			_ = s[len(s)] // a runtime panic: index out of range
		})))
		defer srv.Close()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Errorf("status = %d", resp.StatusCode)
		}
		if !strings.Contains(buf.String(), "index out of range") {
			t.Errorf("log = %s", buf.String())
		}
	})
}

func FuzzString(f *testing.F) {
	key, _, _ := mustKey(f)
	for _, s := range []string{"", key, "Bearer " + key, testJWT, "Bearer abc", "bearer x=", `Bearer a="b"`,
		key + key, "mcpg_mcpg_" + key, "eyJ.eyJ.eyJ", "xBearer\tBearer y",
		"a?access_token=x&b", `{"token":"a\"b"}`, "mcps_" + strings.Repeat("0", 43), "Authorization: Basic x]y", "map[Cookie:[a=b]]", "password: [REDACTED] x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if m := apikey.Pattern.FindString(out); m != "" {
			t.Fatalf("String(%q) = %q still holds key-shaped %q", s, out, m)
		}
		if m := clientSecretPattern.FindString(out); m != "" {
			t.Fatalf("String(%q) = %q still holds client-secret-shaped %q", s, out, m)
		}
		if again := String(out); again != out {
			t.Fatalf("String is not idempotent: %q → %q → %q", s, out, again)
		}
		if !strings.Contains(s, apikey.Prefix) && !strings.Contains(s, clientSecretPrefix) && !strings.Contains(s, "eyJ") && indexBearer(s, 0) < 0 && !strings.ContainsAny(s, "=:") && out != s {
			t.Fatalf("String changed %q with nothing to mask: %q", s, out)
		}
	})
}

// A password in a URL's user info, and a credential parameter whose name
// is percent-encoded, are masked too.
func TestStringUserinfoAndEncodedNames(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:pw-SECRETPW@h/x?a=1":              "https://u:[REDACTED]@h/x?a=1",
		"postgres://mcpgate:hunter2@db:5432/mcpgate": "postgres://mcpgate:[REDACTED]@db:5432/mcpgate",
		"redis://:s3cret@127.0.0.1:6379/0":           "redis://:[REDACTED]@127.0.0.1:6379/0",
		"doc://x?access%5Ftoken=ENCSECRET&other=1":   "doc://x?access%5Ftoken=[REDACTED]&other=1",
		"mailto:someone@example.com":                 "mailto:someone@example.com",
		"https://example.com/@user":                  "https://example.com/@user",
		"ssh://git@example.com/repo":                 "ssh://git@example.com/repo",
	} {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}
