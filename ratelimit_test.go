package mcpgate_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate"
)

func TestParseLimit(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want mcpgate.Limit
		str  string
	}{
		{"100/15m", mcpgate.Limit{Rate: 100, Per: 15 * time.Minute, Burst: 100}, "100/15m"},
		{"600/1m", mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600}, "600/1m"},
		{"600/m", mcpgate.Limit{Rate: 600, Per: time.Minute, Burst: 600}, "600/1m"},
		{"100/15m burst 20", mcpgate.Limit{Rate: 100, Per: 15 * time.Minute, Burst: 20}, "100/15m burst 20"},
		{"  10/1s   BURST   50 ", mcpgate.Limit{Rate: 10, Per: time.Second, Burst: 50}, "10/1s burst 50"},
		{"5/90s", mcpgate.Limit{Rate: 5, Per: 90 * time.Second, Burst: 5}, "5/90s"},
		{"1000/1d", mcpgate.Limit{Rate: 1000, Per: 24 * time.Hour, Burst: 1000}, "1000/1d"},
		{"1/1h30m", mcpgate.Limit{Rate: 1, Per: 90 * time.Minute, Burst: 1}, "1/90m"},
		{"3/1500ms", mcpgate.Limit{Rate: 3, Per: 1500 * time.Millisecond, Burst: 3}, "3/1.5s"},
		{"off", mcpgate.Off, "off"},
		{"OFF", mcpgate.Off, "off"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := mcpgate.ParseLimit(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ParseLimit(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if s := got.String(); s != tc.str {
				t.Errorf("String() = %q, want %q", s, tc.str)
			}
			if again, err := mcpgate.ParseLimit(got.String()); err != nil || again != got {
				t.Errorf("ParseLimit(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

func TestParseLimitRefuses(t *testing.T) {
	for _, tc := range []struct{ in, reason string }{
		{"", "unexpected words"},
		{"100", "no /"},
		{"100/", "no period"},
		{"/15m", "count"},
		{"0/1m", "count"},
		{"-5/1m", "count"},
		{"1.5/1m", "count"},
		{"100/15x", "not a duration"},
		{"100/0s", "not positive"},
		{"100/-1m", "not positive"},
		{"100/15m burst", "unexpected words"},
		{"100/15m burst 0", "burst"},
		{"100/15m burst x", "burst"},
		{"100/15m limit 20", "unexpected words"},
		{"100/15m burst 20 extra", "unexpected words"},
		{"2000000/1s", "more than one per"},
		{"1/400d", "days up to 366"},
		{"1/1h burst 100000", "longer than"},
		{"on", "no /"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := mcpgate.ParseLimit(tc.in)
			if !errors.Is(err, mcpgate.ErrInvalidLimit) {
				t.Fatalf("ParseLimit(%q) error = %v, want ErrInvalidLimit", tc.in, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.reason) || !strings.Contains(msg, "COUNT/PERIOD") || !strings.Contains(msg, tc.in) {
				t.Errorf("ParseLimit(%q) error %q does not say %q, show the input and the accepted form", tc.in, msg, tc.reason)
			}
		})
	}
}

func TestLimitWindow(t *testing.T) {
	l := mcpgate.Limit{Rate: 100, Per: 15 * time.Minute, Burst: 20}
	if got, want := l.Interval(), 9*time.Second; got != want {
		t.Errorf("Interval() = %v, want %v", got, want)
	}
	if got, want := l.Window(), 180*time.Second; got != want {
		t.Errorf("Window() = %v, want %v", got, want)
	}
	if mcpgate.Off.Interval() != 0 || mcpgate.Off.Window() != 0 || !mcpgate.Off.IsOff() || l.IsOff() {
		t.Error("Off is not off, or a limit is")
	}
}

func TestLimitCheckCost(t *testing.T) {
	l := mcpgate.Limit{Rate: 10, Per: time.Minute, Burst: 5}
	for cost, ok := range map[int]bool{-1: false, 0: false, 1: true, 5: true, 6: false} {
		if err := l.Check(cost); (err == nil) != ok {
			t.Errorf("Check(%d) = %v, want ok %v", cost, err, ok)
		}
	}
	if err := mcpgate.Off.Check(1000); err != nil {
		t.Errorf("Off.Check(1000) = %v", err)
	}
}

func ExampleParseLimit() {
	l, err := mcpgate.ParseLimit("100/15m burst 20")
	if err != nil {
		panic(err)
	}
	fmt.Println(l, l.Interval(), l.Window())
	_, err = mcpgate.ParseLimit("100 per 15m")
	fmt.Println(err)
	// Output:
	// 100/15m burst 20 9s 3m0s
	// invalid rate limit "100 per 15m": unexpected words (want COUNT/PERIOD [burst N] or off, e.g. 100/15m burst 20)
}
