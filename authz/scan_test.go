package authz

import "testing"

func TestKeyFold(t *testing.T) {
	tests := []struct {
		raw, name     string
		exact, folded bool
	}{
		{`"method"`, "method", true, true},
		{`"Method"`, "method", false, true},
		{`"m\u0065thod"`, "method", true, true},
		{`"M\u0045THOD"`, "method", false, true},
		{`"toolſ"`, "tools", false, true}, // U+017F folds to 's'
		{`"tool"`, "tools", false, false},
		{`"toolsx"`, "tools", false, false},
		{`""`, "", true, true},
		{`"é"`, "e", false, false},
	}
	for _, tt := range tests {
		exact, folded := keyFold([]byte(tt.raw), tt.name)
		if exact != tt.exact || folded != tt.folded {
			t.Errorf("keyFold(%s, %q) = %v, %v; want %v, %v", tt.raw, tt.name, exact, folded, tt.exact, tt.folded)
		}
	}
}

func TestSkipValue(t *testing.T) {
	for _, v := range []string{`"a\"b"`, `{"a":[1,{"b":"}"}]}`, `[[],{}]`, `-1.5e10`, `true`, `null`} {
		in := v + ` ,x`
		if got := skipValue([]byte(in), 0); got != len(v) {
			t.Errorf("skipValue(%s) = %d, want %d", in, got, len(v))
		}
	}
}
