package main

import (
	"testing"
	"time"
)

func TestRetentionFlag(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"720h", 720 * time.Hour, true},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"soon", 0, false},
	} {
		var r retention
		err := r.UnmarshalText([]byte(tc.in))
		if (err == nil) != tc.ok || time.Duration(r) != tc.want {
			t.Errorf("retention %q = %v, %v; want %v (ok %v)", tc.in, time.Duration(r), err, tc.want, tc.ok)
		}
	}
}
