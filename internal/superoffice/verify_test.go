package superoffice_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tenant-operator/tenant-operator/internal/superoffice"
	"github.com/tenant-operator/tenant-operator/test/superofficesim"
)

const (
	testClientID = "client-under-test"
	testTenant   = "Cust12345"
)

var testUser = superofficesim.User{Tenant: testTenant, AssociateID: 7, Email: "admin@example.com", UPN: "admin@example.com", IsAdministrator: true}

type env struct {
	sim *superofficesim.Simulator
	id  *superofficesim.Identity
	url string
}

func newEnv(t testing.TB) *env { return newEnvBits(t, 0) }

// newEnvBits sets the signing key size; fuzz workers use a small key because
// coverage-instrumented key generation of 2048 bits takes minutes.
func newEnvBits(t testing.TB, bits int) *env {
	t.Helper()
	sim, id, err := superofficesim.NewEnvironment(superofficesim.Options{ClientID: testClientID, ClientSecret: "secret", KeyBits: bits},
		superofficesim.IdentityOptions{User: testUser, AppName: "TestApp"})
	if err != nil {
		t.Fatal(err)
	}
	sim.AddTenant(superofficesim.Tenant{ContextID: testTenant, Serial: "12345", CompanyName: "Example AS"})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	return &env{sim: sim, id: id, url: srv.URL}
}

