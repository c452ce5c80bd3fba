package superofficesim

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClaimPrefix is the namespace of SuperOffice's custom claims.
const ClaimPrefix = "http://schemes.superoffice.net/identity/"

// Identity claim names (full URIs) the simulator issues.
const (
	ClaimCtx             = ClaimPrefix + "ctx"
	ClaimNetServerURL    = ClaimPrefix + "netserver_url"
	ClaimWebAPIURL       = ClaimPrefix + "webapi_url"
	ClaimSystemToken     = ClaimPrefix + "system_token"
	ClaimAssociateID     = ClaimPrefix + "associateid"
	ClaimEmail           = ClaimPrefix + "email"
	ClaimUPN             = ClaimPrefix + "upn"
	ClaimIsAdministrator = ClaimPrefix + "is_administrator"
	ClaimCompanyName     = ClaimPrefix + "company_name"
	ClaimSerial          = ClaimPrefix + "serial"
)

// State change types SuperOffice sends, by their numeric value.
const (
	ChangeUpgrade        = 0
	ChangeBackupRestored = 1
	ChangeSuspend        = 2
	ChangeResume         = 3
	ChangeDelete         = 4
	ChangeMove           = 5
)

// codeLifetime is how long an authorization code can be exchanged.
const codeLifetime = 10 * time.Minute

// User is the SuperOffice user who signs in and consents at the simulator.
type User struct {
	// Tenant is the context id the user belongs to, e.g. Cust12345.
	Tenant          string
	AssociateID     int
	Email           string
	UPN             string
	IsAdministrator bool
}

// IdentityOptions configure the OpenID Connect side.
type IdentityOptions struct {
	// User signs in at the authorize endpoint. The tenant must be added with AddTenant.
	User User
	// ConsentPage shows a small HTML consent page instead of consenting
	// automatically (for a person clicking through `make run`).
	ConsentPage bool
	// AppName prefixes generated system tokens ("AppName-<random>").
	AppName string
	// RedirectURIs, when set, are the only redirect URIs accepted (exact match).
	RedirectURIs []string
}

// Identity is the simulator's OpenID Connect side: discovery, JWKS,
// authorize, tokens, and a test API to mint tokens.
type Identity struct {
	sim         *Simulator
	jwksFetches atomic.Int64

	mu           sync.Mutex
	opts         IdentityOptions
	codes        map[string]*authCode
	refresh      map[string]refreshGrant
	systemTokens map[string]string
	now          func() time.Time
}

type authCode struct {
	clientID, redirectURI string
	challenge, method     string
	nonce                 string
	user                  User
	expires               time.Time
}

type refreshGrant struct {
	user User
}

// NewEnvironment builds a simulator with its identity side registered.
func NewEnvironment(opts Options, id IdentityOptions) (*Simulator, *Identity, error) {
	s, err := New(opts)
	if err != nil {
		return nil, nil, err
	}
	return s, s.RegisterIdentity(id), nil
}

// RegisterIdentity registers the OpenID Connect routes on the simulator's mux.
// Call it once per simulator.
func (s *Simulator) RegisterIdentity(opts IdentityOptions) *Identity {
	if opts.AppName == "" {
		opts.AppName = "SimApp"
	}
	id := &Identity{sim: s, opts: opts, codes: map[string]*authCode{}, refresh: map[string]refreshGrant{},
		systemTokens: map[string]string{}, now: time.Now}
	m := s.Mux()
	m.HandleFunc("GET /login/.well-known/openid-configuration", id.discovery)
	m.HandleFunc("GET /login/.well-known/jwks", id.jwks)
	m.HandleFunc("GET /login/common/oauth/authorize", id.authorize)
	m.HandleFunc("POST /login/common/oauth/authorize", id.authorize)
	m.HandleFunc("GET /login/{ctx}/oauth/authorize", id.authorize)
	m.HandleFunc("POST /login/common/oauth/tokens", id.tokens)
	return id
}

// SetUser changes the user who signs in next.
func (id *Identity) SetUser(u User) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.opts.User = u
}

// SetConsentPage switches between automatic consent and the consent page.
func (id *Identity) SetConsentPage(on bool) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.opts.ConsentPage = on
}

// SetClock replaces the simulator's clock (tokens, code expiry).
func (id *Identity) SetClock(now func() time.Time) {
	id.mu.Lock()
	defer id.mu.Unlock()
	id.now = now
}

func (id *Identity) clock() time.Time {
	id.mu.Lock()
	now := id.now
	id.mu.Unlock()
	return now()
}

