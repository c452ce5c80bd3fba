package superoffice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// defaultRetryAfter is used when a 429 carries no (valid) Retry-After.
const defaultRetryAfter = 10 * time.Second

// RESTOptions configure the REST side for one environment. One RESTService
// is shared by every tenant of the environment, so that the global limit
// is global.
type RESTOptions struct {
	// Environment names the environment in metrics.
	Environment string
	// AppToken is sent as SO-AppToken (the app's client secret).
	AppToken string
	// StateAPIBaseURL is the environment's tenant state API, e.g.
	// https://online.superoffice.com/api/state/ (config's
	// environment.stateAPIBaseURL); the tenant id is appended. A bare login
	// host gets /api/state/ added.
	StateAPIBaseURL string
	// Limits are the request rates; DefaultLimits() when zero.
	Limits Limits
	// Timeout bounds one attempt; 15s when zero.
	Timeout time.Duration
	// Attempts is how often an idempotent request is tried on 5xx, timeouts
	// and dropped connections; 3 when zero.
	Attempts int
	// RetryBudget bounds the total time of those attempts including
	// backoff; 2s when zero. After it, the error goes back to the caller,
	// which requeues instead of holding the worker.
	RetryBudget time.Duration
	// HTTPClient sends the requests; a plain client when nil.
	HTTPClient *http.Client
	// OnEndpointMoved is told when a tenant answered 421 and the state API
	// gave a new API base, so that the installation's spec can be updated.
	OnEndpointMoved func(tenantID, webAPIURL string)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// RESTService holds what all tenants of one environment share: limits,
// the HTTP client and the endpoints learnt from 421 answers.
type RESTService struct {
	opts     RESTOptions
	throttle *throttle

	mu    sync.Mutex
	moved map[string]movedEndpoint
}

type movedEndpoint struct{ from, to string }

// NewRESTService validates opts and returns a RESTService.
func NewRESTService(opts RESTOptions) (*RESTService, error) {
	if opts.AppToken == "" {
		return nil, errors.New("rest options: AppToken (client secret) is empty")
	}
	if opts.StateAPIBaseURL == "" {
		return nil, errors.New("rest options: StateAPIBaseURL is empty")
	}
	su, err := url.Parse(opts.StateAPIBaseURL)
	if err != nil || su.Host == "" {
		return nil, fmt.Errorf("rest options: StateAPIBaseURL %q is not an absolute URL", opts.StateAPIBaseURL)
	}
	opts.StateAPIBaseURL = strings.TrimRight(opts.StateAPIBaseURL, "/")
	if !strings.HasSuffix(opts.StateAPIBaseURL, "/api/state") {
		opts.StateAPIBaseURL += "/api/state"
	}
	opts.StateAPIBaseURL += "/"
	if opts.Limits == (Limits{}) {
		opts.Limits = DefaultLimits()
	}
	if err := opts.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("rest options: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.RetryBudget <= 0 {
		opts.RetryBudget = 2 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &RESTService{opts: opts, throttle: newThrottle(opts.Limits), moved: map[string]movedEndpoint{}}, nil
}

// TicketSource gives the ticket for one tenant's calls.
type TicketSource interface {
	// Ticket returns a valid ticket, exchanging when needed; the exchange is metered on m.
	Ticket(ctx context.Context, m *Meter) (string, error)
	// Invalidate drops a ticket SuperOffice refused (401).
	Invalidate()
}

// SystemUserTickets adapts a SystemUser to one tenant's TicketSource.
func SystemUserTickets(su *SystemUser, cred SystemUserCredentials) TicketSource {
	return &suTickets{su: su, cred: cred}
}

type suTickets struct {
	su   *SystemUser
	cred SystemUserCredentials
}

func (t *suTickets) Ticket(ctx context.Context, m *Meter) (string, error) {
	return t.su.Ticket(ctx, t.cred, m)
}
func (t *suTickets) Invalidate() { t.su.Invalidate(t.cred.TenantID) }

// TenantClientOptions say which tenant a Client talks to.
type TenantClientOptions struct {
	TenantID string
	// WebAPIURL is the installation's spec.endpoints.webAPIURL.
	WebAPIURL string
	Tickets   TicketSource
	// Meter receives the accounting; it should carry the reconcile's Usage.
	Meter *Meter
}

// Client talks to one tenant's REST API. It is cheap: make one per reconcile.
type Client struct {
	svc      *RESTService
	tenantID string
	tickets  TicketSource
	meter    *Meter

	mu      sync.Mutex
	base    string
	movedTo string
}

// Tenant returns a Client for one tenant.
func (s *RESTService) Tenant(o TenantClientOptions) (*Client, error) {
	if o.TenantID == "" {
		return nil, errors.New("superoffice client: tenant id is empty")
	}
	if o.Tickets == nil {
		return nil, errors.New("superoffice client: no ticket source")
	}
	base, err := normaliseBase(o.WebAPIURL)
	if err != nil {
		return nil, fmt.Errorf("superoffice client for %s: the installation's webAPIURL: %w", o.TenantID, err)
	}
	c := &Client{svc: s, tenantID: o.TenantID, tickets: o.Tickets, meter: o.Meter, base: base}
	if c.meter == nil {
		c.meter = &Meter{}
	}
	c.meter.Environment = s.opts.Environment
	// A tenant that moved while the spec still names the old host: go
	// straight to where it is now instead of collecting another 421.
	s.mu.Lock()
	if m, ok := s.moved[o.TenantID]; ok && m.from == base {
		c.base = m.to
		c.movedTo = m.to
	}
	s.mu.Unlock()
	return c, nil
}

// MovedTo is the tenant's new API base when a 421 moved it during this
// client's life (or earlier, while the spec was not yet updated); empty otherwise.
func (c *Client) MovedTo() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.movedTo
}

// BaseURL is the API base the client currently uses.
func (c *Client) BaseURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base
}

