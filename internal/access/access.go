// Package access asks the API server what the operator itself may do with a
// kind, before the operator tries.
//
// It matters because reads of artifacts go through a label-selected cache:
// the first read of a kind starts an informer, and an informer that may not
// list or watch never syncs, so the read would block the reconcile for good.
// Asking first turns a missing permission into a clear status instead of a
// hang, and keeps the operator from creating what it could not delete.
package access

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ManageVerbs are what the operator needs on every kind it provisions:
// read and watch through the cache, apply, and delete on uninstall.
var ManageVerbs = []string{"get", "list", "watch", "create", "patch", "delete"}

// DefaultTTL is how long an answer is trusted. RBAC changes are rare, and
// a grant made to fix a stalled installation shows within this time.
const DefaultTTL = time.Minute

// Checker answers with SelfSubjectAccessReviews, which every authenticated
// identity may create, and remembers each answer for TTL so that steady
// reconciles cost the API server nothing.
type Checker struct {
	// Client creates the reviews; it must act as the operator itself.
	Client client.Client
	// Mapper turns a kind into the resource RBAC speaks of.
	Mapper meta.RESTMapper
	// TTL defaults to DefaultTTL.
	TTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time

	mu      sync.Mutex
	answers map[schema.GroupVersionKind]answer
}

type answer struct {
	missing []string
	at      time.Time
}

// Missing returns the verbs of ManageVerbs the operator lacks on gvk across
// all namespaces (the cache watches cluster-wide), or nil when it has them
// all. An error means the question could not be asked; it says nothing
// about the answer.
func (c *Checker) Missing(ctx context.Context, gvk schema.GroupVersionKind) ([]string, error) {
	now := c.now()
	c.mu.Lock()
	if a, ok := c.answers[gvk]; ok && now.Sub(a.at) < c.ttl() {
		c.mu.Unlock()
		return slices.Clone(a.missing), nil
	}
	c.mu.Unlock()

	mapping, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", gvk.Kind, err)
	}
	var missing []string
	for _, verb := range ManageVerbs {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Group:    mapping.Resource.Group,
				Version:  mapping.Resource.Version,
				Resource: mapping.Resource.Resource,
				Verb:     verb,
			},
		}}
		if err := c.Client.Create(ctx, review); err != nil {
			return nil, fmt.Errorf("ask whether the operator may %s %s: %w", verb, mapping.Resource.Resource, err)
		}
		if !review.Status.Allowed {
			missing = append(missing, verb)
		}
	}

	c.mu.Lock()
	if c.answers == nil {
		c.answers = map[schema.GroupVersionKind]answer{}
	}
	c.answers[gvk] = answer{missing: missing, at: now}
	c.mu.Unlock()
	return slices.Clone(missing), nil
}

func (c *Checker) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
