package provision

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// Kubernetes applies rendered objects with server-side apply and removes
// them again. Reads come from the label-selected cache (Client); a live read
// (APIReader) is made only where the cache cannot be trusted: before taking
// a name that the cache does not show, and to verify removal.
type Kubernetes struct {
	Client    client.Client
	APIReader client.Reader
}

var _ Provisioner = (*Kubernetes)(nil)

// Apply implements Provisioner.
func (k *Kubernetes) Apply(ctx context.Context, t Tenant, d Desired) (tenancyv1alpha1.ProvisionedArtifact, error) {
	entry := d.Entry
	if d.Object == nil {
		return entry, fmt.Errorf("%s: no rendered object", entry.ID)
	}
	owner := installationLabel(t)

	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(d.Object.GroupVersionKind())
	key := client.ObjectKeyFromObject(d.Object)
	err := k.Client.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		// The cache holds only objects with our labels: an object of the
		// same name without them is invisible there, so ask the API server
		// before a create that would silently take it over.
		err = k.APIReader.Get(ctx, key, live)
	}
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return entry, fmt.Errorf("read %s: %w", describe(d.Object), err)
	default:
		if got := live.GetLabels()[tenancyv1alpha1.InstallationLabel]; got != owner {
			entry.State = tenancyv1alpha1.ArtifactFailed
			entry.Message = fmt.Sprintf("%s already exists and is not owned by this installation; it is left untouched", describe(d.Object))
			return entry, nil
		}
		if live.GetDeletionTimestamp() != nil {
			// A recreate must wait until the old object is really gone.
			entry.State = tenancyv1alpha1.ArtifactPending
			entry.Message = fmt.Sprintf("%s is being deleted; it is recreated once it is gone", describe(d.Object))
			return entry, nil
		}
		if Contains(live.Object, d.Object.Object) {
			entry.State = tenancyv1alpha1.ArtifactReady
			entry.Message = ""
			return entry, nil
		}
	}

	err = k.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(d.Object.DeepCopy()),
		client.FieldOwner(tenancyv1alpha1.FieldOwner), client.ForceOwnership)
	if err != nil {
		return entry, fmt.Errorf("apply %s: %w", describe(d.Object), err)
	}
	entry.State = tenancyv1alpha1.ArtifactReady
	entry.Message = ""
	return entry, nil
}

// Delete implements Provisioner.
func (k *Kubernetes) Delete(ctx context.Context, t Tenant, e tenancyv1alpha1.ProvisionedArtifact) (bool, string, error) {
	gv, err := schema.ParseGroupVersion(e.APIVersion)
	if err != nil {
		return false, "", fmt.Errorf("inventory entry %s: bad apiVersion: %w", e.ID, err)
	}
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(gv.WithKind(e.Kind))
	key := types.NamespacedName{Namespace: e.Namespace, Name: e.Name}
	// Removal is verified against the API server, never the cache, which
	// may lag behind a delete.
	if err := k.APIReader.Get(ctx, key, live); err != nil {
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return false, "", fmt.Errorf("read %s %s: %w", e.Kind, key, err)
	}
	if live.GetLabels()[tenancyv1alpha1.InstallationLabel] != installationLabel(t) {
		// Recorded by us but no longer ours (replaced by someone else):
		// never delete what does not carry our labels.
		return true, "", nil
	}
	if live.GetDeletionTimestamp() == nil {
		uid := live.GetUID()
		err := k.Client.Delete(ctx, live, client.Preconditions{UID: &uid}, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			return false, "", fmt.Errorf("delete %s %s: %w", e.Kind, key, err)
		}
		if err == nil && len(live.GetFinalizers()) == 0 && e.Kind != "Namespace" {
			// Without finalizers the delete is immediate; confirm it.
			if err := k.APIReader.Get(ctx, key, live); apierrors.IsNotFound(err) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%s %s is being deleted", e.Kind, key), nil
	}
	return false, blockedReason(e, live), nil
}

// blockedReason says in words what keeps an object that is being deleted.
func blockedReason(e tenancyv1alpha1.ProvisionedArtifact, live *unstructured.Unstructured) string {
	name := fmt.Sprintf("%s %s", e.Kind, client.ObjectKeyFromObject(live))
	if e.Kind == "Namespace" {
		conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
		var msgs []string
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["status"] == "True" {
				if s, _ := m["message"].(string); s != "" {
					msgs = append(msgs, s)
				}
			}
		}
		if len(msgs) > 0 {
			return fmt.Sprintf("%s is terminating: %s", name, strings.Join(msgs, "; "))
		}
		if fin := live.GetFinalizers(); len(fin) > 0 {
			return fmt.Sprintf("%s is terminating (finalizers: %s)", name, strings.Join(fin, ", "))
		}
		return fmt.Sprintf("%s is terminating", name)
	}
	if fin := live.GetFinalizers(); len(fin) > 0 {
		return fmt.Sprintf("%s is held by finalizers %s", name, strings.Join(fin, ", "))
	}
	return fmt.Sprintf("%s is being deleted", name)
}

func installationLabel(t Tenant) string {
	return tenancyv1alpha1.InstallationLabelValue(t.Installation.Namespace, t.Installation.Name)
}

func describe(u *unstructured.Unstructured) string {
	if ns := u.GetNamespace(); ns != "" {
		return fmt.Sprintf("%s %s/%s", u.GetKind(), ns, u.GetName())
	}
	return fmt.Sprintf("%s %s", u.GetKind(), u.GetName())
}

// Contains reports whether every field of want is present with an equal
// value in live. Fields the API server adds (defaults, status, managed
// fields) are ignored, so an unchanged object compares equal and needs no
// write, while a field changed by hand does not. Quantities compare by value
// ("1Gi" equals "1024Mi") because the server normalises them.
func Contains(live, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			lv, ok := l[k]
			if !ok {
				if isEmpty(wv) {
					continue
				}
				return false
			}
			if !Contains(lv, wv) {
				return false
			}
		}
		return true
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return ok && len(w) == 0 && len(l) == 0
		}
		for i := range w {
			if !Contains(l[i], w[i]) {
				return false
			}
		}
		return true
	case string:
		l, ok := live.(string)
		if !ok {
			return false
		}
		if l == w {
			return true
		}
		lq, err1 := resource.ParseQuantity(l)
		wq, err2 := resource.ParseQuantity(w)
		return err1 == nil && err2 == nil && lq.Cmp(wq) == 0
	case int64, float64, int, int32:
		return numEqual(live, want)
	default:
		return reflect.DeepEqual(live, want)
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

func numEqual(a, b any) bool {
	af, ok1 := toFloat(a)
	bf, ok2 := toFloat(b)
	return ok1 && ok2 && af == bf
}

func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}
