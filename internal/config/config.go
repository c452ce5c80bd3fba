// Package config loads, defaults and validates the operator's configuration:
// one YAML file per instance that names the SuperOffice environment it serves.
// Secret values never appear in the file itself, only paths to files holding
// them (mounted from Secrets), and they are never printed.
package config

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// Built-in environment names.
const (
	EnvSOD    = "sod"
	EnvStage  = "stage"
	EnvOnline = "online"
)

// CallbackPath is the route the callback server answers the OAuth redirect
// on; the configured redirect URL must point at it.
const CallbackPath = "/callback"

// MaxClockSkew is the largest leeway allowed for token time checks.
const MaxClockSkew = 60 * time.Second

// MinRSABits is the smallest accepted app key size.
const MinRSABits = 2048

// MinSessionKeyBytes is the smallest accepted session (HMAC) key.
const MinSessionKeyBytes = 32

// knownLoginHosts are SuperOffice's login hosts per built-in environment; the
// first is the default. Stage is published under two names, both accepted.
var knownLoginHosts = map[string][]string{
	EnvSOD:    {"https://sod.superoffice.com"},
	EnvStage:  {"https://qaonline.superoffice.com", "https://stage.superoffice.com"},
	EnvOnline: {"https://online.superoffice.com"},
}

var envNamePattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// Config is the whole operator configuration.
type Config struct {
	// Environment is the SuperOffice environment this instance serves.
	Environment Environment `json:"environment"`
	// AppName is the app's name as registered with SuperOffice; it is shown
	// on pages and appended to web panel descriptions.
	AppName string `json:"appName"`
	// SessionKeyFile holds the key (at least 32 bytes) that signs state and
	// session cookies. Every replica must mount the same key.
	SessionKeyFile string `json:"sessionKeyFile"`
	// ClockSkew is the leeway for token time checks (at most 60s).
	ClockSkew metav1.Duration `json:"clockSkew,omitempty"`
	// RateLimits bound the requests made to SuperOffice.
	RateLimits RateLimits `json:"rateLimits,omitempty"`
	// WebhookBaseURL is where SuperOffice delivers webhooks for this instance,
	// e.g. https://apps.example.com (the operator appends /webhooks/superoffice).
	WebhookBaseURL string `json:"webhookBaseURL,omitempty"`
	// Callback configures the install callback server.
	Callback Callback `json:"callback"`

	// Loaded secret material; filled by Load, never serialised or printed.
	ClientSecret  Secret          `json:"-"`
	SessionKey    Secret          `json:"-"`
	AppPrivateKey *rsa.PrivateKey `json:"-"`
}

// Environment describes one SuperOffice environment and our app's
// registration in it.
type Environment struct {
	// Name is sod, stage, online, or a custom name (lowercase, for the
	// simulator and development) that must give its URLs explicitly.
	Name string `json:"name"`
	// LoginHost overrides the environment's login host, e.g.
	// https://stage.superoffice.com. The URLs below derive from it.
	LoginHost string `json:"loginHost,omitempty"`
	// Explicit endpoint URLs; each defaults from LoginHost.
	Issuer          string `json:"issuer,omitempty"`
	AuthorizeURL    string `json:"authorizeURL,omitempty"`
	TokenURL        string `json:"tokenURL,omitempty"`
	JWKSURL         string `json:"jwksURL,omitempty"`
	SystemUserURL   string `json:"systemUserURL,omitempty"`
	StateAPIBaseURL string `json:"stateAPIBaseURL,omitempty"`
	// ClientID of the app registration in this environment.
	ClientID string `json:"clientID"`
	// ClientSecretFile holds the client secret (also the SO-AppToken).
	ClientSecretFile string `json:"clientSecretFile"`
	// RedirectURL is registered with SuperOffice and must end in /callback.
	RedirectURL string `json:"redirectURL"`
	// AppPrivateKeyFile holds the app's RSA private key (PEM, >= 2048 bits)
	// that signs system user tokens.
	AppPrivateKeyFile string `json:"appPrivateKeyFile"`
}