// JWKSFetches counts GET /login/.well-known/jwks since start or the last reset.
func (id *Identity) JWKSFetches() int64 { return id.jwksFetches.Load() }

// ResetJWKSFetches sets the JWKS fetch counter to zero.
func (id *Identity) ResetJWKSFetches() { id.jwksFetches.Store(0) }

// Issuer is the iss of tokens this simulator signs: its base URL, as
// SuperOffice's issuer is its login host.
func (id *Identity) Issuer() string { return id.sim.BaseURL() }

// SystemToken is the tenant's system user token ("AppName-<random>"),
// stable per tenant until the simulator is discarded.
func (id *Identity) SystemToken(ctx string) string {
	id.mu.Lock()
	defer id.mu.Unlock()
	t, ok := id.systemTokens[ctx]
	if !ok {
		t = id.opts.AppName + "-" + identityRandom(24)
		id.systemTokens[ctx] = t
	}
	return t
}

// TenantURLs are the webapi_url and netserver_url the simulator hands out
// for a tenant: paths under its own base URL.
func (id *Identity) TenantURLs(ctx string) (webAPI, netServer string) {
	base := id.sim.BaseURL()
	return base + "/" + ctx + "/api/", base + "/" + ctx + "/Remote/Services88/"
}

// IDTokenClaims are the claims SuperOffice puts in an id_token for user,
// with iat as a string as in SuperOffice's own documentation sample.
func (id *Identity) IDTokenClaims(u User, nonce string) map[string]any {
	now := id.clock()
	webAPI, netServer := id.TenantURLs(u.Tenant)
	t, _ := id.sim.Tenant(u.Tenant)
	c := map[string]any{
		"iss":                id.Issuer(),
		"aud":                id.sim.Options().ClientID,
		"sub":                u.UPN,
		"iat":                strconv.FormatInt(now.Unix(), 10),
		"nbf":                now.Unix() - 60,
		"exp":                now.Add(300 * time.Second).Unix(),
		ClaimCtx:             u.Tenant,
		ClaimWebAPIURL:       webAPI,
		ClaimNetServerURL:    netServer,
		ClaimSystemToken:     id.SystemToken(u.Tenant),
		ClaimAssociateID:     strconv.Itoa(u.AssociateID),
		ClaimEmail:           u.Email,
		ClaimUPN:             u.UPN,
		ClaimIsAdministrator: soBool(u.IsAdministrator),
		ClaimCompanyName:     t.CompanyName,
		ClaimSerial:          t.Serial,
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return c
}

func soBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// MintOptions choose how MintIDToken signs.
type MintOptions struct {
	// Key signs the token; the current signing key when nil.
	Key *Key
	// KID overrides the header kid (e.g. to name a key the JWKS lacks).
	KID string
	// NoKID leaves the kid header out.
	NoKID bool
	// Alg is RS256 (default), "none", or HS256 (signed with HMACSecret).
	Alg string
	// HMACSecret is the HS256 secret, e.g. PublicKeyPEM of a signing key.
	HMACSecret []byte
}

// MintIDToken signs claims as a compact JWT; tests use it to build valid
// and hostile tokens alike.
func (id *Identity) MintIDToken(claims map[string]any, o MintOptions) (string, error) {
	key := o.Key
	if key == nil {
		k := id.sim.SigningKey()
		key = &k
	}
	var tok *jwt.Token
	var signKey any
	switch o.Alg {
	case "", "RS256":
		tok = jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
		signKey = key.Private
	case "none":
		tok = jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims(claims))
		signKey = jwt.UnsafeAllowNoneSignatureType
	case "HS256":
		tok = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(claims))
		signKey = o.HMACSecret
	default:
		return "", fmt.Errorf("mint: unsupported alg %q", o.Alg)
	}
	switch {
	case o.NoKID:
	case o.KID != "":
		tok.Header["kid"] = o.KID
	default:
		tok.Header["kid"] = key.ID
	}
	s, err := tok.SignedString(signKey)
	if err != nil {
		return "", fmt.Errorf("mint: %w", err)
	}
	return s, nil
}

