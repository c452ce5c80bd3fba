package superofficesim

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

const idTenant = "Cust100"

func newIdentity(t *testing.T, o IdentityOptions) (*Simulator, *Identity, string) {
	t.Helper()
	o.User = User{Tenant: idTenant, AssociateID: 1, UPN: "a@example.com", IsAdministrator: true}
	s, id, err := NewEnvironment(Options{ClientID: "cid", ClientSecret: "csecret"}, o)
	if err != nil {
		t.Fatal(err)
	}
	s.AddTenant(Tenant{ContextID: idTenant})
	srv := s.Start()
	t.Cleanup(srv.Close)
	return s, id, srv.URL
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

const verifier = "0123456789012345678901234567890123456789abcdefgh"

func challenge(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// code runs the authorize endpoint and returns the code it hands out.
func code(t *testing.T, base string) string {
	t.Helper()
	q := url.Values{"client_id": {"cid"}, "redirect_uri": {"https://app.example/callback"}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"}}
	resp, err := noRedirect.Get(base + "/login/common/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st" || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	return loc.Query().Get("code")
}

func exchange(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/login/common/oauth/tokens", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestTokenEndpoint(t *testing.T) {
	_, id, base := newIdentity(t, IdentityOptions{})
	form := func(c, v, secret string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {c}, "redirect_uri": {"https://app.example/callback"},
			"code_verifier": {v}, "client_id": {"cid"}, "client_secret": {secret}}
	}
	c := code(t, base)
	if s, m := exchange(t, base, form(c, verifier, "wrong")); s != http.StatusUnauthorized || m["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %v", s, m)
	}
	c = code(t, base)
	if s, m := exchange(t, base, form(c, verifier+"x", "csecret")); s != http.StatusBadRequest || m["error"] != "invalid_grant" {
		t.Errorf("wrong PKCE verifier: %d %v", s, m)
	}
	if s, _ := exchange(t, base, form(c, verifier, "csecret")); s != http.StatusBadRequest {
		t.Errorf("code reused after a failed exchange: %d", s)
	}
	c = code(t, base)
	s, m := exchange(t, base, form(c, verifier, "csecret"))
	if s != http.StatusOK || m["id_token"] == nil || m["refresh_token"] == nil || !strings.HasPrefix(m["access_token"].(string), "8A:"+idTenant+".") {
		t.Fatalf("good exchange: %d %v", s, m)
	}
	if s, _ := exchange(t, base, form(c, verifier, "csecret")); s != http.StatusBadRequest {
		t.Errorf("code used twice: %d", s)
	}
	if s, m := exchange(t, base, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {m["refresh_token"].(string)},
		"client_id": {"cid"}, "client_secret": {"csecret"}}); s != http.StatusOK || m["id_token"] == nil {
		t.Errorf("refresh: %d %v", s, m)
	}
	// Codes live 10 minutes.
	c = code(t, base)
	id.SetClock(func() time.Time { return time.Now().Add(codeLifetime + time.Second) })
	if s, m := exchange(t, base, form(c, verifier, "csecret")); s != http.StatusBadRequest || m["error_description"] != "code expired" {
		t.Errorf("expired code: %d %v", s, m)
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	_, _, base := newIdentity(t, IdentityOptions{RedirectURIs: []string{"https://app.example/callback"}})
	for name, q := range map[string]url.Values{
		"unknown client":        {"client_id": {"x"}, "redirect_uri": {"https://app.example/callback"}, "response_type": {"code"}},
		"unregistered redirect": {"client_id": {"cid"}, "redirect_uri": {"https://evil.example/callback"}, "response_type": {"code"}},
	} {
		resp, err := noRedirect.Get(base + "/login/common/oauth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
	q := url.Values{"client_id": {"cid"}, "redirect_uri": {"https://app.example/callback"}, "response_type": {"code"},
		"code_challenge": {"x"}, "code_challenge_method": {"plain"}, "state": {"s"}}
	resp, err := noRedirect.Get(base + "/login/common/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "error=invalid_request") {
		t.Errorf("plain PKCE accepted: %s", loc)
	}
}

func TestConsentPageAndFormPost(t *testing.T) {
	_, _, base := newIdentity(t, IdentityOptions{ConsentPage: true})
	q := url.Values{"client_id": {"cid"}, "redirect_uri": {"https://app.example/callback"}, "response_type": {"id_token"},
		"response_mode": {"form_post"}, "nonce": {"n1"}, "state": {"s1"}}
	resp, err := noRedirect.Get(base + "/login/common/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `value="approve"`) || !strings.Contains(string(page), idTenant) {
		t.Fatalf("consent page: %s", page)
	}
	deny := url.Values{}
	for k, v := range q {
		deny[k] = v
	}
	deny.Set("decision", "deny")
	resp, err = noRedirect.PostForm(base+"/login/common/oauth/authorize", deny)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `name="error" value="access_denied"`) {
		t.Errorf("deny: %s", body)
	}
	approve := deny
	approve.Set("decision", "approve")
	resp, err = noRedirect.PostForm(base+"/login/common/oauth/authorize", approve)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `name="id_token"`) || !strings.Contains(string(body), `action="https://app.example/callback"`) {
		t.Errorf("form_post answer: %s", body)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	s, id, base := newIdentity(t, IdentityOptions{})
	resp, err := http.Get(base + "/login/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d["issuer"] != base || d["jwks_uri"] != base+"/login/.well-known/jwks" {
		t.Errorf("discovery: %v", d)
	}
	if _, err := s.RotateKey(); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(base + "/login/.well-known/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set struct{ Keys []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if len(set.Keys) != 2 || set.Keys[0]["kid"] != s.SigningKey().ID || set.Keys[0]["alg"] != "RS256" {
		t.Errorf("jwks after rotation: %v", set.Keys)
	}
	if id.JWKSFetches() != 1 {
		t.Errorf("fetch count %d", id.JWKSFetches())
	}
}
