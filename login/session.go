package login

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate"
)

// session is a signed-in person: who they are and what they may hand on to
// an app. It lives in the store (mcpgate.SigninSessionStore), so every
// replica serving the pages knows it; see stored and loaded.
type session struct {
	Subject string
	Tenant  string
	// Method is MethodPassword or mcpgate.MethodAPIKey.
	Method string
	KeyID  string
	// Scopes caps what consent may grant when Capped is set. A local user
	// with no scopes listed is not capped; an API key always is.
	Scopes []string
	Capped bool
	// CSRF is the token every form of this session must carry.
	CSRF    string
	Expires time.Time
}

// principal is the session as the authorization server sees the approver
// of scopes. The server grants only scopes the principal carries, so an
// uncapped person carries exactly the scopes being approved.
func (s *session) principal(approving []string) *mcpgate.Principal {
	scopes := s.Scopes
	if !s.Capped {
		scopes = approving
	}
	return &mcpgate.Principal{
		Subject: s.Subject,
		Tenant:  s.Tenant,
		KeyID:   s.KeyID,
		Scopes:  slices.Clone(scopes),
		Expires: s.Expires,
		Method:  s.Method,
	}
}

// maxSessionsPerSubject bounds the sign-in sessions one subject holds: a
// person signs in from a few browsers, and a script signing in in a loop
// must not fill the store. Signing in once more ends the oldest.
const maxSessionsPerSubject = 20

// sessionHash is what the store keys a session by: the id itself is only
// ever in the browser's cookie.
func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// sessionCSRF derives the CSRF token of the session with id: forms of the
// session carry it, and it is not stored, so a copy of the store yields
// neither sessions nor their tokens. It tells nothing of the id.
func sessionCSRF(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte("mcpgate sign-in form"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// stored is s as the store keeps it, under the hash of id.
func (s *session) stored(id string, now time.Time) *mcpgate.SigninSession {
	return &mcpgate.SigninSession{
		IDHash:    sessionHash(id),
		Subject:   s.Subject,
		Tenant:    s.Tenant,
		Method:    s.Method,
		KeyID:     s.KeyID,
		Scopes:    slices.Clone(s.Scopes),
		Capped:    s.Capped,
		CreatedAt: now,
		ExpiresAt: s.Expires,
	}
}

// loaded is the stored session of id as the pages use it.
func loaded(st *mcpgate.SigninSession, id string) *session {
	return &session{
		Subject: st.Subject,
		Tenant:  st.Tenant,
		Method:  st.Method,
		KeyID:   st.KeyID,
		Scopes:  st.Scopes,
		Capped:  st.Capped,
		CSRF:    sessionCSRF(id),
		Expires: st.ExpiresAt,
	}
}

// randomToken returns 256 random bits, base64url without padding.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
