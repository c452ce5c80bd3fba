package superoffice

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// SystemUserIssuer is the issuer of the JWT the PartnerSystemUser exchange returns.
	SystemUserIssuer = "SuperOffice AS"
	// SystemUserTicketClaim holds the SOTicket in that JWT.
	SystemUserTicketClaim = "http://schemes.superoffice.net/identity/ticket"
	// SystemUserAuthenticatePath is the exchange path relative to the environment's login host.
	SystemUserAuthenticatePath = "/Login/api/PartnerSystemUser/Authenticate"
	// systemTokenTimeLayout is yyyyMMddHHmm, in UTC.
	systemTokenTimeLayout = "200601021504"
)

// SignSystemToken signs a tenant's system_token as SuperOffice requires:
// payload = token + "." + UTC yyyyMMddHHmm; result = payload + "." +
// base64(RSA-SHA256 PKCS#1 v1.5 signature of payload).
func SignSystemToken(systemToken string, key *rsa.PrivateKey, now time.Time) (string, error) {
	if systemToken == "" {
		return "", errors.New("sign system token: the system token is empty")
	}
	if key == nil {
		return "", errors.New("sign system token: no application private key configured")
	}
	payload := systemToken + "." + now.UTC().Format(systemTokenTimeLayout)
	sum := sha256.Sum256([]byte(payload))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign system token: %w", err)
	}
	return payload + "." + base64.StdEncoding.EncodeToString(sig), nil
}

// SystemUserOptions configure the system-user exchange for one environment.
type SystemUserOptions struct {
	// Environment names the environment in metrics.
	Environment string
	// AuthenticateURL is the environment's PartnerSystemUser endpoint, e.g.
	// https://online.superoffice.com/Login/api/PartnerSystemUser/Authenticate.
	AuthenticateURL string
	// ApplicationToken is the app's client secret in this environment.
	ApplicationToken string
	// PrivateKey is the app's RSA key that signs system tokens.
	PrivateKey *rsa.PrivateKey
	// Keyfunc gives the environment's public keys for the returned JWT.
	Keyfunc jwt.Keyfunc
	// TicketTTL is how long a ticket is reused; 6h when zero. A 401 drops it earlier.
	TicketTTL time.Duration
	// HTTPClient makes the exchange; one with Timeout when nil.
	HTTPClient *http.Client
	// Timeout of one exchange; 15s when zero.
	Timeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// SystemUserCredentials identify one tenant's system user.
type SystemUserCredentials struct {
	// TenantID is the context identifier, e.g. Cust12345.
	TenantID string
	// SystemToken is the tenant's system_token claim. Secret.
	SystemToken string
	// Serial, when known, pins the JWT audience to spn:{serial}; otherwise any spn: audience is accepted.
	Serial string
}

// SystemUser exchanges signed system tokens for tickets and caches them per tenant.
type SystemUser struct {
	opts SystemUserOptions

	mu    sync.Mutex
	cache map[string]*ticketEntry
}

type ticketEntry struct {
	mu sync.Mutex // serialises exchanges for one tenant
	// tokenSum identifies the system token the ticket came from, so a new
	// consent (new token) gets a new ticket; the token itself is not kept.
	tokenSum [32]byte
	ticket   string
	expires  time.Time
}

// NewSystemUser validates opts and returns a SystemUser.
func NewSystemUser(opts SystemUserOptions) (*SystemUser, error) {
	var problems []string
	if opts.AuthenticateURL == "" {
		problems = append(problems, "AuthenticateURL is empty")
	}
	if opts.ApplicationToken == "" {
		problems = append(problems, "ApplicationToken (client secret) is empty")
	}
	if opts.PrivateKey == nil {
		problems = append(problems, "PrivateKey is missing")
	}
	if opts.Keyfunc == nil {
		problems = append(problems, "Keyfunc is missing")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("system user options: %s", strings.Join(problems, "; "))
	}
	if opts.TicketTTL <= 0 {
		opts.TicketTTL = 6 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: opts.Timeout}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &SystemUser{opts: opts, cache: map[string]*ticketEntry{}}, nil
}

func (s *SystemUser) entry(tenantID string) *ticketEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[tenantID]
	if !ok {
		e = &ticketEntry{}
		s.cache[tenantID] = e
	}
	return e
}

