package callback

import (
	"crypto/hmac"
	"net/http"
	"time"
)

// Cookie names and lifetimes.
const (
	flowCookieName    = "to_flow"
	sessionCookieName = "to_session"
	// SessionLifetime is short: the session only lets an administrator watch
	// the install and confirm an uninstall.
	SessionLifetime = 30 * time.Minute
	// uninstallWindow is how long after re-authentication an uninstall may be
	// confirmed.
	uninstallWindow = 10 * time.Minute
)

// flowCookie binds one sign-in round trip to the browser that started it:
// it holds the PKCE verifier, which must never travel through SuperOffice.
type flowCookie struct {
	StateID  string `json:"s"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

// session is what the browser may do after signing in through SuperOffice.
// It is bound to one tenant and installation.
type session struct {
	Tenant       string `json:"t"`
	Environment  string `json:"env"`
	Installation string `json:"i"`
	// Admin: the signed-in user is an administrator of Tenant.
	Admin bool `json:"a,omitempty"`
	// UninstallUntil: the administrator re-authenticated to uninstall and may
	// confirm until this Unix time.
	UninstallUntil int64 `json:"u,omitempty"`
	// Removing: this browser confirmed the uninstall, so the status page
	// reports a vanished installation as completely removed.
	Removing bool `json:"r,omitempty"`
	// ID keys the CSRF token of this session.
	ID      string `json:"id"`
	Expires int64  `json:"e"`
}

func (s *Server) setCookie(w http.ResponseWriter, name, value, path string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		MaxAge:   int(maxAge.Seconds()),
		Secure:   s.secureCookies,
		HttpOnly: true,
		// Lax: sent on the top-level GET redirect back from SuperOffice, never
		// on a cross-site POST (the uninstall confirmation).
		SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, Secure: s.secureCookies, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *Server) writeSession(w http.ResponseWriter, sess session) error {
	if sess.ID == "" {
		sess.ID = randomID(12)
	}
	sess.Expires = s.now().Add(SessionLifetime).Unix()
	v, err := s.signer.seal("session", sess)
	if err != nil {
		return err
	}
	s.setCookie(w, sessionCookieName, v, "/", SessionLifetime)
	return nil
}

// readSession returns the valid session of the request, if any.
func (s *Server) readSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookieName)
	if err != nil {
		return session{}, false
	}
	var sess session
	if s.signer.open("session", c.Value, &sess) != nil {
		return session{}, false
	}
	if sess.ID == "" || !s.now().Before(time.Unix(sess.Expires, 0)) {
		return session{}, false
	}
	return sess, true
}

// csrfToken is the confirm form's token: tied to the session, so a page
// from elsewhere cannot produce it.
func (s *Server) csrfToken(sess session) string {
	return encodeMAC(s.signer.mac("csrf", []byte(sess.ID+"|"+sess.Installation)))
}

func (s *Server) csrfValid(sess session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.csrfToken(sess)))
}
