package authn

// damageLast changes the last character of s to a different one, so a key
// with a valid checksum never survives "damage" by chance (its last
// character was already the replacement one time in 62).
func damageLast(s string) string {
	c := byte('x')
	if s[len(s)-1] == c {
		c = 'y'
	}
	return s[:len(s)-1] + string(c)
}