// verifier builds a fresh verifier (own key cache and rate limiter) for e.
func (e *env) verifier(t testing.TB) *superoffice.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ks, err := superoffice.NewKeySet(ctx, superoffice.KeySetOptions{JWKSURL: e.url + "/login/.well-known/jwks", UnknownKIDInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	v, err := superoffice.NewVerifier(ks, superoffice.VerifierOptions{Issuers: []string{e.url}, ClientID: testClientID,
		Leeway: 30 * time.Second, AllowHTTPURLs: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) mint(t testing.TB, mutate func(map[string]any), o superofficesim.MintOptions) string {
	t.Helper()
	c := e.id.IDTokenClaims(testUser, "nonce-1")
	if mutate != nil {
		mutate(c)
	}
	tok, err := e.id.MintIDToken(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyIDToken(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	now := time.Now().Unix()
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signing := e.sim.SigningKey()

	tamper := func(tok string) string {
		parts := strings.Split(tok, ".")
		payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
		payload = bytes.Replace(payload, []byte(testTenant), []byte("Cust99999"), 1)
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}

	for _, tc := range []struct {
		name    string
		mutate  func(map[string]any)
		opts    superofficesim.MintOptions
		post    func(string) string
		nonce   string
		wantErr error
	}{
		{name: "valid, iat as string", nonce: "nonce-1"},
		{name: "valid, iat as number", mutate: func(c map[string]any) { c["iat"] = now }},
		{name: "valid, exp just past but within leeway", mutate: func(c map[string]any) { c["exp"] = now - 10 }},
		{name: "expired", mutate: func(c map[string]any) { c["exp"] = now - 120 }, wantErr: superoffice.ErrInvalidToken},
		{name: "exp missing", mutate: func(c map[string]any) { delete(c, "exp") }, wantErr: superoffice.ErrInvalidToken},
		{name: "exp as garbage string", mutate: func(c map[string]any) { c["exp"] = "tomorrow" }, wantErr: superoffice.ErrInvalidToken},
		{name: "nbf in the future", mutate: func(c map[string]any) { c["nbf"] = now + 300 }, wantErr: superoffice.ErrInvalidToken},
		{name: "iat in the future", mutate: func(c map[string]any) { c["iat"] = fmt.Sprint(now + 300) }, wantErr: superoffice.ErrInvalidToken},
		{name: "wrong audience", mutate: func(c map[string]any) { c["aud"] = "another-app" }, wantErr: superoffice.ErrInvalidToken},
		{name: "wrong issuer", mutate: func(c map[string]any) { c["iss"] = "https://evil.example.com" }, wantErr: superoffice.ErrInvalidToken},
		{name: "alg none", opts: superofficesim.MintOptions{Alg: "none"}, wantErr: superoffice.ErrInvalidToken},
		{name: "HS256 with the RSA public key as HMAC secret", opts: superofficesim.MintOptions{Alg: "HS256", HMACSecret: superofficesim.PublicKeyPEM(signing)}, wantErr: superoffice.ErrInvalidToken},
		{name: "HS256 with the modulus as HMAC secret", opts: superofficesim.MintOptions{Alg: "HS256", HMACSecret: signing.Private.N.Bytes()}, wantErr: superoffice.ErrInvalidToken},
		{name: "signed by a foreign key under our kid", opts: superofficesim.MintOptions{Key: &superofficesim.Key{ID: signing.ID, Private: foreign}}, wantErr: superoffice.ErrInvalidToken},
		{name: "tampered payload", post: tamper, wantErr: superoffice.ErrInvalidToken},
		{name: "truncated signature", post: func(s string) string { return s[:len(s)-5] }, wantErr: superoffice.ErrInvalidToken},
		{name: "not a JWT", post: func(string) string { return "not.a.jwt" }, wantErr: superoffice.ErrInvalidToken},
		{name: "missing ctx", mutate: func(c map[string]any) { delete(c, superofficesim.ClaimCtx) }, wantErr: superoffice.ErrClaims},
		{name: "ctx not a tenant id", mutate: func(c map[string]any) { c[superofficesim.ClaimCtx] = "../kube-system" }, wantErr: superoffice.ErrClaims},
		{name: "missing sub", mutate: func(c map[string]any) { delete(c, "sub") }, wantErr: superoffice.ErrClaims},
		{name: "webapi_url missing", mutate: func(c map[string]any) { delete(c, superofficesim.ClaimWebAPIURL) }, wantErr: superoffice.ErrClaims},
		{name: "webapi_url not http", mutate: func(c map[string]any) { c[superofficesim.ClaimWebAPIURL] = "javascript:alert(1)" }, wantErr: superoffice.ErrClaims},
		{name: "netserver_url with credentials", mutate: func(c map[string]any) { c[superofficesim.ClaimNetServerURL] = "https://u:p@x.example/" }, wantErr: superoffice.ErrClaims},
		{name: "associateid not a number", mutate: func(c map[string]any) { c[superofficesim.ClaimAssociateID] = "seven" }, wantErr: superoffice.ErrClaims},
		{name: "is_administrator garbage", mutate: func(c map[string]any) { c[superofficesim.ClaimIsAdministrator] = "Yes" }, wantErr: superoffice.ErrClaims},
		{name: "nonce mismatch", nonce: "other-nonce", wantErr: superoffice.ErrNonce},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := e.mint(t, tc.mutate, tc.opts)
			if tc.post != nil {
				tok = tc.post(tok)
			}
			c, err := v.VerifyIDToken(context.Background(), tok, tc.nonce)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				if c.TenantID != testTenant || !c.IsAdministrator || c.AssociateID != 7 || c.Email != testUser.Email ||
					!strings.HasPrefix(c.SystemToken.Reveal(), "TestApp-") || c.CompanyName != "Example AS" || c.Serial != "12345" ||
					!strings.HasSuffix(c.WebAPIURL, "/"+testTenant+"/api/") || c.IssuedAt.IsZero() {
					t.Errorf("claims not mapped: %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("want %v, got %v", tc.wantErr, err)
			}
			if c != nil {
				t.Errorf("claims returned with an error")
			}
			if strings.Contains(err.Error(), tok) || strings.Contains(err.Error(), "TestApp-") {
				t.Errorf("error echoes token material: %v", err)
			}
		})
	}
}

func TestIsAdministratorFalse(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	tok := e.mint(t, func(c map[string]any) { c[superofficesim.ClaimIsAdministrator] = "False" }, superofficesim.MintOptions{})
	c, err := v.VerifyIDToken(context.Background(), tok, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.IsAdministrator {
		t.Error(`"False" read as administrator`)
	}
}

func TestUnknownKIDRefreshesOnceThenRejects(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	e.id.ResetJWKSFetches()
	for i := range 3 {
		tok := e.mint(t, nil, superofficesim.MintOptions{KID: fmt.Sprintf("unknown-%d", i)})
		if _, err := v.VerifyIDToken(context.Background(), tok, ""); !errors.Is(err, superoffice.ErrInvalidToken) {
			t.Fatalf("unknown kid accepted or wrong error: %v", err)
		}
	}
	if got := e.id.JWKSFetches(); got != 1 {
		t.Errorf("JWKS fetched %d times for three unknown kids; want exactly 1", got)
	}
}

func TestUnknownKIDStormFetchesAtMostOnce(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	e.id.ResetJWKSFetches()
	toks := make([]string, 200)
	for i := range toks {
		toks[i] = e.mint(t, nil, superofficesim.MintOptions{KID: fmt.Sprintf("storm-%d", i)})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for _, tok := range toks {
		wg.Go(func() {
			if _, err := v.VerifyIDToken(context.Background(), tok, ""); err == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 0 {
		t.Errorf("%d storm tokens accepted", accepted)
	}
	if got := e.id.JWKSFetches(); got > 1 {
		t.Errorf("storm of 200 unknown kids caused %d JWKS fetches; want at most 1 per interval", got)
	}
}

func TestKeyRotation(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	old := e.mint(t, nil, superofficesim.MintOptions{})
	if _, err := v.VerifyIDToken(context.Background(), old, ""); err != nil {
		t.Fatalf("token of the first key: %v", err)
	}
	if _, err := e.sim.RotateKey(); err != nil {
		t.Fatal(err)
	}
	e.id.ResetJWKSFetches()
	fresh := e.mint(t, nil, superofficesim.MintOptions{})
	if _, err := v.VerifyIDToken(context.Background(), fresh, ""); err != nil {
		t.Fatalf("token of the rotated-in key: %v", err)
	}
	if got := e.id.JWKSFetches(); got != 1 {
		t.Errorf("rotation picked up with %d fetches, want 1", got)
	}
	if _, err := v.VerifyIDToken(context.Background(), old, ""); err != nil {
		t.Errorf("old key still published but refused: %v", err)
	}
}

func TestKeyfuncVerifiesOtherJWTs(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	tok := e.mint(t, func(c map[string]any) { c["iss"] = "SuperOffice AS"; c["aud"] = "spn:12345" }, superofficesim.MintOptions{})
	parsed, err := jwt.Parse(tok, v.Keyfunc(), jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer("SuperOffice AS"))
	if err != nil || !parsed.Valid {
		t.Fatalf("Keyfunc did not verify a token of the same keys: %v", err)
	}
}

func TestVerifyStateChangeToken(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	good, err := e.id.StateChangeToken(testTenant)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.VerifyStateChangeToken(context.Background(), good, testTenant)
	if err != nil {
		t.Fatalf("valid state change token refused: %v", err)
	}
	if c.TenantID != testTenant {
		t.Errorf("tenant = %q", c.TenantID)
	}
	if _, err := v.VerifyStateChangeToken(context.Background(), good, "Cust55555"); !errors.Is(err, superoffice.ErrTenantMismatch) {
		t.Errorf("other tenant's token accepted: %v", err)
	}
	none, _ := e.id.MintIDToken(map[string]any{"iss": e.url, superofficesim.ClaimCtx: testTenant}, superofficesim.MintOptions{Alg: "none"})
	if _, err := v.VerifyStateChangeToken(context.Background(), none, testTenant); !errors.Is(err, superoffice.ErrInvalidToken) {
		t.Errorf("alg none state change accepted: %v", err)
	}
	wrongIss, _ := e.id.MintIDToken(map[string]any{"iss": "https://evil.example", superofficesim.ClaimCtx: testTenant}, superofficesim.MintOptions{})
	if _, err := v.VerifyStateChangeToken(context.Background(), wrongIss, testTenant); !errors.Is(err, superoffice.ErrInvalidToken) {
		t.Errorf("foreign issuer state change accepted: %v", err)
	}
	expired, _ := e.id.MintIDToken(map[string]any{"iss": e.url, "exp": time.Now().Add(-time.Hour).Unix()}, superofficesim.MintOptions{})
	if _, err := v.VerifyStateChangeToken(context.Background(), expired, testTenant); !errors.Is(err, superoffice.ErrInvalidToken) {
		t.Errorf("expired state change accepted: %v", err)
	}
	noTenant, _ := e.id.MintIDToken(map[string]any{"iss": e.url}, superofficesim.MintOptions{})
	if c, err := v.VerifyStateChangeToken(context.Background(), noTenant, testTenant); err != nil || c.TenantID != "" {
		t.Errorf("token without tenant claim: %v %+v", err, c)
	}
}

func TestNewVerifierRefusesUnsafeOptions(t *testing.T) {
	e := newEnv(t)
	ks, err := superoffice.NewKeySet(context.Background(), superoffice.KeySetOptions{JWKSURL: e.url + "/login/.well-known/jwks"})
	if err != nil {
		t.Fatal(err)
	}
	for name, o := range map[string]superoffice.VerifierOptions{
		"no issuer":  {ClientID: "x"},
		"no client":  {Issuers: []string{"https://a"}},
		"big leeway": {Issuers: []string{"https://a"}, ClientID: "x", Leeway: 2 * time.Minute},
	} {
		if _, err := superoffice.NewVerifier(ks, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClaimsNeverPrintSystemToken(t *testing.T) {
	e := newEnv(t)
	v := e.verifier(t)
	c, err := v.VerifyIDToken(context.Background(), e.mint(t, nil, superofficesim.MintOptions{}), "")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("claims", "claims", c, "token", c.SystemToken)
	js, _ := json.Marshal(c)
	for name, out := range map[string]string{"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", *c), "%#v": fmt.Sprintf("%#v", c), "slog": buf.String(), "json": string(js)} {
		if strings.Contains(out, c.SystemToken.Reveal()) {
			t.Errorf("%s prints the system token: %s", name, out)
		}
	}
}

// FuzzVerifyToken feeds arbitrary strings to the verifier: it must never
// panic and never accept anything but a token our simulator signed.
func FuzzVerifyToken(f *testing.F) {
	e := newEnvBits(f, 1024)
	v := e.verifier(f)
	valid := e.mint(f, nil, superofficesim.MintOptions{})
	f.Add(valid)
	f.Add(e.mint(f, func(c map[string]any) { c["iat"] = float64(time.Now().Unix()) + 0.5 }, superofficesim.MintOptions{}))
	f.Add(e.mint(f, nil, superofficesim.MintOptions{Alg: "none"}))
	f.Add(e.mint(f, nil, superofficesim.MintOptions{Alg: "HS256", HMACSecret: []byte("x")}))
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJSUzI1NiJ9.eyJpYXQiOiIxMjMifQ.")
	f.Add(strings.Repeat("A", superoffice.MaxTokenBytes+1))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := v.VerifyIDToken(context.Background(), raw, "")
		if err == nil {
			if !superoffice.ValidTenantID(c.TenantID) || c.Subject == "" {
				t.Fatalf("accepted token with bad claims: %+v", c)
			}
			// Only signature-preserving re-encodings of a real token can pass.
			if strings.Count(raw, ".") != 2 {
				t.Fatalf("accepted a non-JWS")
			}
		}
		_, _ = v.VerifyStateChangeToken(context.Background(), raw, testTenant)
	})
}