// Expect says that the caller is about to make n requests in a row for op.
// When the rate limits cannot admit them all soon, it returns a
// ThrottledError now, before the first, so that a sequence (save, publish,
// rebuild) is not cut in the middle and started over. It takes no tokens.
func (c *Client) Expect(op string, n int) error {
	if err := c.svc.throttle.ready(c.tenantID, n, c.svc.opts.Now()); err != nil {
		c.meter.throttled(op, false)
		return err
	}
	return nil
}

// Request is one REST call relative to the tenant's API base.
type Request struct {
	// Op is the operation label (Op* constants).
	Op     string
	Method string
	// Path is relative to the API base, e.g. "v1/List/WebPanel/Items"; escape segments with url.PathEscape.
	Path  string
	Query url.Values
	// Body is sent as JSON when non-nil.
	Body any
	// Idempotent requests are retried on 5xx, timeouts and dropped
	// connections. A create is not: a create whose answer was lost may have
	// happened, and the next reconcile's find-before-create adopts it.
	Idempotent bool
}

// TransientError is a failure that a later attempt may not have: 5xx,
// timeouts, dropped connections. Callers requeue with backoff.
type TransientError struct {
	Err error
}

func (e *TransientError) Error() string {
	return "superoffice temporarily unavailable: " + e.Err.Error()
}
func (e *TransientError) Unwrap() error { return e.Err }

// Do sends r and decodes a JSON answer into out (when out is non-nil and
// the answer has a body). Errors: *ThrottledError, *CredentialsError,
// *APIError (IsNotFound for 404), *TransientError.
func (c *Client) Do(ctx context.Context, r Request, out any) error {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = json.Marshal(r.Body); err != nil {
			return fmt.Errorf("superoffice %s: encode body: %w", r.Op, err)
		}
	}
	opts := c.svc.opts
	start := opts.Now()
	attempt := 0
	reauthed, followed := false, false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		ticket, err := c.tickets.Ticket(ctx, c.meter)
		if err != nil {
			if t, ok := AsThrottled(err); ok {
				c.svc.throttle.holdOff(c.tenantID, opts.Now(), t.RetryAfter)
			}
			return err
		}
		delay, err := c.svc.throttle.admit(c.tenantID, opts.Now())
		if err != nil {
			c.meter.throttled(r.Op, false)
			return err
		}
		if delay > 0 {
			// Bounded by Limits.MaxWait, which is a few tens of milliseconds.
			if err := sleep(ctx, delay); err != nil {
				return err
			}
		}
		resp, raw, err := c.once(ctx, r, body, ticket) //nolint:bodyclose // once reads and closes the body, returning its bytes
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if r.Idempotent && c.mayRetry(ctx, &attempt, start) {
				continue
			}
			return &TransientError{Err: fmt.Errorf("%s %s: %w", r.Method, r.Path, err)}
		}
		code := resp.StatusCode
		switch {
		case code >= 200 && code < 300:
			if out != nil && len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
				if err := json.Unmarshal(raw, out); err != nil {
					return fmt.Errorf("superoffice %s: answer is not the expected JSON: %w", r.Op, err)
				}
			}
			return nil
		case code == http.StatusUnauthorized:
			if !reauthed {
				reauthed = true
				c.tickets.Invalidate()
				continue
			}
			return &CredentialsError{Reason: fmt.Sprintf("SuperOffice refused a fresh ticket of tenant %s", c.tenantID)}
		case code == http.StatusMisdirectedRequest:
			if followed {
				return c.apiError(r, code, raw)
			}
			followed = true
			if err := c.follow(ctx); err != nil {
				return err
			}
			continue
		case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
			d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), opts.Now())
			if !ok {
				d = defaultRetryAfter
			}
			c.svc.throttle.holdOff(c.tenantID, opts.Now(), d)
			c.meter.throttled(r.Op, true)
			return &ThrottledError{RetryAfter: d, Reason: fmt.Sprintf("SuperOffice answered %d", code)}
		case code >= 500 || code == http.StatusRequestTimeout:
			if r.Idempotent && c.mayRetry(ctx, &attempt, start) {
				continue
			}
			return &TransientError{Err: c.apiError(r, code, raw)}
		default:
			return c.apiError(r, code, raw)
		}
	}
}

func (c *Client) apiError(r Request, code int, raw []byte) *APIError {
	return &APIError{Operation: r.Op, Method: r.Method, Path: r.Path, StatusCode: code, Message: snippet(raw)}
}

