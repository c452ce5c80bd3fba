package callback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// callbackParams is what SuperOffice sends back to the redirect URL.
type callbackParams struct {
	Code    string
	State   string
	IDToken string
	// Error is SuperOffice's OAuth error code (e.g. access_denied).
	Error string
}

// Errors of parsing a callback request; each maps to a status.
var (
	errMediaType = errors.New("unsupported content type")
	errTooLarge  = errors.New("request body too large")
	errMalformed = errors.New("malformed callback request")
	errMissing   = errors.New("callback request lacks code or id_token, or state")
)

// maxFieldBytes bounds each field of a callback.
const maxFieldBytes = superoffice.MaxTokenBytes

// parseCallback reads a GET query or a form-posted body (form_post response
// mode). It refuses other content types and ambiguous repeated fields.
func parseCallback(r *http.Request) (callbackParams, error) {
	var v url.Values
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return callbackParams{}, errMalformed
		}
		v = q
	case http.MethodPost:
		ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || ct != "application/x-www-form-urlencoded" {
			return callbackParams{}, errMediaType
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return callbackParams{}, errTooLarge
			}
			return callbackParams{}, errMalformed
		}
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return callbackParams{}, errMalformed
		}
		v = form
	default:
		return callbackParams{}, errMalformed
	}
	get := func(name string) (string, error) {
		vals := v[name]
		switch {
		case len(vals) == 0:
			return "", nil
		case len(vals) > 1:
			return "", errMalformed // a repeated field is never legitimate here
		case len(vals[0]) > maxFieldBytes:
			return "", errMalformed
		}
		return vals[0], nil
	}
	var p callbackParams
	var errs []error
	for name, dst := range map[string]*string{"code": &p.Code, "state": &p.State, "id_token": &p.IDToken, "error": &p.Error} {
		val, err := get(name)
		*dst = val
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return callbackParams{}, errMalformed
	}
	if p.Error != "" {
		return p, nil
	}
	if p.State == "" || (p.Code == "" && p.IDToken == "") || (p.Code != "" && p.IDToken != "") {
		return callbackParams{}, errMissing
	}
	return p, nil
}

// handleCallback completes a sign-in round trip.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	result := s.callback(w, r)
	s.metrics.observe(s.env, result, time.Since(start))
	s.log.Info("callback", "result", result, "method", r.Method)
}

