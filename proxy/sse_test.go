package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
	"github.com/mcpgate/mcpgate/authz"
)

var (
	onlySimple = &authz.Policy{
		Tools:   []authz.Rule{{Match: "simple", Scopes: []string{"basic"}}},
		Default: []string{"admin"},
	}
	basicUser = &mcpgate.Principal{Subject: "u", Scopes: []string{"basic"}}
)

func sseThrough(t testing.TB, in string, f *listFilter) (string, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	err := copySSE(rec, http.NewResponseController(rec), strings.NewReader(in), f, 1<<20)
	return rec.Body.String(), err
}

func TestCopySSEFiltersOnlyListResponses(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"simple","inputSchema":{"type":"object"}},{"name":"secret","inputSchema":{"type":"object"}}]}}`
	f := &listFilter{policy: onlySimple, pr: basicUser, calls: []listCall{{id: idKey([]byte("3")), method: "tools/list"}}}
	tests := []struct {
		name     string
		in       string
		same     bool   // output must equal input byte for byte
		contains string // else: output must contain this
		lacks    string // and not this
	}{
		{"progress passes as is", "event: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n", true, "", ""},
		{"other id passes as is", "data: " + strings.Replace(list, `"id":3`, `"id":4`, 1) + "\n\n", true, "", ""},
		{"list answer is filtered", "event: message\nid: 7\ndata: " + list + "\n\n", false, `"simple"`, `"secret"`},
		{"CRLF lines", "id: 7\r\ndata: " + list + "\r\n\r\n", false, "id: 7\r\n", `"secret"`},
		{"CR lines", "id: 7\rdata: " + list + "\r\r", false, "id: 7\r\n", `"secret"`},
		{"negative zero", "data: " + strings.Replace(list, `"id":3`, `"id":3e-0`, 1) + "\n\n", false, `"simple"`, `"secret"`},
		{"bare data field", "data: " + list + "\ndata\n\n", false, `"simple"`, `"secret"`},
		{"string id of same value is a different id", "data: " + strings.Replace(list, `"id":3`, `"id":"3"`, 1) + "\n\n", true, "", ""},
		{"float spelling of the id", "data: " + strings.Replace(list, `"id":3`, `"id":3.0`, 1) + "\n\n", false, `"simple"`, `"secret"`},
		{"comment and retry kept", ": keepalive\nretry: 100\n\n", true, "", ""},
		{"unterminated event", "data: partial", true, "", ""},
		{"escaped result key is filtered too", "data: " + strings.Replace(list, `"result"`, `"\u0072esult"`, 1) + "\n\n", false, `"simple"`, `"secret"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sseThrough(t, tc.in, f)
			if err != nil {
				t.Fatal(err)
			}
			if tc.same {
				if got != tc.in {
					t.Errorf("got %q, want the input unchanged", got)
				}
				return
			}
			if !strings.Contains(got, tc.contains) || strings.Contains(got, tc.lacks) {
				t.Errorf("got %q, want %q and not %q", got, tc.contains, tc.lacks)
			}
			if !strings.HasSuffix(got, "\n\n") {
				t.Errorf("got %q: event not terminated", got)
			}
		})
	}
}

func TestCopySSEEventTooLarge(t *testing.T) {
	f := &listFilter{policy: onlySimple, pr: basicUser, calls: []listCall{{id: idKey([]byte("1")), method: "tools/list"}}}
	rec := httptest.NewRecorder()
	in := "data: " + strings.Repeat("x", 5000) + "\n\n"
	err := copySSE(rec, http.NewResponseController(rec), strings.NewReader(in), f, 1024)
	if err != errEventTooLarge {
		t.Errorf("err = %v, want errEventTooLarge", err)
	}
}

