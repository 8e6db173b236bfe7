package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
)

func TestJSONLinesSkipsWhatIsNotJSON(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\"a\":1}\n", "{\"a\":1}\n"},
		{"server ready\n{\"a\":1}\n", "\n{\"a\":1}\n"},
		{"Listening...\r\n[{\"a\":1}]\r\n", "\n[{\"a\":1}]\r\n"},
		{"{\"s\":\"}\\\"{ not the end\"}\nbanner\n", "{\"s\":\"}\\\"{ not the end\"}\n\n"},
		{"{\n  \"pretty\": [1,\n 2]\n}\n", "{\n  \"pretty\": [1,\n 2]\n}\n"},
		{"{\"a\":1} trailing words\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":2}\n"},
		{"  {\"a\":1}  \n", "{\"a\":1}\n"},
		{"no newline at the end", ""},
		{"}\n]\n{\"a\":{}}\n", "\n\n{\"a\":{}}\n"},
	}
	for _, tc := range tests {
		var logs bytes.Buffer
		for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
			j := &jsonLines{r: r, logger: slog.New(slog.NewTextHandler(&logs, nil))}
			got, err := io.ReadAll(j)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("jsonLines(%q) = %q, want %q", tc.in, got, tc.want)
			}
		}
	}
}

// FuzzJSONLines checks that the reader never invents bytes and passes
// newline-delimited JSON objects unchanged.
func FuzzJSONLines(f *testing.F) {
	f.Add("{\"a\":\"x\"}\nbanner\n[1]\n")
	f.Add("}}}{{{\"\\\n")
	f.Fuzz(func(t *testing.T, in string) {
		j := &jsonLines{r: strings.NewReader(in), logger: slog.New(slog.DiscardHandler)}
		got, err := io.ReadAll(j)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) > len(in) {
			t.Fatalf("output %q longer than input %q", got, in)
		}
		if strings.HasPrefix(in, "{") && !strings.ContainsAny(in, "\n\"\\") && strings.Count(in, "{") == strings.Count(in, "}") && strings.Count(in, "[") == 0 && strings.Count(in, "]") == 0 {
			// One balanced object with nothing after the final brace but itself.
			if i := strings.LastIndexByte(in, '}'); i == len(in)-1 && string(got) != in && balancedPrefixEnd(in) == len(in) {
				t.Errorf("object %q changed to %q", in, got)
			}
		}
	})
}

// balancedPrefixEnd returns where the first balanced {...} of s ends.
func balancedPrefixEnd(s string) int {
	d := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			d++
		case '}':
			d--
			if d == 0 {
				return i + 1
			}
		}
	}
	return -1
}
