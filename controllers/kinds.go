package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/tenant-operator/tenant-operator/internal/access"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

// accessRecheck is how soon a NotPermitted installation looks again, so a
// grant is picked up without anyone touching the installation.
const accessRecheck = access.DefaultTTL

// AccessChecker says which of access.ManageVerbs the operator lacks on a kind.
type AccessChecker interface {
	Missing(ctx context.Context, gvk schema.GroupVersionKind) ([]string, error)
}

// checkExtraKinds makes sure the operator may manage every kind of extra
// manifest before it records or writes anything, and starts a drift watch
// for each kind it may. The built-in kinds are covered by the operator's own
// RBAC markers and watched from the start.
//
// Without the check, the first cached read of a kind the operator may not
// list would start an informer that never syncs and block the reconcile.
func (r *TenantInstallationReconciler) checkExtraKinds(ctx context.Context, desired []provision.Desired) (*stalledReason, error) {
	objects := make([]*unstructured.Unstructured, 0, len(desired))
	for _, d := range desired {
		if d.Object != nil {
			objects = append(objects, d.Object)
		}
	}
	allowed, denied, err := sortExtraKinds(ctx, r.Access, objects)
	if err != nil {
		return nil, err
	}
	if len(denied) > 0 {
		return &stalledReason{ReasonNotPermitted, fmt.Sprintf(
			"The operator may not manage %s, which the blueprint declares; grant these verbs to its ClusterRole. Nothing new was created",
			strings.Join(denied, "; "))}, nil
	}
	for _, gvk := range allowed {
		if err := r.kinds.watch(gvk); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// sortExtraKinds splits the kinds of objects outside the built-ins into
// those the operator may manage and, for the others, "Kind.group (missing
// verbs)". A nil checker allows everything.
func sortExtraKinds(ctx context.Context, checker AccessChecker, objects []*unstructured.Unstructured) ([]schema.GroupVersionKind, []string, error) {
	var allowed []schema.GroupVersionKind
	var denied []string
	seen := map[schema.GroupVersionKind]bool{}
	for _, o := range objects {
		gvk := o.GroupVersionKind()
		if seen[gvk] || slices.Contains(watchedKinds, gvk) {
			continue
		}
		seen[gvk] = true
		if checker != nil {
			missing, err := checker.Missing(ctx, gvk)
			if err != nil {
				return nil, nil, fmt.Errorf("check the operator's permissions: %w", err)
			}
			if len(missing) > 0 {
				denied = append(denied, fmt.Sprintf("%s (missing %s)", gvk.GroupKind(), strings.Join(missing, ", ")))
				continue
			}
		}
		allowed = append(allowed, gvk)
	}
	return allowed, denied, nil
}

// extraKindWatches adds a drift watch for an extra-manifest kind the first
// time an installation declares it, so a hand edit of any kind is repaired
// as it happens, not at the next resync. The informer behind the watch is
// the one the provisioner reads through anyway.
type extraKindWatches struct {
	mu       sync.Mutex
	ctrl     controller.Controller
	cache    cache.Cache
	pred     predicate.Predicate
	watching map[schema.GroupVersionKind]bool
}

func (w *extraKindWatches) start(c controller.Controller, ca cache.Cache, pred predicate.Predicate) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ctrl, w.cache, w.pred = c, ca, pred
	w.watching = map[schema.GroupVersionKind]bool{}
}

// watch is a no-op for a reconciler that runs without a controller (tests
// that drive it by hand) and for a kind already watched.
func (w *extraKindWatches) watch(gvk schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ctrl == nil || w.watching[gvk] {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	src := source.Kind[client.Object](w.cache, u, handler.EnqueueRequestsFromMapFunc(installationOfArtifact), w.pred)
	if err := w.ctrl.Watch(src); err != nil {
		return fmt.Errorf("watch %s for drift: %w", gvk.GroupKind(), err)
	}
	w.watching[gvk] = true
	return nil
}