// PublicKeyPEM is the PEM form of a key's public half, as an attacker would
// find it published.
func PublicKeyPEM(k Key) []byte {
	der, _ := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// StateChange is the JSON SuperOffice POSTs to an app's state change URL.
type StateChange struct {
	ChangeType        int
	ContextIdentifier string
	VersionName       string
	FileVersion       string
	Token             string
	PublicEndpoint    string
}

// StateChangeToken signs the Token of a state change for tenant ctx. Its
// real claims are unknown; the simulator uses iss, aud, ctx, iat and exp.
func (id *Identity) StateChangeToken(ctx string) (string, error) {
	now := id.clock()
	return id.MintIDToken(map[string]any{
		"iss":    id.Issuer(),
		"aud":    id.sim.Options().ClientID,
		"iat":    now.Unix(),
		"exp":    now.Add(5 * time.Minute).Unix(),
		ClaimCtx: ctx,
	}, MintOptions{})
}

// SendStateChange POSTs a signed state change for tenant ctx to target and
// returns the response status.
func (id *Identity) SendStateChange(target string, changeType int, ctx string) (int, error) {
	tok, err := id.StateChangeToken(ctx)
	if err != nil {
		return 0, err
	}
	webAPI, _ := id.TenantURLs(ctx)
	body, _ := json.Marshal(StateChange{ChangeType: changeType, ContextIdentifier: ctx, VersionName: "10.3",
		FileVersion: "10.3.0.0", Token: tok, PublicEndpoint: webAPI})
	resp, err := http.Post(target, "application/json", strings.NewReader(string(body))) //nolint:noctx // test helper
	if err != nil {
		return 0, fmt.Errorf("send state change: %w", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, nil
}

func (id *Identity) discovery(w http.ResponseWriter, _ *http.Request) {
	base := id.sim.BaseURL()
	identityWriteJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "/login/common/oauth/authorize",
		"token_endpoint":                        base + "/login/common/oauth/tokens",
		"jwks_uri":                              base + "/login/.well-known/jwks",
		"revocation_endpoint":                   base + "/login/common/oauth/Revoke",
		"scopes_supported":                      []string{"openid"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "token id_token", "token"},
		"response_modes_supported":              []string{"form_post", "fragment", "query"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic"},
		"code_challenge_methods_supported":      []string{"S256"},
		"subject_types_supported":               []string{"public"},
	})
}

func (id *Identity) jwks(w http.ResponseWriter, _ *http.Request) {
	id.jwksFetches.Add(1)
	keys := []map[string]any{}
	for _, k := range id.sim.PublishedKeys() {
		pub := k.Private.PublicKey
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "alg": "RS256", "kid": k.ID,
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	identityWriteJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><title>SuperOffice simulator: consent</title></head><body>
<h1>Allow {{.App}} to access {{.Tenant}}?</h1>
<p>Signed in as {{.User}}. The app asks for access to your SuperOffice tenant.</p>
<form method="post">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button name="decision" value="approve">Allow</button>
<button name="decision" value="deny">Cancel</button>
</form></body></html>`))

func (id *Identity) authorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	q := r.Form
	id.mu.Lock()
	opts := id.opts
	id.mu.Unlock()
	clientID, redirectURI := q.Get("client_id"), q.Get("redirect_uri")
	if clientID != id.sim.Options().ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if !identityValidRedirect(redirectURI, opts.RedirectURIs) {
		// Never redirect to an unregistered URI.
		http.Error(w, "redirect_uri not registered", http.StatusBadRequest)
		return
	}
	user := opts.User
	if tenant := r.PathValue("ctx"); tenant != "" && tenant != "common" {
		user.Tenant = tenant
	}
	if acr := q.Get("acr_values"); strings.HasPrefix(acr, "tenant:") {
		user.Tenant = strings.TrimPrefix(acr, "tenant:")
	}
	if _, ok := id.sim.Tenant(user.Tenant); !ok {
		identityRedirectError(w, r, redirectURI, q, "access_denied", "unknown tenant")
		return
	}
	if q.Get("scope") != "" && !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		identityRedirectError(w, r, redirectURI, q, "invalid_scope", "scope must include openid")
		return
	}
	if m := q.Get("code_challenge_method"); q.Get("code_challenge") != "" && m != "S256" {
		identityRedirectError(w, r, redirectURI, q, "invalid_request", "only S256 PKCE is supported")
		return
	}
	if r.Method == http.MethodGet && (opts.ConsentPage || q.Get("prompt") == "consent") {
		params := map[string]string{}
		for k := range q {
			params[k] = q.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = consentPage.Execute(w, map[string]any{"App": opts.AppName, "Tenant": user.Tenant, "User": user.UPN, "Params": params})
		return
	}
	if r.Method == http.MethodPost && q.Get("decision") != "approve" {
		identityRedirectError(w, r, redirectURI, q, "access_denied", "the user declined")
		return
	}
	resp := url.Values{}
	resp.Set("state", q.Get("state"))
	switch q.Get("response_type") {
	case "code":
		code := identityRandom(32)
		expires := id.clock().Add(codeLifetime)
		id.mu.Lock()
		id.codes[code] = &authCode{clientID: clientID, redirectURI: redirectURI, challenge: q.Get("code_challenge"),
			method: q.Get("code_challenge_method"), nonce: q.Get("nonce"), user: user, expires: expires}
		id.mu.Unlock()
		resp.Set("code", code)
	case "id_token":
		if q.Get("nonce") == "" {
			identityRedirectError(w, r, redirectURI, q, "invalid_request", "nonce is required for the implicit flow")
			return
		}
		tok, err := id.MintIDToken(id.IDTokenClaims(user, q.Get("nonce")), MintOptions{})
		if err != nil {
			http.Error(w, "server error", http.StatusInternalServerError)
			return
		}
		resp.Set("id_token", tok)
	default:
		identityRedirectError(w, r, redirectURI, q, "unsupported_response_type", "response_type must be code or id_token")
		return
	}
	identityRespond(w, r, redirectURI, q.Get("response_mode"), resp)
}

var formPostPage = template.Must(template.New("formpost").Parse(`<!doctype html>
<html><head><title>Continue</title></head><body onload="document.forms[0].submit()">
<form method="post" action="{{.Action}}">
{{range $k, $v := .Params}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<noscript><button>Continue</button></noscript></form></body></html>`))

// respond returns the authorize result to the app the way response_mode asks.
func identityRespond(w http.ResponseWriter, r *http.Request, redirectURI, mode string, v url.Values) {
	if mode == "form_post" {
		params := map[string]string{}
		for k := range v {
			params[k] = v.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = formPostPage.Execute(w, map[string]any{"Action": redirectURI, "Params": params})
		return
	}
	u, _ := url.Parse(redirectURI)
	q := u.Query()
	for k := range v {
		q.Set(k, v.Get(k))
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func identityRedirectError(w http.ResponseWriter, r *http.Request, redirectURI string, q url.Values, code, desc string) {
	v := url.Values{}
	v.Set("error", code)
	v.Set("error_description", desc)
	v.Set("state", q.Get("state"))
	identityRespond(w, r, redirectURI, q.Get("response_mode"), v)
}

func identityValidRedirect(uri string, allowed []string) bool {
	u, err := url.Parse(uri)
	if err != nil || !u.IsAbs() || u.Fragment != "" {
		return false
	}
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if a == uri {
			return true
		}
	}
	return false
}

func (id *Identity) tokens(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		identityTokenError(w, http.StatusBadRequest, "invalid_request", "form does not parse")
		return
	}
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	o := id.sim.Options()
	if clientID != o.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(o.ClientSecret)) != 1 {
		identityTokenError(w, http.StatusUnauthorized, "invalid_client", "client authentication failed")
		return
	}
	var user User
	var nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		code := r.PostForm.Get("code")
		id.mu.Lock()
		c, ok := id.codes[code]
		delete(id.codes, code) // single use, even when the exchange fails
		id.mu.Unlock()
		switch {
		case !ok:
			identityTokenError(w, http.StatusBadRequest, "invalid_grant", "unknown or used code")
			return
		case id.clock().After(c.expires):
			identityTokenError(w, http.StatusBadRequest, "invalid_grant", "code expired")
			return
		case c.clientID != clientID || c.redirectURI != r.PostForm.Get("redirect_uri"):
			identityTokenError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri or client does not match")
			return
		case c.challenge != "" && !identityPKCEMatches(c.challenge, r.PostForm.Get("code_verifier")):
			identityTokenError(w, http.StatusBadRequest, "invalid_grant", "PKCE verification failed")
			return
		}
		user, nonce = c.user, c.nonce
	case "refresh_token":
		id.mu.Lock()
		g, ok := id.refresh[r.PostForm.Get("refresh_token")]
		id.mu.Unlock()
		if !ok {
			identityTokenError(w, http.StatusBadRequest, "invalid_grant", "unknown refresh token")
			return
		}
		user = g.user
	default:
		identityTokenError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
		return
	}
	idToken, err := id.MintIDToken(id.IDTokenClaims(user, nonce), MintOptions{})
	if err != nil {
		identityTokenError(w, http.StatusInternalServerError, "server_error", "signing failed")
		return
	}
	refresh := identityRandom(32)
	id.mu.Lock()
	id.refresh[refresh] = refreshGrant{user: user}
	id.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	identityWriteJSON(w, http.StatusOK, map[string]any{
		"access_token":  "8A:" + user.Tenant + "." + identityRandom(24),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": refresh,
		"id_token":      idToken,
	})
}

func identityPKCEMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

func identityTokenError(w http.ResponseWriter, status int, code, desc string) {
	identityWriteJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func identityWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func identityRandom(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("crypto/rand failed"))
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}
