package federation

// TokenAAD is the associated data a token is sealed with, for tests that
// open stored tokens.
var TokenAAD = aad
