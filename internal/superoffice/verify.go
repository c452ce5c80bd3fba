// Package superoffice talks to SuperOffice: it verifies the OpenID Connect
// tokens SuperOffice signs (this file and keys.go, claims.go), and holds
// the system user exchange and the throttled REST client.
package superoffice

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors a verification can wrap; callers branch on them with errors.Is.
// Their text never includes the token.
var (
	// ErrInvalidToken: the token is not a well-formed, validly signed,
	// currently valid token from our environment for our app.
	ErrInvalidToken = errors.New("invalid token")
	// ErrClaims: the token verified but its claims are missing or malformed.
	ErrClaims = errors.New("token claims are missing or malformed")
	// ErrNonce: the token's nonce is not the one we sent.
	ErrNonce = errors.New("token nonce does not match")
	// ErrTenantMismatch: the token belongs to another tenant than claimed.
	ErrTenantMismatch = errors.New("token tenant does not match")
)

// MaxLeeway is the largest clock skew a Verifier accepts.
const MaxLeeway = 60 * time.Second

// MaxTokenBytes bounds the size of a token we are willing to parse.
const MaxTokenBytes = 16 << 10

// tenantPattern is a SuperOffice context identifier.
var tenantPattern = regexp.MustCompile(`^[Cc]ust[0-9]{1,12}$`)

// ValidTenantID reports whether s looks like a SuperOffice context identifier.
func ValidTenantID(s string) bool { return tenantPattern.MatchString(s) }

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	// Issuers accepted (SuperOffice's login host, e.g. https://online.superoffice.com).
	Issuers []string
	// ClientID is the required audience.
	ClientID string
	// Leeway for exp/nbf/iat; at most MaxLeeway.
	Leeway time.Duration
	// AllowHTTPURLs accepts http:// tenant URLs in claims (custom development
	// environments only).
	AllowHTTPURLs bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Verifier checks SuperOffice id_tokens and state-change tokens.
type Verifier struct {
	opts VerifierOptions
	keys *KeySet
}

// NewVerifier returns a Verifier that takes keys from ks.
func NewVerifier(ks *KeySet, o VerifierOptions) (*Verifier, error) {
	if ks == nil {
		return nil, errors.New("verifier: no key set")
	}
	if len(o.Issuers) == 0 || slices.Contains(o.Issuers, "") {
		return nil, errors.New("verifier: no issuer")
	}
	if o.ClientID == "" {
		return nil, errors.New("verifier: no client id")
	}
	if o.Leeway < 0 || o.Leeway > MaxLeeway {
		return nil, fmt.Errorf("verifier: leeway %s is outside 0..%s", o.Leeway, MaxLeeway)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{opts: o, keys: ks}, nil
}

// Keyfunc is the key lookup of this environment, for other SuperOffice JWTs
// (e.g. the system user token) that are signed with the same keys.
func (v *Verifier) Keyfunc() jwt.Keyfunc { return v.keys.Keyfunc() }

func (v *Verifier) parserOptions() []jwt.ParserOption {
	return []jwt.ParserOption{
		// RS256 only: rejects alg "none" and the HS256-with-public-key trick
		// before a key is even looked up.
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(v.opts.Now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	}
}

// VerifyIDToken verifies an id_token and returns its claims. When nonce is
// not empty the token must carry exactly that nonce (implicit / form_post
// flow; in the code flow the nonce is checked too when we sent one).
func (v *Verifier) VerifyIDToken(ctx context.Context, raw, nonce string) (*Claims, error) {
	if raw == "" || len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or larger than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	var tc tokenClaims
	opts := append(v.parserOptions(), jwt.WithAudience(v.opts.ClientID))
	if _, err := jwt.ParseWithClaims(raw, &tc, v.keys.KeyfuncCtx(ctx), opts...); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, describe(err))
	}
	if !slices.Contains(v.opts.Issuers, tc.Issuer) {
		return nil, fmt.Errorf("%w: issuer %q is not this environment's", ErrInvalidToken, tc.Issuer)
	}
	c, err := tc.toClaims()
	if err != nil {
		return nil, err
	}
	var problems []string
	if c.Subject == "" {
		problems = append(problems, "sub is missing")
	}
	if c.TenantID == "" {
		problems = append(problems, "ctx is missing")
	} else if !ValidTenantID(c.TenantID) {
		problems = append(problems, "ctx is not a SuperOffice context identifier")
	}
	if err := v.checkURL(c.WebAPIURL, true); err != nil {
		problems = append(problems, "webapi_url "+err.Error())
	}
	if err := v.checkURL(c.NetServerURL, false); err != nil {
		problems = append(problems, "netserver_url "+err.Error())
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrClaims, strings.Join(problems, "; "))
	}
	if nonce != "" && c.Nonce != nonce {
		return nil, ErrNonce
	}
	return c, nil
}

func (v *Verifier) checkURL(raw string, required bool) error {
	if raw == "" {
		if required {
			return errors.New("is missing")
		}
		return nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "https" && !(v.opts.AllowHTTPURLs && u.Scheme == "http"):
		return errors.New("is not an https URL")
	case u.Host == "" || u.User != nil:
		return errors.New("has no host or carries credentials")
	}
	return nil
}

// StateChangeClaims is what is known of a state-change token: its claims
// are not documented, so they are kept raw apart from issuer and tenant.
type StateChangeClaims struct {
	Issuer string
	// TenantID is the tenant named in the token, when it names one.
	TenantID string
	Raw      map[string]any
}

// VerifyStateChangeToken verifies the Token of a tenant state-change
// notification: RS256 signature from the environment's keys, issuer, and
// exp/nbf when present. Its claims are undocumented; when it carries a
// tenant claim, that must equal contextIdentifier.
func (v *Verifier) VerifyStateChangeToken(ctx context.Context, raw, contextIdentifier string) (*StateChangeClaims, error) {
	if raw == "" || len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: empty or larger than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	mc := jwt.MapClaims{}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithLeeway(v.opts.Leeway),
		jwt.WithTimeFunc(v.opts.Now),
	}
	if _, err := jwt.ParseWithClaims(raw, mc, v.keys.KeyfuncCtx(ctx), opts...); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, describe(err))
	}
	iss, _ := mc["iss"].(string)
	if !slices.Contains(v.opts.Issuers, iss) {
		return nil, fmt.Errorf("%w: issuer %q is not this environment's", ErrInvalidToken, iss)
	}
	out := &StateChangeClaims{Issuer: iss, Raw: mc}
	for _, name := range []string{ClaimCtx, "ctx", "ContextIdentifier", "contextIdentifier", "tenant"} {
		if s, ok := mc[name].(string); ok && s != "" {
			out.TenantID = s
			break
		}
	}
	if out.TenantID != "" && !strings.EqualFold(out.TenantID, contextIdentifier) {
		return nil, ErrTenantMismatch
	}
	return out, nil
}

// describe turns a jwt error into words without echoing token material.
func describe(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "signature or algorithm not accepted"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "no key to verify it (unknown key id or key set unavailable)"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim (exp) is missing"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "audience is not this app's client id"
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return "claims invalid"
	default:
		return "not accepted"
	}
}
