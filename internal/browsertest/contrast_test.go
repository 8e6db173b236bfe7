package browsertest

import (
	"math"
	"testing"
)

func TestContrastMath(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#ffffff", 21},
		{"#ffffff", "#ffffff", 1},
		{"#777", "#fff", 4.48},
		{"rgb(223, 227, 234)", "#fbfcfd", 1.25}, // the old field border
	} {
		a, _ := ParseColor(tc.a)
		b, _ := ParseColor(tc.b)
		if got := Contrast(a, b); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}
