package superoffice

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignSystemTokenFormat(t *testing.T) {
	now := time.Date(2026, 12, 4, 15, 7, 59, 0, time.FixedZone("CET", 3600))
	signed, err := SignSystemToken(testToken, testAppKey, now)
	if err != nil {
		t.Fatal(err)
	}
	// The time is UTC, minutes precision: 14:07 UTC, not 15:07 CET.
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(testToken) + `\.202612041407\.([A-Za-z0-9+/=]+)$`)
	m := re.FindStringSubmatch(signed)
	if m == nil {
		t.Fatalf("signed token %q does not have the form token.yyyyMMddHHmm.base64", signed)
	}
	sig, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(testToken + ".202612041407"))
	if err := rsa.VerifyPKCS1v15(&testAppKey.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("signature does not verify with the app's public key: %v", err)
	}
	for _, bad := range []struct {
		token string
		key   *rsa.PrivateKey
	}{{"", testAppKey}, {testToken, nil}} {
		if _, err := SignSystemToken(bad.token, bad.key, now); err == nil {
			t.Errorf("SignSystemToken(%q, key=%v) accepted", bad.token, bad.key != nil)
		}
	}
}

func TestSystemUserExchangeAndCache(t *testing.T) {
	h := newRESTHarness(t)
	cred := SystemUserCredentials{TenantID: testTenant, SystemToken: testToken, Serial: "1234567"}
	t1, err := h.su.Ticket(context.Background(), cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(t1, "7T:") {
		t.Errorf("ticket %q is not what the simulator issued", t1)
	}
	t2, err := h.su.Ticket(context.Background(), cred, nil)
	if err != nil || t2 != t1 {
		t.Fatalf("second call: %q, %v; want the cached ticket", t2, err)
	}
	if got := h.rest.Stats(testTenant).Exchanges; got != 1 {
		t.Errorf("exchanges = %d, want 1 (cached)", got)
	}
	h.su.Invalidate(testTenant)
	if _, err := h.su.Ticket(context.Background(), cred, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.rest.Stats(testTenant).Exchanges; got != 2 {
		t.Errorf("exchanges after Invalidate = %d, want 2", got)
	}
}

func TestSystemUserTicketExpires(t *testing.T) {
	h := newRESTHarness(t)
	now := time.Now()
	su, err := NewSystemUser(SystemUserOptions{AuthenticateURL: h.srv.URL + SystemUserAuthenticatePath, ApplicationToken: testSecret,
		PrivateKey: testAppKey, Keyfunc: simKeyfunc(h.sim), TicketTTL: 5 * time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	cred := SystemUserCredentials{TenantID: testTenant, SystemToken: testToken}
	if _, err := su.Ticket(context.Background(), cred, nil); err != nil {
		t.Fatal(err)
	}
	now = now.Add(4 * time.Minute)
	if _, err := su.Ticket(context.Background(), cred, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.rest.Stats(testTenant).Exchanges; got != 1 {
		t.Fatalf("exchanges within the TTL = %d, want 1", got)
	}
	// Past the TTL; still within the simulator's 10 minute window for the signature time.
	now = now.Add(2 * time.Minute)
	if _, err := su.Ticket(context.Background(), cred, nil); err != nil {
		t.Fatal(err)
	}
	if got := h.rest.Stats(testTenant).Exchanges; got != 2 {
		t.Errorf("exchanges after the TTL = %d, want 2", got)
	}
}

func TestSystemUserRefusals(t *testing.T) {
	cases := []struct {
		name      string
		cred      SystemUserCredentials
		prepare   func(h *restHarness)
		wantCreds bool
	}{
		{"revoked consent", SystemUserCredentials{TenantID: testTenant, SystemToken: testToken}, func(h *restHarness) { h.rest.RevokeConsent(testTenant, true) }, true},
		{"unknown tenant", SystemUserCredentials{TenantID: "Cust999", SystemToken: testToken}, nil, true},
		{"wrong system token", SystemUserCredentials{TenantID: testTenant, SystemToken: "TestApp-other"}, nil, true},
		{"no system token", SystemUserCredentials{TenantID: testTenant}, nil, true},
		{"wrong serial in audience", SystemUserCredentials{TenantID: testTenant, SystemToken: testToken, Serial: "999"}, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRESTHarness(t)
			if tc.prepare != nil {
				tc.prepare(h)
			}
			_, err := h.su.Ticket(context.Background(), tc.cred, nil)
			if err == nil {
				t.Fatal("exchange succeeded")
			}
			if got := errors.Is(err, ErrCredentials); got != tc.wantCreds {
				t.Errorf("credentials error = %v, want %v (%v)", got, tc.wantCreds, err)
			}
			if tc.cred.SystemToken != "" && strings.Contains(err.Error(), tc.cred.SystemToken) {
				t.Errorf("error leaks the system token: %v", err)
			}
		})
	}
}

// TestSystemUserRejectsForeignJWT: a token not signed by the environment's
// keys, or with the wrong issuer, never yields a ticket.
func TestSystemUserRejectsForeignJWT(t *testing.T) {
	h := newRESTHarness(t)
	cases := []struct {
		name   string
		key    *rsa.PrivateKey
		claims jwt.MapClaims
	}{
		{"foreign key", testAppKey, jwt.MapClaims{"iss": SystemUserIssuer, "aud": "spn:1", SystemUserTicketClaim: "7T:x", "exp": time.Now().Add(time.Hour).Unix()}},
		{"wrong issuer", h.sim.SigningKey().Private, jwt.MapClaims{"iss": "Evil", "aud": "spn:1", SystemUserTicketClaim: "7T:x", "exp": time.Now().Add(time.Hour).Unix()}},
		{"no spn audience", h.sim.SigningKey().Private, jwt.MapClaims{"iss": SystemUserIssuer, "aud": "other", SystemUserTicketClaim: "7T:x", "exp": time.Now().Add(time.Hour).Unix()}},
		{"no ticket", h.sim.SigningKey().Private, jwt.MapClaims{"iss": SystemUserIssuer, "aud": "spn:1", "exp": time.Now().Add(time.Hour).Unix()}},
		{"expired", h.sim.SigningKey().Private, jwt.MapClaims{"iss": SystemUserIssuer, "aud": "spn:1", SystemUserTicketClaim: "7T:x", "exp": time.Now().Add(-time.Hour).Unix()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, tc.claims)
			tok.Header["kid"] = h.sim.SigningKey().ID
			signed, err := tok.SignedString(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = json.NewEncoder(w).Encode(map[string]any{"IsSuccessful": true, "Token": signed})
			}))
			defer srv.Close()
			su, err := NewSystemUser(SystemUserOptions{AuthenticateURL: srv.URL, ApplicationToken: testSecret, PrivateKey: testAppKey, Keyfunc: simKeyfunc(h.sim)})
			if err != nil {
				t.Fatal(err)
			}
			tk, err := su.Ticket(context.Background(), SystemUserCredentials{TenantID: testTenant, SystemToken: testToken}, nil)
			if err == nil {
				t.Fatalf("accepted, ticket %q", tk)
			}
			if errors.Is(err, ErrCredentials) {
				t.Errorf("a bad answer is not the tenant's fault; got a credentials error: %v", err)
			}
		})
	}
}

func TestNewSystemUserValidates(t *testing.T) {
	_, err := NewSystemUser(SystemUserOptions{})
	if err == nil {
		t.Fatal("empty options accepted")
	}
	for _, want := range []string{"AuthenticateURL", "ApplicationToken", "PrivateKey", "Keyfunc"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