// Invalidate drops the cached ticket of a tenant (after a 401).
func (s *SystemUser) Invalidate(tenantID string) {
	e := s.entry(tenantID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ticket = ""
}

// Ticket returns a cached ticket for the tenant or exchanges the system
// token for a new one. The exchange is metered on m (may be nil).
func (s *SystemUser) Ticket(ctx context.Context, cred SystemUserCredentials, m *Meter) (string, error) {
	if cred.TenantID == "" {
		return "", errors.New("system user: tenant id is empty")
	}
	if cred.SystemToken == "" {
		return "", &CredentialsError{Reason: "the tenant has no system user token; an administrator must consent to server access"}
	}
	sum := sha256.Sum256([]byte(cred.SystemToken))
	e := s.entry(cred.TenantID)
	e.mu.Lock()
	defer e.mu.Unlock()
	now := s.opts.Now()
	if e.ticket != "" && e.tokenSum == sum && now.Before(e.expires) {
		return e.ticket, nil
	}
	ticket, err := s.exchange(ctx, cred, m)
	if err != nil {
		e.ticket = ""
		return "", err
	}
	e.ticket, e.tokenSum, e.expires = ticket, sum, now.Add(s.opts.TicketTTL)
	return ticket, nil
}

type systemUserRequest struct {
	SignedSystemToken string `json:"SignedSystemToken"`
	ApplicationToken  string `json:"ApplicationToken"`
	ContextIdentifier string `json:"ContextIdentifier"`
	ReturnTokenType   string `json:"ReturnTokenType"`
}

type systemUserResponse struct {
	IsSuccessful bool   `json:"IsSuccessful"`
	Token        string `json:"Token"`
	ErrorMessage string `json:"ErrorMessage"`
}

func (s *SystemUser) exchange(ctx context.Context, cred SystemUserCredentials, m *Meter) (string, error) {
	signed, err := SignSystemToken(cred.SystemToken, s.opts.PrivateKey, s.opts.Now())
	if err != nil {
		return "", err
	}
	body, err := json.Marshal(systemUserRequest{
		SignedSystemToken: signed,
		ApplicationToken:  s.opts.ApplicationToken,
		ContextIdentifier: cred.TenantID,
		ReturnTokenType:   "JWT",
	})
	if err != nil {
		return "", fmt.Errorf("system user: encode request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.AuthenticateURL, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("system user: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if m == nil {
		m = &Meter{Environment: s.opts.Environment}
	}
	start := s.opts.Now()
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		m.request(OpSystemUser, 0, int64(len(body)), time.Since(start).Seconds(), start)
		return "", fmt.Errorf("system user exchange for %s: %w", cred.TenantID, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	m.request(OpSystemUser, resp.StatusCode, int64(len(body)+len(raw)), time.Since(start).Seconds(), start)
	if err != nil {
		return "", fmt.Errorf("system user exchange for %s: read answer: %w", cred.TenantID, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
		d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), s.opts.Now())
		if !ok {
			d = defaultRetryAfter
		}
		m.throttled(OpSystemUser, true)
		return "", &ThrottledError{RetryAfter: d, Reason: fmt.Sprintf("SuperOffice answered %d to the system user exchange", resp.StatusCode)}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", &CredentialsError{Reason: fmt.Sprintf("SuperOffice refused the system user of tenant %s (HTTP %d)", cred.TenantID, resp.StatusCode)}
	case resp.StatusCode >= 300:
		return "", &APIError{Operation: OpSystemUser, Method: http.MethodPost, Path: SystemUserAuthenticatePath, StatusCode: resp.StatusCode, Message: redact(snippet(raw), cred.SystemToken, signed, s.opts.ApplicationToken)}
	}
	var out systemUserResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", fmt.Errorf("system user exchange for %s: answer is not the expected JSON: %w", cred.TenantID, err)
	}
	if !out.IsSuccessful || out.Token == "" {
		reason := redact(out.ErrorMessage, cred.SystemToken, signed, s.opts.ApplicationToken)
		if reason == "" {
			reason = "no reason given"
		}
		return "", &CredentialsError{Reason: fmt.Sprintf("SuperOffice refused the system user of tenant %s: %s", cred.TenantID, reason)}
	}
	ticket, err := s.verify(out.Token, cred)
	if err != nil {
		return "", fmt.Errorf("system user exchange for %s: %w", cred.TenantID, err)
	}
	return ticket, nil
}

// verify checks the returned JWT and extracts the ticket claim.
func (s *SystemUser) verify(token string, cred SystemUserCredentials) (string, error) {
	popts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(SystemUserIssuer),
		jwt.WithLeeway(time.Minute),
		jwt.WithTimeFunc(s.opts.Now),
	}
	if cred.Serial != "" {
		popts = append(popts, jwt.WithAudience("spn:"+cred.Serial))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(popts...).ParseWithClaims(token, claims, s.opts.Keyfunc); err != nil {
		// jwt's messages describe the check that failed, never the token.
		return "", fmt.Errorf("system user JWT rejected: %w", err)
	}
	aud, err := claims.GetAudience()
	if err != nil {
		return "", fmt.Errorf("system user JWT rejected: audience: %w", err)
	}
	spn := false
	for _, a := range aud {
		if strings.HasPrefix(a, "spn:") {
			spn = true
		}
	}
	if !spn {
		return "", errors.New("system user JWT rejected: audience is not spn:{serial}")
	}
	ticket, _ := claims[SystemUserTicketClaim].(string)
	if ticket == "" {
		return "", errors.New("system user JWT rejected: no ticket claim")
	}
	return ticket, nil
}

// redact removes secrets a server might echo back, and bounds the length.
func redact(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// snippet is the start of a response body, for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
