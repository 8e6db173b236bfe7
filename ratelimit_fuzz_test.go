package mcpgate_test

import (
	"testing"

	"github.com/mcpgate/mcpgate"
)

// FuzzParseLimit: any text is a limit that round-trips through String, or
// an error; never a panic, never a limit Check refuses.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"600/1m", "100/15m burst 20", "off", "1/1d", "0/1m", "5/0s", "9999999999/1ns", "3/1m burst", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := mcpgate.ParseLimit(s)
		if err != nil {
			return
		}
		if l.IsOff() {
			return
		}
		if err := l.Check(1); err != nil {
			t.Fatalf("ParseLimit(%q) = %+v, which Check refuses: %v", s, l, err)
		}
		again, err := mcpgate.ParseLimit(l.String())
		if err != nil || again != l {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, l, l.String(), again, err)
		}
	})
}
