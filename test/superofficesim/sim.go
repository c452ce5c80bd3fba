// Package superofficesim is an in-memory stand-in for SuperOffice Online,
// used by the tests and by `make run`. It behaves like the documented API
// (see shared/superoffice.md), including its failures, so that the operator
// is tested against the same protocol it meets in production.
//
// The package is split by side: sim.go holds the shared core (keys, tenants,
// the HTTP mux), identity.go the OpenID Connect side, rest.go the tenant REST
// side with fault injection.
package superofficesim

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
)

// Key is one RSA signing key with its key id.
type Key struct {
	ID      string
	Private *rsa.PrivateKey
}

// Tenant is one customer tenant known to the simulator.
type Tenant struct {
	// ContextID is the tenant id, e.g. Cust12345.
	ContextID string
	// Serial is the tenant's serial, used in the system user JWT audience.
	Serial string
	// CompanyName of the customer.
	CompanyName string
	// Host is the numbered host name the tenant lives on ("sod2"); 421 sends clients elsewhere.
	Host string
}

// Options configure a simulator.
type Options struct {
	// ClientID and ClientSecret of the partner app registered with this simulator.
	ClientID     string
	ClientSecret string
	// AppPublicKey verifies signed system user tokens (the app's key pair).
	AppPublicKey *rsa.PublicKey
	// KeyBits is the size of generated signing keys; 2048 when zero.
	KeyBits int
}

// Simulator is one SuperOffice environment: login host plus tenant hosts.
type Simulator struct {
	opts Options
	mux  *http.ServeMux

	mu      sync.Mutex
	baseURL string
	keys    []Key // keys[0] signs; all are published in the JWKS
	tenants map[string]*Tenant
}

// New returns a simulator with one fresh signing key. Call Start (tests) or
// serve Handler yourself (make run).
func New(opts Options) (*Simulator, error) {
	if opts.KeyBits == 0 {
		opts.KeyBits = 2048
	}
	s := &Simulator{opts: opts, mux: http.NewServeMux(), tenants: map[string]*Tenant{}}
	if _, err := s.RotateKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler serves every endpoint of the simulator.
func (s *Simulator) Handler() http.Handler { return s.mux }

// Mux lets each side of the simulator register its routes.
func (s *Simulator) Mux() *http.ServeMux { return s.mux }

// SetBaseURL tells the simulator where it is reachable, e.g. http://127.0.0.1:8555.
// Issuer and every URL it hands out derive from it.
func (s *Simulator) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = u
}

// BaseURL is where the simulator is reachable.
func (s *Simulator) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Start serves the simulator on a loopback port for a test; the returned
// server must be closed by the caller.
func (s *Simulator) Start() *httptest.Server {
	srv := httptest.NewServer(s.mux)
	s.SetBaseURL(srv.URL)
	return srv
}

// RotateKey adds a new signing key in front; older keys stay published until
// DropOldKeys is called, as a real key rotation does.
func (s *Simulator) RotateKey() (Key, error) {
	pk, err := rsa.GenerateKey(rand.Reader, s.opts.KeyBits)
	if err != nil {
		return Key{}, fmt.Errorf("generate signing key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := Key{ID: fmt.Sprintf("sim-key-%d", len(s.keys)+1), Private: pk}
	s.keys = append([]Key{k}, s.keys...)
	return k, nil
}

// DropOldKeys unpublishes every key but the current one.
func (s *Simulator) DropOldKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = s.keys[:1]
}

// SigningKey is the key that signs new tokens.
func (s *Simulator) SigningKey() Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0]
}

// PublishedKeys are the keys in the JWKS.
func (s *Simulator) PublishedKeys() []Key {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Key(nil), s.keys...)
}

// AddTenant registers a tenant; a tenant already known is replaced.
func (s *Simulator) AddTenant(t Tenant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Host == "" {
		t.Host = "tenant1"
	}
	cp := t
	s.tenants[t.ContextID] = &cp
}

// Tenant returns a copy of a known tenant.
func (s *Simulator) Tenant(ctx string) (Tenant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[ctx]
	if !ok {
		return Tenant{}, false
	}
	return *t, true
}

// Options returns the simulator's options.
func (s *Simulator) Options() Options { return s.opts }