// FuzzCopySSE checks that any stream passes through without a panic, and
// byte for byte when no event holds a result.
func FuzzCopySSE(f *testing.F) {
	f.Add("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"secret\"}]}}\n\n")
	f.Add("data: a\ndata: b\n\nid: 2\r\ndata: {}\r\n\r\n")
	f.Add(": c\nretry: 5\n\ndata:[1,{\"id\":1,\"result\":{}}]\n\n")
	f.Add("data: {\"id\":1,\"result\":{\"tools\":7}}\n\n")
	filter := &listFilter{policy: onlySimple, pr: basicUser, calls: []listCall{{id: idKey([]byte("1")), method: "tools/list"}}}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := sseThrough(t, in, filter)
		if err == nil && !strings.Contains(in, "result") && !strings.Contains(in, `\`) && got != in {
			t.Errorf("stream without results changed:\nin  %q\nout %q", in, got)
		}
		if err == nil && strings.Contains(got, `"secret"`) && !strings.Contains(in, `"secret"`) {
			t.Errorf("filter invented content: %q", got)
		}
	})
}

func TestSessions(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(time.Hour, 2)
	s.bind("a", "alice", nil, t0)
	tests := []struct {
		name  string
		id    string
		owner string
		at    time.Time
		want  bool
	}{
		{"owner", "a", "alice", t0.Add(time.Minute), true},
		{"other principal", "a", "bob", t0.Add(time.Minute), false},
		{"empty principal", "a", "", t0.Add(time.Minute), false},
		{"unknown", "b", "alice", t0, false},
		{"still fresh after use", "a", "alice", t0.Add(time.Minute + 59*time.Minute), true},
		{"expired", "a", "alice", t0.Add(3 * time.Hour), false},
		{"gone once expired", "a", "alice", t0.Add(3 * time.Hour), false},
	}
	for _, tc := range tests {
		if _, got := s.use(tc.id, tc.owner, tc.at, nil); got != tc.want {
			t.Errorf("%s: use(%q, %q) = %v, want %v", tc.name, tc.id, tc.owner, got, tc.want)
		}
	}

	// Full: the least recently used session is forgotten.
	s = newSessions(time.Hour, 2)
	s.bind("x", "o", nil, t0)
	s.bind("y", "o", nil, t0.Add(time.Second))
	s.use("x", "o", t0.Add(2*time.Second), nil)
	s.bind("z", "o", nil, t0.Add(3*time.Second))
	if _, ok := s.use("y", "o", t0.Add(4*time.Second), nil); ok {
		t.Error("least recently used session survived eviction")
	}
	for _, id := range []string{"x", "z"} {
		if _, ok := s.use(id, "o", t0.Add(4*time.Second), nil); !ok {
			t.Errorf("session %s evicted", id)
		}
	}
}

func TestListCallsAreRememberedPerSession(t *testing.T) {
	t0 := time.Now()
	s := newSessions(time.Hour, 10)
	s.bind("a", "o", nil, t0)
	for i := range maxListCalls + 10 {
		s.use("a", "o", t0, []listCall{{id: idKey([]byte(strings.Repeat("1", 1+i%5))), method: "tools/list"}})
	}
	calls, _ := s.use("a", "o", t0, nil)
	if len(calls) != maxListCalls {
		t.Errorf("%d list calls remembered, want %d", len(calls), maxListCalls)
	}
}

func TestIDKey(t *testing.T) {
	tests := []struct{ a, b string }{
		{`1`, `1.0`},
		{`1`, ` 1 `},
		{`"x"`, `"\u0078"`},
		{`100`, `1e2`},
		{`0`, `-0`},
		{`0`, `0.0`},
		{`0`, `0e0`},
		{`0`, `-0.000E+7`},
		{`12`, `1200e-2`},
		{`12`, `0.12e2`},
		{`-5`, `-5.00`},
		{`9007199254740993`, `9007199254740993.0`},
		{`null`, ` null`},
	}
	for _, tc := range tests {
		if idKey([]byte(tc.a)) != idKey([]byte(tc.b)) {
			t.Errorf("idKey(%s) != idKey(%s)", tc.a, tc.b)
		}
	}
	for _, tc := range []struct{ a, b string }{{`1`, `"1"`}, {`1`, `2`}, {`"a"`, `"A"`}, {`1`, `-1`},
		{`9007199254740993`, `9007199254740992`}, {`1e400`, `2e400`}, {`1`, `null`}, {`0`, `null`}, {`0`, `"0"`}} {
		if idKey([]byte(tc.a)) == idKey([]byte(tc.b)) {
			t.Errorf("idKey(%s) == idKey(%s)", tc.a, tc.b)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice", "alice"},
		{"a b:c/d", "a b:c/d"},
		{"evil\r\nX-Injected: 1", "evil%0D%0AX-Injected%3A+1"},
		{"jörg", "j%C3%B6rg"},
	}
	for _, tc := range tests {
		if got := headerValue(tc.in); got != tc.want {
			t.Errorf("headerValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFilterJSONBatch(t *testing.T) {
	f := &listFilter{policy: onlySimple, pr: basicUser, calls: []listCall{{id: idKey([]byte("2")), method: "tools/list"}}}
	in := []byte(`[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"secret"}]}},{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"simple"},{"name":"secret"}]}}]`)
	out, err := f.message(in)
	if err != nil {
		t.Fatal(err)
	}
	// id 1 was not a list call of this request: it stays as it is.
	if bytes.Count(out, []byte(`"secret"`)) != 1 || !bytes.Contains(out, []byte(`"simple"`)) {
		t.Errorf("filtered batch = %s", out)
	}
}

func TestListCallsSeesEscapedMethods(t *testing.T) {
	tests := []struct {
		body string
		want string // method found, or ""
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "tools/list"},
		{`{"jsonrpc":"2.0","id":1,"method":"tools\u002flist"}`, "tools/list"},
		{`{"jsonrpc":"2.0","id":1,"method":"prompts\/\u006cist"}`, "prompts/list"},
		{`[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"resources/templates/list"}]`, "resources/templates/list"},
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list"}}`, ""},
		{`{"jsonrpc":"2.0","method":"tools/list"}`, ""}, // a notification gets no response
	}
	for _, tc := range tests {
		parsed, err := authz.ParseCalls([]byte(tc.body))
		if err != nil {
			t.Fatalf("ParseCalls(%s): %v", tc.body, err)
		}
		calls := listCallsOf(parsed)
		got := ""
		if len(calls) > 0 {
			got = calls[len(calls)-1].method
		}
		if got != tc.want {
			t.Errorf("listCallsOf(%s) = %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestTypedNilPolicyMeansNoFilter(t *testing.T) {
	var p *authz.Policy
	o := (&Options{Policy: p}).withDefaults()
	if o.Policy != nil {
		t.Errorf("Policy = %#v, want nil", o.Policy)
	}
	o = (&Options{Policy: onlySimple}).withDefaults()
	if o.Policy == nil {
		t.Error("a real policy was dropped")
	}
}

func TestHandlerTransportSurvivesPanic(t *testing.T) {
	tr := handlerTransport{http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })}
	req := httptest.NewRequest(http.MethodPost, "http://stdio.invalid/mcp", strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
}

// In an exchange with list calls, a result answering none of them, or data
// that is not JSON, is dropped, and the events around it still pass.
func TestCopySSEStrictWithholds(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"simple"},{"name":"secret"}]}}`
	f := &listFilter{policy: onlySimple, pr: basicUser, strict: true,
		calls: []listCall{{id: idKey([]byte("3")), method: "tools/list"}, {id: idKey([]byte("4"))}}}
	progress := "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n"
	answer4 := "data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{\"content\":[]}}\n\n"
	tests := []struct{ name, in, want string }{
		{"other id", "data: " + strings.Replace(list, `"id":3`, `"id":5`, 1) + "\n\n", ""},
		{"no id", "data: " + strings.Replace(list, `"id":3,`, ``, 1) + "\n\n", ""},
		{"not json", "data: " + list + "x\n\n", ""},
		{"empty data", "data\n\n", ""},
		{"batch with an unknown id", "data: [" + strings.Replace(list, `"id":3`, `"id":5`, 1) + "]\n\n", ""},
		{"notification passes", progress, progress},
		{"answer to another call passes", answer4, answer4},
		{"error passes", "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":1,\"message\":\"x\"}}\n\n", "data: {\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":1,\"message\":\"x\"}}\n\n"},
		{"dropped between others", progress + "data: " + list + "x\n\n" + answer4, progress + answer4},
	}
	for _, tc := range tests {
		got, err := sseThrough(t, tc.in, f)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A line ended by a lone '\r' that is the last byte read so far ends the
// event at once: the reader does not wait for a '\n' that may never come.
func TestCopySSEDoesNotWaitAfterCR(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	out := make(chan string, 1)
	w := &notifyWriter{ch: out}
	f := &listFilter{policy: onlySimple, pr: basicUser, calls: []listCall{{id: idKey([]byte("3")), method: "tools/list"}}}
	go func() { _ = copySSE(w, http.NewResponseController(httptest.NewRecorder()), pr, f, 1<<20) }()
	if _, err := pw.Write([]byte("data: {\"jsonrpc\":\"2.0\",\"method\":\"x\"}\r\r")); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-out:
		if !strings.Contains(got, `"method":"x"`) {
			t.Errorf("got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event ended by \\r\\r not passed on until more data came")
	}
	// A '\n' that does follow belongs to the '\r' before it: no extra
	// blank line, no empty event.
	if _, err := pw.Write([]byte("\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"y\"}\n\n")); err != nil {
		t.Fatal(err)
	}
	if got := <-out; got != "data: {\"jsonrpc\":\"2.0\",\"method\":\"y\"}\n\n" {
		t.Errorf("second event %q", got)
	}
}

type notifyWriter struct{ ch chan string }

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.ch <- string(p)
	return len(p), nil
}

// FuzzIDKey checks that two JSON numbers get the same key exactly when
// they have the same value.
func FuzzIDKey(f *testing.F) {
	for _, p := range [][2]string{{"0", "-0"}, {"1", "1.0"}, {"100", "1e2"}, {"9007199254740993", "9007199254740992"}, {"-0.5e-3", "-5E-4"}, {"12", "1.2"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ra, oka := smallNumber(a)
		rb, okb := smallNumber(b)
		if !oka || !okb {
			return
		}
		ka, kb := idKey([]byte(a)), idKey([]byte(b))
		if same := ra.Cmp(rb) == 0; same != (ka == kb) {
			t.Errorf("%s and %s: equal %v, keys %q and %q", a, b, same, ka, kb)
		}
	})
}

// smallNumber parses s if it is a JSON number with an exponent small
// enough for big.Rat to hold it cheaply.
func smallNumber(s string) (*big.Rat, bool) {
	if !json.Valid([]byte(s)) || s == "" || s[0] != '-' && (s[0] < '0' || s[0] > '9') || strings.ContainsAny(s, " \t\r\n") {
		return nil, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+")); err != nil || e > 400 || e < -400 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}