// callback handles one callback and returns the metric result.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) string {
	p, err := parseCallback(r)
	switch {
	case errors.Is(err, errMediaType):
		s.fail(w, r, http.StatusUnsupportedMediaType, problemMediaType)
		return resultBadRequest
	case errors.Is(err, errTooLarge):
		s.fail(w, r, http.StatusRequestEntityTooLarge, problemTooLarge)
		return resultBadRequest
	case err != nil:
		s.fail(w, r, http.StatusBadRequest, problemBadRequest)
		return resultBadRequest
	}
	if p.Error != "" {
		// Consume the state even so, when it is ours: a denied round trip is over.
		_, _ = s.checkState(p.State, s.now())
		s.fail(w, r, http.StatusForbidden, problemDenied)
		return resultDenied
	}
	st, err := s.checkState(p.State, s.now())
	if err != nil {
		switch {
		case errors.Is(err, errStateExpired):
			s.fail(w, r, http.StatusBadRequest, problemStateExpired)
		case errors.Is(err, errStateReplayed):
			s.fail(w, r, http.StatusConflict, problemStateReplayed)
		default:
			s.fail(w, r, http.StatusBadRequest, problemStateMalformed)
		}
		return resultBadState
	}
	s.clearCookie(w, flowCookieName, "/callback")

	ctx := r.Context()
	var idToken, refreshToken string
	if p.Code != "" {
		verifier, ok := s.flowVerifier(r, st)
		if !ok {
			s.fail(w, r, http.StatusBadRequest, problemFlowCookie)
			return resultBadState
		}
		tr, err := s.exchangeCode(ctx, p.Code, verifier)
		if err != nil {
			s.log.Info("code exchange failed", "reason", err.Error())
			s.fail(w, r, http.StatusBadGateway, problemUpstream)
			return resultUpstream
		}
		idToken, refreshToken = tr.IDToken, tr.RefreshToken
	} else {
		idToken = p.IDToken
	}
	claims, err := s.opts.Verifier.VerifyIDToken(ctx, idToken, st.Nonce)
	if err != nil {
		// The error text names the failed check, never the token.
		s.log.Info("id_token refused", "reason", err.Error())
		s.fail(w, r, http.StatusUnauthorized, problemToken)
		return resultBadToken
	}
	if st.Tenant != "" && !strings.EqualFold(st.Tenant, claims.TenantID) {
		s.fail(w, r, http.StatusForbidden, problemTenantMismatch)
		return resultForbidden
	}
	name := tenancyv1alpha1.InstallationName(s.env, claims.TenantID)

	if st.Purpose == purposeUninstall {
		return s.authorizeUninstall(w, r, claims, name)
	}

	err = s.upsertInstallation(ctx, claims, refreshToken)
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		// Another replica or the reconciler wrote in between: read again, once.
		err = s.upsertInstallation(ctx, claims, refreshToken)
	}
	if err != nil {
		switch {
		case errors.Is(err, errOtherTenant):
			s.fail(w, r, http.StatusConflict, problemConflict)
			return resultConflict
		case errors.Is(err, errBeingRemoved):
			s.fail(w, r, http.StatusConflict, problemBeingRemoved)
			return resultConflict
		default:
			s.log.Error(err, "storing installation failed", "installation", name)
			s.fail(w, r, http.StatusInternalServerError, problemInternal)
			return resultError
		}
	}
	if err := s.writeSession(w, session{Tenant: claims.TenantID, Environment: s.env, Installation: name, Admin: claims.IsAdministrator}); err != nil {
		s.fail(w, r, http.StatusInternalServerError, problemInternal)
		return resultError
	}
	s.log.Info("installation stored", "installation", name, "tenant", claims.TenantID)
	// 303: the browser GETs the status page; provisioning runs on its own.
	http.Redirect(w, r, "/installations/"+url.PathEscape(name), http.StatusSeeOther)
	return resultSuccess
}

// flowVerifier returns the PKCE verifier from the browser's flow cookie, if
// the cookie belongs to this state.
func (s *Server) flowVerifier(r *http.Request, st flowState) (string, bool) {
	c, err := r.Cookie(flowCookieName)
	if err != nil {
		return "", false
	}
	var fc flowCookie
	if s.signer.open("flow", c.Value, &fc) != nil || fc.StateID != st.ID || fc.Verifier == "" {
		return "", false
	}
	return fc.Verifier, true
}

type tokenResponse struct {
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
}

var oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,40}$`)

// exchangeCode trades the authorization code at SuperOffice's token
// endpoint. Errors name the status and OAuth error code only.
func (s *Server) exchangeCode(ctx context.Context, code, verifier string) (*tokenResponse, error) {
	form := url.Values{}
	form.Set("grant_type", "authorization_code")
	form.Set("code", code)
	form.Set("redirect_uri", s.cfg.Environment.RedirectURL)
	form.Set("code_verifier", verifier)
	form.Set("client_id", s.cfg.Environment.ClientID)
	form.Set("client_secret", s.cfg.ClientSecret.Value())
	ctx, cancel := context.WithTimeout(ctx, tokenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Environment.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint unreachable: %w", transportCause(err))
	}
	defer resp.Body.Close()
	var tr tokenResponse
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	decErr := dec.Decode(&tr)
	if resp.StatusCode != http.StatusOK {
		code := "unknown"
		if oauthErrorCode.MatchString(tr.Error) {
			code = tr.Error
		}
		return nil, fmt.Errorf("token endpoint answered %d (%s)", resp.StatusCode, code)
	}
	if decErr != nil || tr.IDToken == "" {
		return nil, errors.New("token endpoint answer lacks an id_token")
	}
	return &tr, nil
}

// transportCause drops the *url.Error wrapper, whose text repeats the URL,
// and keeps the cause (e.g. "connection refused").
func transportCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}
