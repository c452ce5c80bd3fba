// Package callback is the operator's public HTTP endpoint: the install
// redirect and OAuth callback that create a TenantInstallation, the tenant
// state-change notification, and the administrator's status and uninstall
// pages. It runs on every replica; it never waits for provisioning and
// reads installations only from the informer cache.
package callback

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/tenant-operator/tenant-operator/internal/config"
	"github.com/tenant-operator/tenant-operator/internal/superoffice"
)

// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantinstallations,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch

// Limits of the server.
const (
	// MaxBodyBytes caps every request body.
	MaxBodyBytes = 64 << 10
	// DefaultClientRate and DefaultClientBurst limit each client IP.
	DefaultClientRate  = 5
	DefaultClientBurst = 20
	readHeaderTimeout  = 5 * time.Second
	readTimeout        = 10 * time.Second
	// writeTimeout covers the code exchange with SuperOffice.
	writeTimeout    = 30 * time.Second
	idleTimeout     = 60 * time.Second
	shutdownTimeout = 10 * time.Second
	tokenTimeout    = 10 * time.Second
)

// Verifier checks SuperOffice tokens (superoffice.Verifier in production).
type Verifier interface {
	VerifyIDToken(ctx context.Context, raw, nonce string) (*superoffice.Claims, error)
	VerifyStateChangeToken(ctx context.Context, raw, contextIdentifier string) (*superoffice.StateChangeClaims, error)
}

// Options build a Server.
type Options struct {
	// Config is the loaded operator configuration (environment, client,
	// redirect URL, session key, namespace, TLS files).
	Config *config.Config
	// Verifier checks id_tokens and state-change tokens.
	Verifier Verifier
	// Reader serves the status pages; it must be cache-backed (the manager's
	// client), so pages answer fast whatever the API server does.
	Reader client.Reader
	// Writer creates and updates installations and their Secrets.
	Writer client.Writer
	// WriterReader reads before writing (may be the manager's cached client).
	WriterReader client.Reader
	// Addr is the listen address, e.g. ":8082".
	Addr string
	// HTTPClient calls SuperOffice's token endpoint; a client with a 10s
	// timeout when nil.
	HTTPClient *http.Client
	// ExtraHandlers are mounted on the same mux (pattern -> handler), e.g.
	// "POST /webhooks/superoffice". They get the same limits.
	ExtraHandlers map[string]http.Handler
	// ClientRate and ClientBurst limit requests per client IP.
	ClientRate  rate.Limit
	ClientBurst int
	// Log receives request outcomes; never a token.
	Log logr.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Server is the callback HTTP server; it is a manager.Runnable that runs on
// every replica.
type Server struct {
	opts          Options
	cfg           *config.Config
	env           string
	signer        signer
	used          *usedStates
	secureCookies bool
	httpClient    *http.Client
	limiter       *ipLimiter
	proxies       []netip.Prefix
	handler       http.Handler
	log           logr.Logger
	now           func() time.Time
	metrics       *metrics
}

var (
	_ manager.Runnable               = (*Server)(nil)
	_ manager.LeaderElectionRunnable = (*Server)(nil)
)

// New builds a Server from opts.
func New(opts Options) (*Server, error) {
	c := opts.Config
	switch {
	case c == nil:
		return nil, errors.New("callback: no config")
	case opts.Verifier == nil:
		return nil, errors.New("callback: no verifier")
	case opts.Reader == nil || opts.Writer == nil:
		return nil, errors.New("callback: no Kubernetes client")
	case len(c.SessionKey.Bytes()) < config.MinSessionKeyBytes:
		return nil, errors.New("callback: session key missing or too short")
	}
	if opts.WriterReader == nil {
		opts.WriterReader = opts.Reader
	}
	redirect, err := url.Parse(c.Environment.RedirectURL)
	if err != nil || redirect.Host == "" {
		return nil, errors.New("callback: redirect URL does not parse")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: tokenTimeout}
	}
	if opts.ClientRate == 0 {
		opts.ClientRate = DefaultClientRate
	}
	if opts.ClientBurst == 0 {
		opts.ClientBurst = DefaultClientBurst
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	s := &Server{
		opts:   opts,
		cfg:    c,
		env:    c.Environment.Name,
		signer: signer{key: c.SessionKey.Bytes()},
		used:   newUsedStates(100000),
		// Secure cookies whenever the public URL is https; only a custom
		// development environment on plain http goes without.
		secureCookies: redirect.Scheme == "https",
		httpClient:    opts.HTTPClient,
		limiter:       newIPLimiter(opts.ClientRate, opts.ClientBurst),
		proxies:       c.Callback.TrustedProxyPrefixes(),
		log:           opts.Log,
		now:           opts.Now,
		metrics:       sharedMetrics(),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /install", s.limited(s.handleInstall))
	mux.Handle("GET /uninstall", s.limited(s.handleUninstallStart))
	mux.Handle("GET /callback", s.limited(s.handleCallback))
	mux.Handle("POST /callback", s.limited(s.handleCallback))
	mux.Handle("POST /state-change", s.limited(s.handleStateChange))
	mux.Handle("GET /installations/{name}", s.limited(s.handleStatus))
	mux.Handle("GET /installations/{name}/uninstall", s.limited(s.handleUninstallConfirmPage))
	mux.Handle("POST /installations/{name}/uninstall", s.limited(s.handleUninstallConfirm))
	for pattern, h := range opts.ExtraHandlers {
		mux.Handle(pattern, s.limitedHandler(h))
	}
	mux.Handle("GET /", s.limited(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, problemNotFound)
	}))
	s.handler = s.secure(mux)
	return s, nil
}

