package superoffice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Key cache defaults.
const (
	// DefaultKeyRefreshInterval is how often the JWKS is re-read regardless.
	DefaultKeyRefreshInterval = time.Hour
	// DefaultUnknownKIDInterval is the least time between two refreshes caused
	// by a token naming a key we do not know: an attacker can send any kid,
	// and must not be able to make us hammer SuperOffice.
	DefaultUnknownKIDInterval = 5 * time.Minute
	// keyFetchTimeout bounds one JWKS request.
	keyFetchTimeout = 10 * time.Second
)

// KeySetOptions configure a JWKS cache.
type KeySetOptions struct {
	// JWKSURL is the environment's JWKS, e.g. https://online.superoffice.com/login/.well-known/jwks.
	JWKSURL string
	// HTTPClient fetches the JWKS; http.DefaultClient when nil.
	HTTPClient *http.Client
	// RefreshInterval; DefaultKeyRefreshInterval when zero.
	RefreshInterval time.Duration
	// UnknownKIDInterval; DefaultUnknownKIDInterval when zero. Values under
	// keyFetchTimeout are raised to it, so that waiting requests never queue up.
	UnknownKIDInterval time.Duration
	// OnRefreshError is told when a refresh fails (the JWKS URL and error;
	// no token material). Optional.
	OnRefreshError func(err error)
}

// KeySet is the environment's signing keys, cached and refreshed.
type KeySet struct {
	kf keyfunc.Keyfunc
}

// NewKeySet reads the JWKS once and keeps it fresh until ctx ends. A first
// read that fails does not fail construction: SuperOffice being briefly
// unreachable at start must not stop the operator; verification fails until
// a refresh succeeds.
func NewKeySet(ctx context.Context, o KeySetOptions) (*KeySet, error) {
	if o.JWKSURL == "" {
		return nil, errors.New("key set: no JWKS URL")
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultKeyRefreshInterval
	}
	if o.UnknownKIDInterval <= 0 {
		o.UnknownKIDInterval = DefaultUnknownKIDInterval
	}
	if o.UnknownKIDInterval < keyFetchTimeout {
		o.UnknownKIDInterval = keyFetchTimeout
	}
	noErrFirst := true
	onErr := o.OnRefreshError
	kf, err := keyfunc.NewDefaultOverrideCtx(ctx, []string{o.JWKSURL}, keyfunc.Override{
		Client:                    o.HTTPClient,
		HTTPTimeout:               keyFetchTimeout,
		NoErrorReturnFirstHTTPReq: &noErrFirst,
		RefreshInterval:           o.RefreshInterval,
		// Burst 1: the first unknown kid may refresh at once, then at most one
		// refresh per interval. A request that would have to wait longer than
		// RateLimitWaitMax is refused at once instead of queueing, so a storm of
		// unknown kids costs one fetch and no blocked goroutines.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(o.UnknownKIDInterval), 1),
		// The same bound is the deadline of the refresh fetch itself.
		RateLimitWaitMax: keyFetchTimeout,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				if onErr != nil {
					onErr(fmt.Errorf("refresh JWKS %s: %w", u, err))
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	return &KeySet{kf: kf}, nil
}

// Keyfunc gives golang-jwt the key for a token's kid.
func (k *KeySet) Keyfunc() jwt.Keyfunc { return k.kf.Keyfunc }

// KeyfuncCtx is Keyfunc bound to a request's context, so that a refresh on
// an unknown kid stops when the request does.
func (k *KeySet) KeyfuncCtx(ctx context.Context) jwt.Keyfunc { return k.kf.KeyfuncCtx(ctx) }
