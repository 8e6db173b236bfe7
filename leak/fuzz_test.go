package leak

import "testing"

// FuzzLines: any text is scanned without a panic, and every finding points
// at a line that was given.
func FuzzLines(f *testing.F) {
	f.Add("token = mcpg_abcdefghijkl_" + "0123456789012345678901234567890123456789012345678")
	f.Add("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln")
	f.Fuzz(func(t *testing.T, text string) {
		var lines []Line
		n := 0
		start := 0
		for i := 0; i <= len(text); i++ {
			if i == len(text) || text[i] == '\n' {
				n++
				lines = append(lines, Line{N: n, Text: text[start:i]})
				start = i + 1
			}
		}
		for _, fd := range Lines(lines) {
			if fd.Line < 1 || fd.Line > n {
				t.Fatalf("finding at line %d of %d", fd.Line, n)
			}
		}
	})
}
