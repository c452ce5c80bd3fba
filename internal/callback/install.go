package callback

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// handleInstall starts an install: it sends the browser to SuperOffice's
// authorize endpoint with PKCE, a nonce and a signed single-use state.
// ?tenant=CustNNN (optional) pins the tenant.
func (s *Server) handleInstall(w http.ResponseWriter, r *http.Request) {
	s.startSignIn(w, r, purposeInstall, r.URL.Query().Get("tenant"))
}

// handleUninstallStart makes the administrator re-authenticate before an
// uninstall. The tenant comes from ?tenant= or the current session.
func (s *Server) handleUninstallStart(w http.ResponseWriter, r *http.Request) {
	tenant := r.URL.Query().Get("tenant")
	if tenant == "" {
		if sess, ok := s.readSession(r); ok {
			tenant = sess.Tenant
		}
	}
	s.startSignIn(w, r, purposeUninstall, tenant)
}

func (s *Server) startSignIn(w http.ResponseWriter, r *http.Request, purpose, tenant string) {
	if tenant != "" && !superoffice.ValidTenantID(tenant) {
		s.fail(w, r, http.StatusBadRequest, problem{"invalid_tenant", "Unknown tenant id",
			"The tenant id in the link is not a SuperOffice context identifier (like Cust12345).", "Open the link from SuperOffice again."})
		return
	}
	now := s.now()
	st := newState(purpose, tenant, now)
	state, err := s.signer.seal("state", st)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return
	}
	verifier := randomID(48) // 64 characters, within RFC 7636's 43..128
	fc, err := s.signer.seal("flow", flowCookie{StateID: st.ID, Verifier: verifier, Expires: st.Expires})
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return
	}
	s.setCookie(w, flowCookieName, fc, "/callback", StateLifetime)

	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{}
	q.Set("client_id", s.cfg.Environment.ClientID)
	q.Set("scope", "openid")
	q.Set("response_type", "code")
	q.Set("redirect_uri", s.cfg.Environment.RedirectURL)
	q.Set("state", state)
	q.Set("nonce", st.Nonce)
	q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
	q.Set("code_challenge_method", "S256")
	if tenant != "" {
		q.Set("acr_values", "tenant:"+tenant)
	}
	u, err := url.Parse(s.cfg.Environment.AuthorizeURL)
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}
