package superoffice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ClaimPrefix is the namespace of SuperOffice's custom identity claims.
const ClaimPrefix = "http://schemes.superoffice.net/identity/"

// Custom claim names as they appear in SuperOffice tokens.
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

// Claims are the verified claims of a SuperOffice id_token, typed.
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	IssuedAt  time.Time
	NotBefore time.Time
	ExpiresAt time.Time
	Nonce     string

	// TenantID is the context identifier, e.g. Cust12345.
	TenantID     string
	WebAPIURL    string
	NetServerURL string
	// SystemToken is present only when the app has server-to-server access
	// and an administrator consented. It never prints.
	SystemToken     SecretString
	AssociateID     int64
	Email           string
	UPN             string
	IsAdministrator bool
	CompanyName     string
	Serial          string
}

// SecretString is a token value that never appears in output: every way of
// printing, logging or serialising it gives "[redacted]".
type SecretString string

// Reveal returns the value; call it only where the value is needed.
func (s SecretString) Reveal() string { return string(s) }

func (s SecretString) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString redacts %#v.
func (s SecretString) GoString() string { return strconv.Quote(s.String()) }

// LogValue redacts slog output.
func (s SecretString) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON redacts JSON output (zap and logr marshal values as JSON).
func (s SecretString) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// tokenClaims is the wire form of an id_token's claims. SuperOffice's own
// documentation shows iat as a string, so every time claim accepts a number
// or a numeric string, and a few custom claims accept a string or a scalar.
type tokenClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *flexDate        `json:"exp"`
	NotBefore *flexDate        `json:"nbf"`
	IssuedAt  *flexDate        `json:"iat"`
	Nonce     string           `json:"nonce"`

	Ctx             flexString `json:"http://schemes.superoffice.net/identity/ctx"`
	NetServerURL    flexString `json:"http://schemes.superoffice.net/identity/netserver_url"`
	WebAPIURL       flexString `json:"http://schemes.superoffice.net/identity/webapi_url"`
	SystemToken     flexString `json:"http://schemes.superoffice.net/identity/system_token"`
	AssociateID     flexString `json:"http://schemes.superoffice.net/identity/associateid"`
	Email           flexString `json:"http://schemes.superoffice.net/identity/email"`
	UPN             flexString `json:"http://schemes.superoffice.net/identity/upn"`
	IsAdministrator flexString `json:"http://schemes.superoffice.net/identity/is_administrator"`
	CompanyName     flexString `json:"http://schemes.superoffice.net/identity/company_name"`
	Serial          flexString `json:"http://schemes.superoffice.net/identity/serial"`
}

var _ jwt.Claims = (*tokenClaims)(nil)

func (c *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return c.ExpiresAt.numeric(), nil
}
func (c *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) { return c.NotBefore.numeric(), nil }
func (c *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error)  { return c.IssuedAt.numeric(), nil }
func (c *tokenClaims) GetIssuer() (string, error)              { return c.Issuer, nil }
func (c *tokenClaims) GetSubject() (string, error)             { return c.Subject, nil }
func (c *tokenClaims) GetAudience() (jwt.ClaimStrings, error)  { return c.Audience, nil }

// flexDate is a NumericDate that also accepts a numeric string.
type flexDate struct{ t time.Time }

func (d *flexDate) numeric() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return jwt.NewNumericDate(d.t)
}

func (d *flexDate) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return errors.New("time claim is not a string or number")
		}
		s = strings.TrimSpace(s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1e11 {
		return errors.New("time claim is not a number of seconds since the epoch")
	}
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// flexString accepts a JSON string, number or boolean as text, because
// SuperOffice sends associateid and is_administrator as strings but
// a future or older issuer may send scalars.
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return errors.New("empty claim")
	}
	switch b[0] {
	case '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	case 'n':
		*s = ""
	case 't', 'f':
		var v bool
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(strconv.FormatBool(v))
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return errors.New("claim is not a string, number or boolean")
		}
		*s = flexString(n.String())
	}
	return nil
}

// toClaims maps the wire form onto Claims; it reports malformed custom claims.
func (c *tokenClaims) toClaims() (*Claims, error) {
	out := &Claims{
		Issuer:       c.Issuer,
		Subject:      c.Subject,
		Audience:     c.Audience,
		Nonce:        c.Nonce,
		TenantID:     string(c.Ctx),
		WebAPIURL:    string(c.WebAPIURL),
		NetServerURL: string(c.NetServerURL),
		SystemToken:  SecretString(c.SystemToken),
		Email:        string(c.Email),
		UPN:          string(c.UPN),
		CompanyName:  string(c.CompanyName),
		Serial:       string(c.Serial),
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.t
	}
	if c.NotBefore != nil {
		out.NotBefore = c.NotBefore.t
	}
	if c.ExpiresAt != nil {
		out.ExpiresAt = c.ExpiresAt.t
	}
	if c.AssociateID != "" {
		id, err := strconv.ParseInt(string(c.AssociateID), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: associateid is not a number", ErrClaims)
		}
		out.AssociateID = id
	}
	// SuperOffice sends "True"/"False"; accept any casing and a JSON bool.
	switch strings.ToLower(string(c.IsAdministrator)) {
	case "true":
		out.IsAdministrator = true
	case "false", "":
	default:
		return nil, fmt.Errorf("%w: is_administrator is neither True nor False", ErrClaims)
	}
	return out, nil
}
