package browsertest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseColor reads a solid CSS color as a stylesheet or getComputedStyle
// writes it: #rgb, #rrggbb, rgb(r, g, b), or rgba(r, g, b, 1).
func ParseColor(s string) ([3]float64, error) {
	s = strings.TrimSpace(strings.ToLower(s))
	var c [3]float64
	switch {
	case strings.HasPrefix(s, "#") && len(s) == 4:
		s = "#" + strings.Repeat(s[1:2], 2) + strings.Repeat(s[2:3], 2) + strings.Repeat(s[3:4], 2)
		fallthrough
	case strings.HasPrefix(s, "#") && len(s) == 7:
		for i := range 3 {
			v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
			if err != nil {
				return c, fmt.Errorf("color %q: %v", s, err)
			}
			c[i] = float64(v)
		}
		return c, nil
	case strings.HasPrefix(s, "rgb(") || strings.HasPrefix(s, "rgba("):
		inner := s[strings.Index(s, "(")+1:]
		inner, ok := strings.CutSuffix(inner, ")")
		parts := strings.Split(inner, ",")
		if !ok || len(parts) < 3 || len(parts) > 4 {
			return c, fmt.Errorf("color %q", s)
		}
		if len(parts) == 4 {
			if a, err := strconv.ParseFloat(strings.TrimSpace(parts[3]), 64); err != nil || a != 1 {
				return c, fmt.Errorf("not a solid color: %q", s)
			}
		}
		for i := range 3 {
			v, err := strconv.ParseFloat(strings.TrimSpace(parts[i]), 64)
			if err != nil {
				return c, fmt.Errorf("color %q: %v", s, err)
			}
			c[i] = v
		}
		return c, nil
	}
	return c, fmt.Errorf("not a solid color: %q", s)
}

// Contrast is the WCAG 2 contrast ratio of two colors, from 1 to 21.
func Contrast(a, b [3]float64) float64 {
	lum := func(c [3]float64) float64 {
		var l [3]float64
		for i, v := range c {
			v /= 255
			if v <= 0.04045 {
				l[i] = v / 12.92
			} else {
				l[i] = math.Pow((v+0.055)/1.055, 2.4)
			}
		}
		return 0.2126*l[0] + 0.7152*l[1] + 0.0722*l[2]
	}
	la, lb := lum(a), lum(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// ContrastOf is Contrast of two CSS colors.
func ContrastOf(a, b string) (float64, error) {
	ca, err := ParseColor(a)
	if err != nil {
		return 0, err
	}
	cb, err := ParseColor(b)
	if err != nil {
		return 0, err
	}
	return Contrast(ca, cb), nil
}