// RateLimits bound requests to SuperOffice.
type RateLimits struct {
	PerTenant Rate `json:"perTenant,omitempty"`
	Global    Rate `json:"global,omitempty"`
}

// Rate is a token bucket: RPS requests per second on average, Burst at once.
type Rate struct {
	RPS   float64 `json:"rps,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// Callback configures the callback server.
type Callback struct {
	// Namespace is where TenantInstallations and their credential Secrets are created.
	Namespace string `json:"namespace"`
	// TLSCertFile and TLSKeyFile, when both set, make the server speak TLS 1.2+.
	TLSCertFile string `json:"tlsCertFile,omitempty"`
	TLSKeyFile  string `json:"tlsKeyFile,omitempty"`
	// TrustedProxies are the CIDRs of the reverse proxies in front of the
	// server, e.g. the ingress controller's pod network. For requests from
	// them the client is read from X-Forwarded-For, so each real client gets
	// its own rate-limit bucket; from anywhere else the header is ignored, so
	// no client can choose its own bucket.
	TrustedProxies []string `json:"trustedProxies,omitempty"`
}

// TrustedProxyPrefixes returns TrustedProxies parsed; Load has validated them.
func (c Callback) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(c.TrustedProxies))
	for _, s := range c.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// Defaults applied by Load.
var (
	DefaultClockSkew = 30 * time.Second
	DefaultPerTenant = Rate{RPS: 5, Burst: 10}
	DefaultGlobal    = Rate{RPS: 50, Burst: 100}
)

// Problem is one thing wrong with a configuration, with the field path.
type Problem struct {
	Field   string
	Message string
}

func (p Problem) String() string { return p.Field + ": " + p.Message }

// Problems is every problem found in a configuration; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, 0, len(ps))
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return fmt.Sprintf("%d configuration problem(s):\n  %s", len(ps), strings.Join(lines, "\n  "))
}

// Load reads, defaults and validates the configuration at path and loads the
// secret files it names. The error, when not nil, lists every problem found
// (a Problems value, or a read/parse error).
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw)
}

// Parse is Load for bytes already read.
func Parse(raw []byte) (*Config, error) {
	var c Config
	// Strict: an unknown field is a typo, and a typo must fail fast.
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ApplyDefaults fills every unset field that has a default.
func (c *Config) ApplyDefaults() {
	if c.ClockSkew.Duration == 0 {
		c.ClockSkew.Duration = DefaultClockSkew
	}
	if c.RateLimits.PerTenant == (Rate{}) {
		c.RateLimits.PerTenant = DefaultPerTenant
	}
	if c.RateLimits.Global == (Rate{}) {
		c.RateLimits.Global = DefaultGlobal
	}
	e := &c.Environment
	if e.LoginHost == "" {
		if hosts, ok := knownLoginHosts[e.Name]; ok {
			e.LoginHost = hosts[0]
		}
	}
	if e.LoginHost == "" {
		return
	}
	host := strings.TrimRight(e.LoginHost, "/")
	setDefault(&e.Issuer, host)
	setDefault(&e.AuthorizeURL, host+"/login/common/oauth/authorize")
	setDefault(&e.TokenURL, host+"/login/common/oauth/tokens")
	setDefault(&e.JWKSURL, host+"/login/.well-known/jwks")
	setDefault(&e.SystemUserURL, host+"/Login/api/PartnerSystemUser/Authenticate")
	setDefault(&e.StateAPIBaseURL, host+"/api/state/")
}

func setDefault(field *string, v string) {
	if *field == "" {
		*field = v
	}
}

// IsBuiltin reports whether the environment is one of SuperOffice's own.
func (e Environment) IsBuiltin() bool {
	_, ok := knownLoginHosts[e.Name]
	return ok
}

// Issuers are the token issuers accepted for this environment: the
// configured one, plus for stage both of its published host names.
func (e Environment) Issuers() []string {
	out := []string{e.Issuer}
	if e.Name == EnvStage && e.LoginHost != "" && e.Issuer == strings.TrimRight(e.LoginHost, "/") {
		for _, h := range knownLoginHosts[EnvStage] {
			if h != e.Issuer {
				out = append(out, h)
			}
		}
	}
	return out
}

// Validate checks every field and returns all problems at once (as
// Problems), or nil. On success it loads the secret files into the config.
func (c *Config) Validate() error {
	var ps Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	e := c.Environment
	builtin := e.IsBuiltin()

	switch {
	case e.Name == "":
		add("environment.name", "required: one of sod, stage, online, or a custom lowercase name")
	case !envNamePattern.MatchString(e.Name):
		add("environment.name", "%q is not a valid name: lowercase letters and digits, starting with a letter, at most 16", e.Name)
	}
	if builtin && e.LoginHost != "" {
		ok := false
		for _, h := range knownLoginHosts[e.Name] {
			if strings.TrimRight(e.LoginHost, "/") == h {
				ok = true
			}
		}
		if !ok {
			add("environment.loginHost", "%q is not a login host of %s (expected one of %s)", e.LoginHost, e.Name, strings.Join(knownLoginHosts[e.Name], ", "))
		}
	}
	if !builtin && e.Name != "" && e.LoginHost != "" {
		checkURL(add, "environment.loginHost", e.LoginHost, builtin)
	}
	urls := []struct{ field, v string }{
		{"environment.issuer", e.Issuer},
		{"environment.authorizeURL", e.AuthorizeURL},
		{"environment.tokenURL", e.TokenURL},
		{"environment.jwksURL", e.JWKSURL},
		{"environment.systemUserURL", e.SystemUserURL},
		{"environment.stateAPIBaseURL", e.StateAPIBaseURL},
	}
	for _, u := range urls {
		if u.v == "" {
			if e.Name == "" {
				continue // the missing name is the problem to report
			}
			add(u.field, "required for the custom environment %q (or set environment.loginHost)", e.Name)
			continue
		}
		checkURL(add, u.field, u.v, builtin)
	}
	if e.ClientID == "" {
		add("environment.clientID", "required: the app's client id in this environment")
	}
	if e.RedirectURL == "" {
		add("environment.redirectURL", "required: the redirect URL registered with SuperOffice, ending in %s", CallbackPath)
	} else if u := checkURL(add, "environment.redirectURL", e.RedirectURL, builtin); u != nil {
		if u.Path != CallbackPath {
			add("environment.redirectURL", "path is %q but the callback server answers on %q", u.Path, CallbackPath)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			add("environment.redirectURL", "must not carry a query or fragment")
		}
	}
	secret := readSecretFile(add, "environment.clientSecretFile", e.ClientSecretFile, 1)
	key := readRSAKey(add, "environment.appPrivateKeyFile", e.AppPrivateKeyFile)
	session := readSecretFile(add, "sessionKeyFile", c.SessionKeyFile, MinSessionKeyBytes)

	if c.AppName == "" {
		add("appName", "required: the app's name as registered with SuperOffice")
	} else if len(c.AppName) > 64 {
		add("appName", "at most 64 characters")
	}
	switch d := c.ClockSkew.Duration; {
	case d < 0:
		add("clockSkew", "must not be negative")
	case d > MaxClockSkew:
		add("clockSkew", "%s is more than the allowed %s", d, MaxClockSkew)
	}
	checkRate(add, "rateLimits.perTenant", c.RateLimits.PerTenant)
	checkRate(add, "rateLimits.global", c.RateLimits.Global)
	if c.RateLimits.PerTenant.RPS > c.RateLimits.Global.RPS && c.RateLimits.Global.RPS > 0 {
		add("rateLimits.perTenant.rps", "%g is more than rateLimits.global.rps %g", c.RateLimits.PerTenant.RPS, c.RateLimits.Global.RPS)
	}
	if c.WebhookBaseURL != "" {
		if u := checkURL(add, "webhookBaseURL", c.WebhookBaseURL, builtin); u != nil && (u.RawQuery != "" || u.Fragment != "") {
			add("webhookBaseURL", "must not carry a query or fragment")
		}
	}
	if c.Callback.Namespace == "" {
		add("callback.namespace", "required: the namespace TenantInstallations are created in")
	} else if !dnsLabel.MatchString(c.Callback.Namespace) {
		add("callback.namespace", "%q is not a valid namespace name", c.Callback.Namespace)
	}
	if (c.Callback.TLSCertFile == "") != (c.Callback.TLSKeyFile == "") {
		add("callback.tlsCertFile", "tlsCertFile and tlsKeyFile must be set together")
	}
	if c.Callback.TLSCertFile != "" {
		fileExists(add, "callback.tlsCertFile", c.Callback.TLSCertFile)
	}
	if c.Callback.TLSKeyFile != "" {
		fileExists(add, "callback.tlsKeyFile", c.Callback.TLSKeyFile)
	}
	for i, cidr := range c.Callback.TrustedProxies {
		f := fmt.Sprintf("callback.trustedProxies[%d]", i)
		p, err := netip.ParsePrefix(cidr)
		switch {
		case err != nil:
			add(f, "%q is not a CIDR (e.g. 10.244.0.0/16 or fd00::/64)", cidr)
		case p.Bits() == 0:
			add(f, "%q trusts every address, which would let any client choose its own rate-limit bucket", cidr)
		}
	}
	if len(ps) > 0 {
		return ps
	}
	c.ClientSecret = Secret{b: secret}
	c.SessionKey = Secret{b: session}
	c.AppPrivateKey = key
	return nil
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

type addFunc func(field, format string, args ...any)

func checkURL(add addFunc, field, raw string, requireHTTPS bool) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		add(field, "%q is not a URL", raw)
		return nil
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		add(field, "%q must be an absolute http(s) URL", raw)
		return nil
	}
	if u.Host == "" {
		add(field, "%q has no host", raw)
		return nil
	}
	if u.User != nil {
		add(field, "must not carry credentials")
		return nil
	}
	if requireHTTPS && u.Scheme != "https" {
		add(field, "%q must use https outside a custom development environment", raw)
		return nil
	}
	return u
}

func checkRate(add addFunc, field string, r Rate) {
	if r.RPS <= 0 {
		add(field+".rps", "must be more than 0")
	}
	if r.Burst < superoffice.MinBurst {
		add(field+".burst", "must be at least %d: one artifact needs that many requests in a row, and a smaller burst would never let it finish", superoffice.MinBurst)
	}
}

func fileExists(add addFunc, field, path string) bool {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		add(field, "file %q does not exist", path)
		return false
	case err != nil:
		add(field, "file %q cannot be read: %v", path, errors.Unwrap(err))
		return false
	case st.IsDir():
		add(field, "%q is a directory, not a file", path)
		return false
	}
	return true
}

// readSecretFile reads a secret, trimming a trailing newline (as editors and
// `kubectl create secret --from-file` leave). The value is never reported.
func readSecretFile(add addFunc, field, path string, minLen int) []byte {
	if path == "" {
		add(field, "required: path of a file holding the secret")
		return nil
	}
	if !fileExists(add, field, path) {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		add(field, "file %q cannot be read", path)
		return nil
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < minLen {
		if minLen <= 1 {
			add(field, "file %q is empty", path)
		} else {
			add(field, "file %q holds %d bytes; at least %d are needed", path, len(b), minLen)
		}
		return nil
	}
	return b
}

func readRSAKey(add addFunc, field, path string) *rsa.PrivateKey {
	if path == "" {
		add(field, "required: path of the app's RSA private key (PEM)")
		return nil
	}
	if !fileExists(add, field, path) {
		return nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		add(field, "file %q cannot be read", path)
		return nil
	}
	key, err := ParseRSAPrivateKey(raw)
	if err != nil {
		add(field, "file %q: %v", path, err)
		return nil
	}
	if key.N.BitLen() < MinRSABits {
		add(field, "file %q: RSA key has %d bits; at least %d are needed", path, key.N.BitLen(), MinRSABits)
		return nil
	}
	return key
}

// ParseRSAPrivateKey reads a PEM "RSA PRIVATE KEY" (PKCS#1) or "PRIVATE KEY"
// (PKCS#8) block holding an RSA key.
func ParseRSAPrivateKey(raw []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PKCS#1 RSA key does not parse")
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("PKCS#8 key does not parse")
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key is %T, not RSA", k)
		}
		return rk, nil
	default:
		return nil, fmt.Errorf("PEM block is %q, not an RSA private key", block.Type)
	}
}

// String prints the configuration without secret values.
func (c *Config) String() string {
	if c == nil {
		return "<nil>"
	}
	e := c.Environment
	return fmt.Sprintf("environment=%s loginHost=%s issuer=%s clientID=%s redirectURL=%s clientSecret=%s appPrivateKey=%s sessionKey=%s appName=%q clockSkew=%s namespace=%s tls=%t trustedProxies=%v",
		e.Name, e.LoginHost, e.Issuer, e.ClientID, e.RedirectURL, c.ClientSecret, redactedKey(c.AppPrivateKey), c.SessionKey,
		c.AppName, c.ClockSkew.Duration, c.Callback.Namespace, c.Callback.TLSCertFile != "", c.Callback.TrustedProxies)
}

// GoString keeps %#v from printing secret fields.
func (c *Config) GoString() string { return "config.Config{" + c.String() + "}" }

// LogValue gives slog the configuration without secret values.
func (c *Config) LogValue() slog.Value {
	e := c.Environment
	return slog.GroupValue(
		slog.String("environment", e.Name),
		slog.String("issuer", e.Issuer),
		slog.String("clientID", e.ClientID),
		slog.String("redirectURL", e.RedirectURL),
		slog.String("clientSecret", c.ClientSecret.String()),
		slog.String("appName", c.AppName),
		slog.Duration("clockSkew", c.ClockSkew.Duration),
		slog.String("namespace", c.Callback.Namespace),
		slog.Any("trustedProxies", c.Callback.TrustedProxies),
	)
}

// TLSEnabled reports whether the callback server serves TLS.
func (c *Config) TLSEnabled() bool {
	return c.Callback.TLSCertFile != "" && c.Callback.TLSKeyFile != ""
}

func redactedKey(k *rsa.PrivateKey) string {
	if k == nil {
		return "<unset>"
	}
	return fmt.Sprintf("[redacted RSA-%d]", k.N.BitLen())
}

// Secret holds a secret value read from a file. Every way of printing,
// logging or serialising it gives "[redacted]".
type Secret struct{ b []byte }

// NewSecret wraps a value (tests and callers that build a Config in code).
func NewSecret(v []byte) Secret { return Secret{b: append([]byte(nil), v...)} }

// Bytes returns the secret value; use it only where the value is needed.
func (s Secret) Bytes() []byte { return s.b }

// Value returns the secret as a string; use it only where the value is needed.
func (s Secret) Value() string { return string(s.b) }

// IsSet reports whether a value is present.
func (s Secret) IsSet() bool { return len(s.b) > 0 }

func (s Secret) String() string {
	if len(s.b) == 0 {
		return "<unset>"
	}
	return "[redacted]"
}

// GoString redacts %#v too.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts the secret in JSON output (zap/logr use it).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }
