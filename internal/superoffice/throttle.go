package superoffice

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ThrottledError says SuperOffice (or our own rate limit) asked us to slow
// down. Callers requeue after RetryAfter; nothing in this package sleeps for
// it, so a throttle never holds a worker.
type ThrottledError struct {
	// RetryAfter is how long to wait before the next attempt.
	RetryAfter time.Duration
	// Reason says who throttled, in words: "SuperOffice answered 429", "tenant rate limit".
	Reason string
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("superoffice throttled: %s; retry after %s", e.Reason, e.RetryAfter)
}

// AsThrottled reports whether err is, or wraps, a ThrottledError.
func AsThrottled(err error) (*ThrottledError, bool) {
	var t *ThrottledError
	if errors.As(err, &t) {
		return t, true
	}
	return nil, false
}

// ErrCredentials is matched (errors.Is) by every CredentialsError.
var ErrCredentials = errors.New("superoffice refused the tenant's credentials")

// CredentialsError says the tenant's system user cannot get a ticket:
// consent revoked, tenant unknown or the system token missing. Only a new
// consent by the tenant's administrator fixes it; retrying does not.
type CredentialsError struct {
	// Reason is safe to show (never contains a token).
	Reason string
	Err    error
}

func (e *CredentialsError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("superoffice credentials: %s: %v", e.Reason, e.Err)
	}
	return "superoffice credentials: " + e.Reason
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCredentials) true.
func (e *CredentialsError) Is(target error) bool { return target == ErrCredentials }

// AsCredentials reports whether err is, or wraps, a CredentialsError.
func AsCredentials(err error) (*CredentialsError, bool) {
	var c *CredentialsError
	if errors.As(err, &c) {
		return c, true
	}
	return nil, false
}

// APIError is a SuperOffice answer that is neither success nor throttle.
type APIError struct {
	Operation  string
	Method     string
	Path       string
	StatusCode int
	// Message is the start of the response body, for people; bounded in size.
	Message string
}

func (e *APIError) Error() string {
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	return fmt.Sprintf("superoffice %s (%s %s) answered %d%s", e.Operation, e.Method, e.Path, e.StatusCode, msg)
}

// Retryable is true for answers that may succeed on a later attempt.
func (e *APIError) Retryable() bool {
	return e.StatusCode >= 500 || e.StatusCode == http.StatusRequestTimeout
}

// IsNotFound reports whether err is a 404 from SuperOffice.
func IsNotFound(err error) bool {
	var a *APIError
	return errors.As(err, &a) && a.StatusCode == http.StatusNotFound
}

// ParseRetryAfter reads a Retry-After header value: delay-seconds or an
// HTTP date. ok is false for an empty or malformed value; a date in the past
// gives zero.
func ParseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		// Cap absurd values so the conversion cannot overflow; a day is plenty.
		if secs > 86400 {
			secs = 86400
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d = t.Sub(now)
	if d < 0 {
		d = 0
	}
	if d > 24*time.Hour {
		d = 24 * time.Hour
	}
	return d, true
}

// Limits configure the request rates toward SuperOffice.
type Limits struct {
	// GlobalRate and GlobalBurst bound all requests of this operator instance
	// (one environment). Zero rate means unlimited.
	GlobalRate  rate.Limit
	GlobalBurst int
	// TenantRate and TenantBurst bound the requests to one tenant.
	TenantRate  rate.Limit
	TenantBurst int
	// MaxWait is the longest a request may wait in-line for a rate-limit
	// token; anything longer becomes a ThrottledError. Keep it small: it is
	// the only wait a worker ever does for throttling.
	MaxWait time.Duration
}

// DefaultLimits are conservative because SuperOffice publishes no numbers.
func DefaultLimits() Limits {
	return Limits{GlobalRate: 50, GlobalBurst: 100, TenantRate: 5, TenantBurst: 10, MaxWait: 50 * time.Millisecond}
}

// throttle holds the limiters and the "SuperOffice said wait until" marks.
type throttle struct {
	limits Limits
	global *rate.Limiter

	mu      sync.Mutex
	tenants map[string]*tenantThrottle
}

type tenantThrottle struct {
	limiter *rate.Limiter
	// until is set from Retry-After; requests before it fail fast without
	// touching SuperOffice, so a 429 storm is not made worse by us.
	until time.Time
}

func newThrottle(l Limits) *throttle {
	t := &throttle{limits: l, tenants: map[string]*tenantThrottle{}}
	if l.GlobalRate > 0 {
		t.global = rate.NewLimiter(l.GlobalRate, max(l.GlobalBurst, 1))
	}
	return t
}

func (t *throttle) tenant(id string) *tenantThrottle {
	t.mu.Lock()
	defer t.mu.Unlock()
	tt, ok := t.tenants[id]
	if !ok {
		tt = &tenantThrottle{}
		if t.limits.TenantRate > 0 {
			tt.limiter = rate.NewLimiter(t.limits.TenantRate, max(t.limits.TenantBurst, 1))
		}
		t.tenants[id] = tt
	}
	return tt
}

// admit takes one token from the tenant's and the global limiter. It
// returns the short delay the caller may sleep, or a ThrottledError when the
// wait would be longer than MaxWait (the reservations are then given back).
func (t *throttle) admit(tenantID string, now time.Time) (time.Duration, error) {
	tt := t.tenant(tenantID)
	t.mu.Lock()
	until := tt.until
	t.mu.Unlock()
	if now.Before(until) {
		return 0, &ThrottledError{RetryAfter: until.Sub(now), Reason: "SuperOffice asked this tenant's requests to wait"}
	}
	var reservations []*rate.Reservation
	cancel := func() {
		for _, r := range reservations {
			r.CancelAt(now)
		}
	}
	var delay time.Duration
	for _, l := range []struct {
		lim  *rate.Limiter
		name string
	}{{tt.limiter, "tenant rate limit"}, {t.global, "global rate limit"}} {
		if l.lim == nil {
			continue
		}
		r := l.lim.ReserveN(now, 1)
		if !r.OK() {
			cancel()
			return 0, &ThrottledError{RetryAfter: time.Second, Reason: l.name}
		}
		reservations = append(reservations, r)
		if d := r.DelayFrom(now); d > delay {
			delay = d
			if delay > t.limits.MaxWait {
				cancel()
				// Come back when the bucket is full again, not when one token
				// is: one artifact takes several requests in a row, and a
				// retry that gets a single token would never finish it.
				return 0, &ThrottledError{RetryAfter: max(delay, refill(l.lim, now)), Reason: l.name}
			}
		}
	}
	return delay, nil
}

// refill is how long until the limiter's bucket is full.
func refill(l *rate.Limiter, now time.Time) time.Duration {
	missing := float64(l.Burst()) - l.TokensAt(now)
	if missing <= 0 || l.Limit() <= 0 {
		return 0
	}
	return time.Duration(missing / float64(l.Limit()) * float64(time.Second))
}

// MinBurst is the smallest burst the limits accept: the longest run of
// requests one artifact needs (a user-defined field: read, save, publish
// check, publish, rebuild, read back).
const MinBurst = 6

// Validate says what is wrong with the limits, if anything.
func (l Limits) Validate() error {
	var problems []string
	if l.GlobalRate < 0 || l.TenantRate < 0 || l.MaxWait < 0 {
		problems = append(problems, "rates and MaxWait must not be negative")
	}
	if l.GlobalRate > 0 && l.GlobalBurst < MinBurst {
		problems = append(problems, fmt.Sprintf("global burst %d is below %d, the requests one artifact needs in a row", l.GlobalBurst, MinBurst))
	}
	if l.TenantRate > 0 && l.TenantBurst < MinBurst {
		problems = append(problems, fmt.Sprintf("per-tenant burst %d is below %d, the requests one artifact needs in a row", l.TenantBurst, MinBurst))
	}
	if len(problems) > 0 {
		return fmt.Errorf("rate limits: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ready reports whether n requests for the tenant could go now without
// waiting longer than MaxWait; it takes no tokens. Otherwise it returns the
// ThrottledError that says when they could.
func (t *throttle) ready(tenantID string, n int, now time.Time) error {
	tt := t.tenant(tenantID)
	t.mu.Lock()
	until := tt.until
	t.mu.Unlock()
	if now.Before(until) {
		return &ThrottledError{RetryAfter: until.Sub(now), Reason: "SuperOffice asked this tenant's requests to wait"}
	}
	for _, l := range []struct {
		lim  *rate.Limiter
		name string
	}{{tt.limiter, "tenant rate limit"}, {t.global, "global rate limit"}} {
		if l.lim == nil || l.lim.Limit() == rate.Inf || l.lim.Limit() <= 0 {
			continue
		}
		need := float64(min(n, l.lim.Burst()))
		have := l.lim.TokensAt(now)
		if have >= need {
			continue
		}
		wait := time.Duration((need - have) / float64(l.lim.Limit()) * float64(time.Second))
		if wait > t.limits.MaxWait {
			return &ThrottledError{RetryAfter: max(wait, refill(l.lim, now)), Reason: l.name}
		}
	}
	return nil
}

// holdOff records that SuperOffice asked the tenant to wait d.
func (t *throttle) holdOff(tenantID string, now time.Time, d time.Duration) {
	tt := t.tenant(tenantID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := now.Add(d); u.After(tt.until) {
		tt.until = u
	}
}
