package callback

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// StateLifetime is how long an install or uninstall sign-in may take.
const StateLifetime = 10 * time.Minute

// Purposes of a sign-in round trip through SuperOffice.
const (
	purposeInstall   = "install"
	purposeUninstall = "uninstall"
)

// Errors of state checking; the pages explain each to a person.
var (
	errStateMalformed = errors.New("state is malformed")
	errStateSignature = errors.New("state signature does not match")
	errStateExpired   = errors.New("state expired")
	errStateReplayed  = errors.New("state was already used")
)

// flowState travels through SuperOffice in the OAuth state parameter. It is
// signed, not encrypted: it holds nothing secret. The PKCE verifier stays in
// a cookie bound to the browser (see flowCookie).
type flowState struct {
	// ID makes the state unique; it is the single-use key.
	ID string `json:"i"`
	// Purpose is install or uninstall.
	Purpose string `json:"p"`
	// Nonce must come back in the id_token.
	Nonce string `json:"n"`
	// Tenant, when set, is the only tenant this round trip may sign in to.
	Tenant string `json:"t,omitempty"`
	// Expires is a Unix time.
	Expires int64 `json:"e"`
}

// signer signs and checks states and cookies with the session key. Each use
// has its own context string, so a value signed for one use never verifies
// as another (a state is not a session cookie).
type signer struct{ key []byte }

func (s signer) mac(purpose string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// seal returns base64url(json(v)) + "." + base64url(HMAC).
func (s signer) seal(purpose string, v any) (string, error) {
	payload, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("seal %s: %w", purpose, err)
	}
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.mac(purpose, payload)), nil
}

// open checks the signature and decodes into v.
func (s signer) open(purpose, sealed string, v any) error {
	if len(sealed) > maxSealedBytes {
		return errStateMalformed
	}
	p64, m64, ok := strings.Cut(sealed, ".")
	if !ok {
		return errStateMalformed
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p64)
	mac, err2 := base64.RawURLEncoding.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return errStateMalformed
	}
	if !hmac.Equal(mac, s.mac(purpose, payload)) {
		return errStateSignature
	}
	if err := json.Unmarshal(payload, v); err != nil {
		return errStateMalformed
	}
	return nil
}

// maxSealedBytes bounds states and cookies we are willing to check.
const maxSealedBytes = 4096

// randomID returns n random bytes, base64url encoded.
func randomID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; if it did,
		// continuing with a predictable value would be worse than stopping.
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// usedStates remembers consumed state ids until they expire, making a state
// single-use. It is per process: with several replicas a replay that reaches
// another replica within the state's lifetime is not caught here. It is
// still useless there in the code flow, because SuperOffice's code is
// single-use and the PKCE verifier is bound to the browser's cookie; in the
// form_post id_token flow it would re-apply the same, idempotent install.
type usedStates struct {
	mu    sync.Mutex
	until map[string]time.Time
	// max bounds memory; when full, expired entries are swept and, if still
	// full, new states are refused rather than forgetting used ones.
	max int
}

func newUsedStates(max int) *usedStates {
	return &usedStates{until: map[string]time.Time{}, max: max}
}

// consume marks id used; false when it was used before (or memory is full).
func (u *usedStates) consume(id string, expires, now time.Time) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if t, ok := u.until[id]; ok && now.Before(t) {
		return false
	}
	if len(u.until) >= u.max {
		for k, t := range u.until {
			if !now.Before(t) {
				delete(u.until, k)
			}
		}
		if len(u.until) >= u.max {
			return false
		}
	}
	u.until[id] = expires
	return true
}

// newState makes a fresh state for purpose.
func newState(purpose, tenant string, now time.Time) flowState {
	return flowState{ID: randomID(18), Purpose: purpose, Nonce: randomID(18), Tenant: tenant, Expires: now.Add(StateLifetime).Unix()}
}

// checkState verifies signature and expiry and consumes the state.
func (s *Server) checkState(raw string, now time.Time) (flowState, error) {
	var st flowState
	if raw == "" {
		return st, errStateMalformed
	}
	if err := s.signer.open("state", raw, &st); err != nil {
		return st, err
	}
	if st.ID == "" || st.Nonce == "" || (st.Purpose != purposeInstall && st.Purpose != purposeUninstall) {
		return st, errStateMalformed
	}
	exp := time.Unix(st.Expires, 0)
	if !now.Before(exp) {
		return st, errStateExpired
	}
	if !s.used.consume(st.ID, exp, now) {
		return st, errStateReplayed
	}
	return st, nil
}