// Handler is the server's whole HTTP handler (tests serve it directly).
func (s *Server) Handler() http.Handler { return s.handler }

// NeedLeaderElection is false: every replica serves callbacks.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	srv := s.httpServer()
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("callback server: listen on %s: %w", s.opts.Addr, err)
	}
	errc := make(chan error, 1)
	go func() {
		if s.cfg.TLSEnabled() {
			errc <- srv.ServeTLS(ln, s.cfg.Callback.TLSCertFile, s.cfg.Callback.TLSKeyFile)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("callback server listening", "addr", ln.Addr().String(), "tls", s.cfg.TLSEnabled(), "environment", s.env)
	select {
	case err := <-errc:
		return fmt.Errorf("callback server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("callback server: shutdown: %w", err)
	}
	return nil
}

func (s *Server) httpServer() *http.Server {
	return &http.Server{
		Addr:              s.opts.Addr,
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// secure sets the headers every answer carries and caps the body.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// Pages carry codes and states in their URLs: never leak them to
		// another origin. Not "no-referrer": with it browsers send
		// "Origin: null" on our own form posts, and the uninstall
		// confirmation's Origin check refuses them (seen with Chromium).
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		if s.secureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) limited(f http.HandlerFunc) http.Handler { return s.limitedHandler(f) }

// limitedHandler applies the per-client-IP rate limit.
func (s *Server) limitedHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.limiter.allow(clientIP(r, s.proxies), s.now()) {
			w.Header().Set("Retry-After", "1")
			if r.URL.Path == "/callback" {
				s.metrics.observe(s.env, resultRateLimited, 0)
			}
			s.fail(w, r, http.StatusTooManyRequests, problemRateLimited)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP is the address a request comes from. That is the peer, unless
// the peer is a trusted proxy: then X-Forwarded-For is read from the right,
// skipping trusted proxies, and the first other address is the client. The
// entries left of it are whatever the client sent and are never believed,
// so no client can choose its own bucket. Without trusted proxies, behind an
// ingress every request comes from the ingress and the limit protects the
// operator as a whole.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	addr := peer.Addr().Unmap()
	if !within(addr, trusted) {
		return addr.String()
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled chain: trust nothing beyond the proxy
		}
		hop = hop.Unmap()
		if !within(hop, trusted) {
			return hop.String()
		}
		addr = hop
	}
	return addr.String()
}

func within(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ipLimiter is a token bucket per client IP, forgotten after idle time.
type ipLimiter struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	buckets map[string]*ipBucket
	swept   time.Time
}

type ipBucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newIPLimiter(r rate.Limit, burst int) *ipLimiter {
	return &ipLimiter{r: r, burst: burst, buckets: map[string]*ipBucket{}}
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[ip]
	if !ok {
		b = &ipBucket{l: rate.NewLimiter(l.r, l.burst)}
		l.buckets[ip] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}

// wantsJSON: programs ask for JSON; browsers get pages.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

func encodeMAC(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
