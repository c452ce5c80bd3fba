package config

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// files writes the secret files a valid config names and returns their paths.
type files struct {
	dir, secret, key, session, smallKey, ecKey, notPEM, shortSession, empty string
}

func writeFiles(t *testing.T) files {
	t.Helper()
	dir := t.TempDir()
	f := files{dir: dir}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.secret = write("client-secret", []byte("s3cr3t-value-never-printed\n"))
	f.session = write("session-key", bytes.Repeat([]byte("k"), 32))
	f.shortSession = write("short-session", []byte("tooshort"))
	f.empty = write("empty", nil)
	f.notPEM = write("not-pem", []byte("hello"))
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f.key = write("app.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	small, err := rsa.GenerateKey(rand.Reader, 1024) //nolint:gosec // deliberately too small: the test checks it is refused
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(small)
	f.smallKey = write("small.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	f.ecKey = write("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}))
	return f
}

func validYAML(f files) string {
	return fmt.Sprintf(`
environment:
  name: online
  clientID: abc123
  clientSecretFile: %s
  redirectURL: https://apps.example.com/callback
  appPrivateKeyFile: %s
appName: ExampleApp
sessionKeyFile: %s
callback:
  namespace: tenant-operator-system
`, f.secret, f.key, f.session)
}

func TestParseValidDefaults(t *testing.T) {
	f := writeFiles(t)
	c, err := Parse([]byte(validYAML(f)))
	if err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	e := c.Environment
	want := map[string]string{
		"loginHost":       "https://online.superoffice.com",
		"issuer":          "https://online.superoffice.com",
		"authorizeURL":    "https://online.superoffice.com/login/common/oauth/authorize",
		"tokenURL":        "https://online.superoffice.com/login/common/oauth/tokens",
		"jwksURL":         "https://online.superoffice.com/login/.well-known/jwks",
		"systemUserURL":   "https://online.superoffice.com/Login/api/PartnerSystemUser/Authenticate",
		"stateAPIBaseURL": "https://online.superoffice.com/api/state/",
	}
	got := map[string]string{
		"loginHost": e.LoginHost, "issuer": e.Issuer, "authorizeURL": e.AuthorizeURL, "tokenURL": e.TokenURL,
		"jwksURL": e.JWKSURL, "systemUserURL": e.SystemUserURL, "stateAPIBaseURL": e.StateAPIBaseURL,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if c.ClockSkew.Duration != DefaultClockSkew {
		t.Errorf("clockSkew = %s, want default %s", c.ClockSkew.Duration, DefaultClockSkew)
	}
	if c.RateLimits.PerTenant != DefaultPerTenant || c.RateLimits.Global != DefaultGlobal {
		t.Errorf("rate limits not defaulted: %+v", c.RateLimits)
	}
	if c.ClientSecret.Value() != "s3cr3t-value-never-printed" {
		t.Errorf("client secret not loaded (or newline kept)")
	}
	if c.AppPrivateKey == nil || len(c.SessionKey.Bytes()) != 32 {
		t.Errorf("key material not loaded")
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	f := writeFiles(t)
	for _, tc := range []struct {
		name, loginHost string
		wantIssuers     []string
	}{
		{"sod", "", []string{"https://sod.superoffice.com"}},
		{"stage", "", []string{"https://qaonline.superoffice.com", "https://stage.superoffice.com"}},
		{"stage", "https://stage.superoffice.com", []string{"https://stage.superoffice.com", "https://qaonline.superoffice.com"}},
		{"online", "", []string{"https://online.superoffice.com"}},
	} {
		t.Run(tc.name+tc.loginHost, func(t *testing.T) {
			y := strings.Replace(validYAML(f), "name: online", "name: "+tc.name, 1)
			if tc.loginHost != "" {
				y = strings.Replace(y, "  clientID:", "  loginHost: "+tc.loginHost+"\n  clientID:", 1)
			}
			c, err := Parse([]byte(y))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Environment.Issuers(); strings.Join(got, ",") != strings.Join(tc.wantIssuers, ",") {
				t.Errorf("issuers = %v, want %v", got, tc.wantIssuers)
			}
		})
	}
}

func TestCustomEnvironment(t *testing.T) {
	f := writeFiles(t)
	y := fmt.Sprintf(`
environment:
  name: sim
  loginHost: http://127.0.0.1:8555
  tokenURL: http://127.0.0.1:8555/custom/token
  clientID: abc
  clientSecretFile: %s
  redirectURL: http://127.0.0.1:8080/callback
  appPrivateKeyFile: %s
appName: Dev
sessionKeyFile: %s
clockSkew: 60s
rateLimits:
  perTenant: {rps: 2, burst: 6}
  global: {rps: 20, burst: 30}
callback:
  namespace: default
`, f.secret, f.key, f.session)
	c, err := Parse([]byte(y))
	if err != nil {
		t.Fatalf("custom http environment refused: %v", err)
	}
	if c.Environment.TokenURL != "http://127.0.0.1:8555/custom/token" {
		t.Errorf("explicit tokenURL overridden: %s", c.Environment.TokenURL)
	}
	if c.Environment.JWKSURL != "http://127.0.0.1:8555/login/.well-known/jwks" {
		t.Errorf("jwksURL not derived: %s", c.Environment.JWKSURL)
	}
	if c.ClockSkew.Duration != time.Minute || c.RateLimits.PerTenant.Burst != 6 {
		t.Errorf("values not read: %+v %+v", c.ClockSkew, c.RateLimits)
	}
}

// TestProblems is one row per problem Validate can find: each must be
// reported with its field path.
func TestProblems(t *testing.T) {
	f := writeFiles(t)
	missing := filepath.Join(f.dir, "nope")
	for _, tc := range []struct {
		name      string
		from, to  string
		wantField string
		wantText  string
	}{
		{"no env name", "name: online", "name: \"\"", "environment.name", "required"},
		{"bad env name", "name: online", "name: Online!", "environment.name", "not a valid name"},
		{"wrong login host", "  clientID:", "  loginHost: https://evil.example.com\n  clientID:", "environment.loginHost", "not a login host of online"},
		{"http on builtin", "  clientID:", "  tokenURL: http://online.superoffice.com/t\n  clientID:", "environment.tokenURL", "must use https"},
		{"custom without urls", "name: online", "name: dev", "environment.issuer", "required for the custom environment"},
		{"relative url", "  clientID:", "  jwksURL: /jwks\n  clientID:", "environment.jwksURL", "absolute http(s) URL"},
		{"url with credentials", "  clientID:", "  jwksURL: https://u:p@online.superoffice.com/j\n  clientID:", "environment.jwksURL", "credentials"},
		{"no client id", "clientID: abc123", "clientID: \"\"", "environment.clientID", "required"},
		{"secret file missing", f.secret, missing, "environment.clientSecretFile", fmt.Sprintf("file %q does not exist", missing)},
		{"secret file empty", f.secret, f.empty, "environment.clientSecretFile", "is empty"},
		{"secret file is dir", f.secret, f.dir, "environment.clientSecretFile", "is a directory"},
		{"no redirect", "redirectURL: https://apps.example.com/callback", "redirectURL: \"\"", "environment.redirectURL", "required"},
		{"redirect wrong path", "apps.example.com/callback", "apps.example.com/oauth", "environment.redirectURL", `path is "/oauth"`},
		{"redirect with query", "apps.example.com/callback", "apps.example.com/callback?x=1", "environment.redirectURL", "query"},
		{"redirect http", "https://apps.example.com/callback", "http://apps.example.com/callback", "environment.redirectURL", "must use https"},
		{"key missing", f.key, missing, "environment.appPrivateKeyFile", "does not exist"},
		{"key not pem", f.key, f.notPEM, "environment.appPrivateKeyFile", "no PEM block"},
		{"key not rsa block", f.key, f.ecKey, "environment.appPrivateKeyFile", "not an RSA private key"},
		{"key too small", f.key, f.smallKey, "environment.appPrivateKeyFile", "1024 bits"},
		{"no app name", "appName: ExampleApp", "appName: \"\"", "appName", "required"},
		{"session key short", f.session, f.shortSession, "sessionKeyFile", "at least 32"},
		{"session key missing", f.session, missing, "sessionKeyFile", "does not exist"},
		{"skew too big", "appName: ExampleApp", "appName: ExampleApp\nclockSkew: 5m", "clockSkew", "more than the allowed"},
		{"skew negative", "appName: ExampleApp", "appName: ExampleApp\nclockSkew: -1s", "clockSkew", "negative"},
		{"rate zero rps", "appName: ExampleApp", "appName: ExampleApp\nrateLimits:\n  perTenant: {rps: -1, burst: 1}", "rateLimits.perTenant.rps", "more than 0"},
		{"rate zero burst", "appName: ExampleApp", "appName: ExampleApp\nrateLimits:\n  global: {rps: 100, burst: 0}", "rateLimits.global.burst", "at least 6"},
		{"rate burst below one artifact", "appName: ExampleApp", "appName: ExampleApp\nrateLimits:\n  perTenant: {rps: 2, burst: 5}", "rateLimits.perTenant.burst", "at least 6"},
		{"tenant above global", "appName: ExampleApp", "appName: ExampleApp\nrateLimits:\n  perTenant: {rps: 90, burst: 6}", "rateLimits.perTenant.rps", "more than rateLimits.global.rps"},
		{"webhook url bad", "appName: ExampleApp", "appName: ExampleApp\nwebhookBaseURL: ftp://x", "webhookBaseURL", "absolute http(s)"},
		{"no namespace", "namespace: tenant-operator-system", "namespace: \"\"", "callback.namespace", "required"},
		{"bad namespace", "namespace: tenant-operator-system", "namespace: Bad_NS", "callback.namespace", "not a valid namespace"},
		{"tls half", "namespace: tenant-operator-system", "namespace: tenant-operator-system\n  tlsCertFile: " + f.secret, "callback.tlsCertFile", "set together"},
		{"proxy not a cidr", "namespace: tenant-operator-system", "namespace: tenant-operator-system\n  trustedProxies: [10.244.0.0/16, 10.0.0.1]", "callback.trustedProxies[1]", `"10.0.0.1" is not a CIDR`},
		{"proxy trusts everyone", "namespace: tenant-operator-system", "namespace: tenant-operator-system\n  trustedProxies: [\"::/0\"]", "callback.trustedProxies[0]", "trusts every address"},
		{"tls file missing", "namespace: tenant-operator-system", "namespace: tenant-operator-system\n  tlsCertFile: " + missing + "\n  tlsKeyFile: " + f.secret, "callback.tlsCertFile", "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y := validYAML(f)
			if !strings.Contains(y, tc.from) {
				t.Fatalf("test bug: %q not in the valid config", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(y, tc.from, tc.to, 1)))
			var ps Problems
			if !errors.As(err, &ps) {
				t.Fatalf("want Problems, got %v", err)
			}
			for _, p := range ps {
				if p.Field == tc.wantField && strings.Contains(p.Message, tc.wantText) {
					return
				}
			}
			t.Errorf("no problem %s: ...%s...; got:\n%v", tc.wantField, tc.wantText, ps)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	f := writeFiles(t)
	y := fmt.Sprintf(`
environment:
  name: online
  clientSecretFile: %s
  redirectURL: https://apps.example.com/wrong
  appPrivateKeyFile: %s
sessionKeyFile: %s
clockSkew: 2m
callback: {}
`, filepath.Join(f.dir, "missing"), f.smallKey, f.shortSession)
	_, err := Parse([]byte(y))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	fields := map[string]bool{}
	for _, p := range ps {
		fields[p.Field] = true
	}
	for _, want := range []string{"environment.clientID", "environment.clientSecretFile", "environment.redirectURL",
		"environment.appPrivateKeyFile", "sessionKeyFile", "appName", "clockSkew", "callback.namespace"} {
		if !fields[want] {
			t.Errorf("problem for %s missing from:\n%v", want, err)
		}
	}
	if !strings.Contains(err.Error(), `environment.clientSecretFile: file "`) {
		t.Errorf("error text lacks the field path form: %v", err)
	}
}

func TestUnknownFieldFails(t *testing.T) {
	f := writeFiles(t)
	y := strings.Replace(validYAML(f), "appName:", "appNmae: typo\nappName:", 1)
	_, err := Parse([]byte(y))
	if err == nil || !strings.Contains(err.Error(), "appNmae") {
		t.Fatalf("typo not reported: %v", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml")); err == nil || !strings.Contains(err.Error(), "read config") {
		t.Fatalf("want read error, got %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	f := writeFiles(t)
	c, err := Parse([]byte(validYAML(f)))
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "config", c, "secret", c.ClientSecret)
	js, _ := json.Marshal(c)
	keyPEM, _ := os.ReadFile(f.key)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", *c),
		"%#v":  fmt.Sprintf("%#v", c),
		"slog": logBuf.String(),
		"json": string(js),
	}
	for name, out := range outputs {
		for _, secret := range []string{"s3cr3t-value-never-printed", strings.Repeat("k", 32), string(keyPEM[40:80])} {
			if strings.Contains(out, secret) {
				t.Errorf("%s output leaks a secret: %s", name, out)
			}
		}
	}
	if !strings.Contains(outputs["%v"], "[redacted]") {
		t.Errorf("String should say the secret is redacted: %s", outputs["%v"])
	}
}