// mayRetry sleeps a short jittered backoff and reports true when another
// attempt fits into the attempt count and the retry budget.
func (c *Client) mayRetry(ctx context.Context, attempt *int, start time.Time) bool {
	opts := c.svc.opts
	*attempt++
	if *attempt >= opts.Attempts {
		return false
	}
	base := 100 * time.Millisecond << (*attempt - 1)
	d := base/2 + rand.N(base/2+1)
	if opts.Now().Sub(start)+d > opts.RetryBudget {
		return false
	}
	return sleep(ctx, d) == nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// once makes one attempt and meters it.
func (c *Client) once(ctx context.Context, r Request, body []byte, ticket string) (*http.Response, []byte, error) {
	opts := c.svc.opts
	u := c.BaseURL() + strings.TrimPrefix(r.Path, "/")
	if len(r.Query) > 0 {
		u += "?" + r.Query.Encode()
	}
	actx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, r.Method, u, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "SOTicket "+ticket)
	req.Header.Set("SO-AppToken", opts.AppToken)
	start := opts.Now()
	resp, err := opts.HTTPClient.Do(req)
	if err != nil {
		c.meter.request(r.Op, 0, int64(len(body)), opts.Now().Sub(start).Seconds(), start)
		return nil, nil, stripURL(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	c.meter.request(r.Op, resp.StatusCode, int64(len(body)+len(raw)), opts.Now().Sub(start).Seconds(), start)
	if err != nil {
		return nil, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp, raw, nil
}

// stripURL keeps the cause of a *url.Error without repeating the URL (the
// preference value travels in the query string).
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// TenantState is the answer of the tenant state API.
type TenantState struct {
	ContextIdentifier string `json:"ContextIdentifier"`
	Endpoint          string `json:"Endpoint"`
	State             string `json:"State"`
	IsRunning         bool   `json:"IsRunning"`
	ValidUntil        string `json:"ValidUntil"`
	Api               string `json:"Api"`
}

// APIBase is the tenant's REST base from the state: Api when given, else Endpoint + "/api/".
func (s TenantState) APIBase() (string, error) {
	if s.Api != "" {
		return normaliseBase(s.Api)
	}
	if s.Endpoint == "" {
		return "", errors.New("tenant state names no endpoint")
	}
	return normaliseBase(strings.TrimSuffix(s.Endpoint, "/") + "/api/")
}

// TenantState reads the tenant's state from the environment's state API.
// It is public and takes no ticket; it is metered and globally limited.
func (s *RESTService) TenantState(ctx context.Context, tenantID string, m *Meter) (TenantState, error) {
	if m == nil {
		m = &Meter{}
	}
	m.Environment = s.opts.Environment
	if _, err := s.throttle.admit("", s.opts.Now()); err != nil {
		m.throttled(OpStateAPI, false)
		return TenantState{}, err
	}
	u := s.opts.StateAPIBaseURL + url.PathEscape(tenantID)
	actx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, u, nil)
	if err != nil {
		return TenantState{}, fmt.Errorf("tenant state of %s: %w", tenantID, err)
	}
	req.Header.Set("Accept", "application/json")
	start := s.opts.Now()
	resp, err := s.opts.HTTPClient.Do(req)
	if err != nil {
		m.request(OpStateAPI, 0, 0, s.opts.Now().Sub(start).Seconds(), start)
		return TenantState{}, &TransientError{Err: fmt.Errorf("tenant state of %s: %w", tenantID, stripURL(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	m.request(OpStateAPI, resp.StatusCode, int64(len(raw)), s.opts.Now().Sub(start).Seconds(), start)
	if err != nil {
		return TenantState{}, &TransientError{Err: fmt.Errorf("tenant state of %s: read: %w", tenantID, err)}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), s.opts.Now())
		if !ok {
			d = defaultRetryAfter
		}
		m.throttled(OpStateAPI, true)
		return TenantState{}, &ThrottledError{RetryAfter: d, Reason: "SuperOffice's state API answered 429"}
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Operation: OpStateAPI, Method: http.MethodGet, Path: "api/state/" + tenantID, StatusCode: resp.StatusCode, Message: snippet(raw)}
		if e.Retryable() {
			return TenantState{}, &TransientError{Err: e}
		}
		return TenantState{}, e
	}
	var st TenantState
	if err := json.Unmarshal(raw, &st); err != nil {
		return TenantState{}, fmt.Errorf("tenant state of %s: answer is not the expected JSON: %w", tenantID, err)
	}
	if !strings.EqualFold(st.ContextIdentifier, tenantID) {
		return TenantState{}, fmt.Errorf("tenant state of %s: answer is about %q", tenantID, st.ContextIdentifier)
	}
	return st, nil
}

// follow re-reads the tenant's endpoint after a 421 and switches to it.
func (c *Client) follow(ctx context.Context) error {
	st, err := c.svc.TenantState(ctx, c.tenantID, c.meter)
	if err != nil {
		return fmt.Errorf("tenant %s answered 421 (wrong host); re-reading its endpoint: %w", c.tenantID, err)
	}
	if !st.IsRunning {
		return &TransientError{Err: fmt.Errorf("tenant %s is not running (state %q)", c.tenantID, st.State)}
	}
	nb, err := st.APIBase()
	if err != nil {
		return fmt.Errorf("tenant %s answered 421 (wrong host): %w", c.tenantID, err)
	}
	c.mu.Lock()
	old := c.base
	if nb == old {
		c.mu.Unlock()
		return &APIError{Operation: OpStateAPI, Method: http.MethodGet, Path: "api/state/" + c.tenantID, StatusCode: http.StatusMisdirectedRequest,
			Message: "the tenant answered 421 but the state API names the same host"}
	}
	c.base, c.movedTo = nb, nb
	c.mu.Unlock()
	c.svc.mu.Lock()
	orig := old
	// Keep the original spec value as the key, so clients made from the
	// stale spec are redirected until the spec is updated.
	for t, m := range c.svc.moved {
		if t == c.tenantID && m.to == old {
			orig = m.from
		}
	}
	c.svc.moved[c.tenantID] = movedEndpoint{from: orig, to: nb}
	c.svc.mu.Unlock()
	if c.svc.opts.OnEndpointMoved != nil {
		c.svc.opts.OnEndpointMoved(c.tenantID, nb)
	}
	return nil
}

// normaliseBase checks an API base URL and makes it end in "/".
func normaliseBase(s string) (string, error) {
	if s == "" {
		return "", errors.New("no API base URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("API base URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("API base URL %q must be an absolute http(s) URL", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("API base URL %q must not carry a query or fragment", s)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u.String(), nil
}
