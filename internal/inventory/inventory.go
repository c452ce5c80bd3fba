// Package inventory is the provisioned list: stable ids for artifacts, the
// diff between what is recorded and what the blueprint wants now, merging
// results back, and the order to apply in (and its reverse to delete in).
//
// The inventory is the single source of truth for what the operator owns:
// only what it lists is ever pruned or removed.
package inventory

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// Entry is one artifact of the provisioned list.
type Entry = tenancyv1alpha1.ProvisionedArtifact

// KubernetesID is the stable id of a Kubernetes object: target, group, kind,
// namespace and name. The version is left out so an apiVersion bump of the
// same kind keeps its identity.
func KubernetesID(gvk schema.GroupVersionKind, namespace, name string) string {
	return fmt.Sprintf("%s:%s:%s:%s:%s", tenancyv1alpha1.TargetKubernetes, gvk.Group, gvk.Kind, namespace, name)
}

// SuperOfficeID is the stable id of an artifact in the customer's tenant,
// built from its deterministic identity (name, ProgId, section/key).
func SuperOfficeID(kind, identity string) string {
	return fmt.Sprintf("%s:%s:%s", tenancyv1alpha1.TargetSuperOffice, kind, identity)
}

// kubernetesRank orders Kubernetes kinds for apply: the namespace first,
// then the objects that bound or configure what follows, then the rest.
// Deletion walks the same order backwards, so the namespace goes last.
var kubernetesRank = map[string]int{
	"Namespace":      0,
	"ResourceQuota":  1,
	"LimitRange":     2,
	"NetworkPolicy":  3,
	"ServiceAccount": 4,
	"Role":           5,
	"RoleBinding":    6,
	"Secret":         7,
	"ConfigMap":      8,
}

// superOfficeRank orders SuperOffice kinds: fields first (panels and buttons
// may show them), webhooks last so no event arrives before the rest exists.
var superOfficeRank = map[string]int{
	"UserDefinedField": 0,
	"Preference":       1,
	"WebPanel":         2,
	"Button":           3,
	"Webhook":          4,
}

// rank returns the sort key of an entry. Kubernetes artifacts come before
// SuperOffice ones on apply, so the tenant namespace exists before anything
// refers to it; on uninstall the reverse removes the SuperOffice side first.
func rank(e Entry) (int, int) {
	if e.Target == tenancyv1alpha1.TargetKubernetes {
		if r, ok := kubernetesRank[e.Kind]; ok {
			return 0, r
		}
		return 0, len(kubernetesRank)
	}
	if r, ok := superOfficeRank[e.Kind]; ok {
		return 1, r
	}
	return 1, len(superOfficeRank)
}

func compare(a, b Entry) int {
	at, ar := rank(a)
	bt, br := rank(b)
	if at != bt {
		return at - bt
	}
	if ar != br {
		return ar - br
	}
	return strings.Compare(a.ID, b.ID)
}

// SortForApply returns a copy of entries in apply order.
func SortForApply(entries []Entry) []Entry {
	out := slices.Clone(entries)
	slices.SortStableFunc(out, compare)
	return out
}

// SortForDelete returns a copy of entries in delete order: the reverse of apply.
func SortForDelete(entries []Entry) []Entry {
	out := SortForApply(entries)
	slices.Reverse(out)
	return out
}

// Stale returns the recorded entries the desired set no longer has, in
// delete order: what a blueprint change must prune.
func Stale(recorded []Entry, desiredIDs []string) []Entry {
	want := make(map[string]bool, len(desiredIDs))
	for _, id := range desiredIDs {
		want[id] = true
	}
	var out []Entry
	for _, e := range recorded {
		if !want[e.ID] {
			out = append(out, e)
		}
	}
	return SortForDelete(out)
}

// Find returns the entry with id, if recorded.
func Find(entries []Entry, id string) (Entry, bool) {
	for _, e := range entries {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}

// Upsert returns entries with e recorded: replacing the entry of the same id
// or adding it, keeping apply order.
func Upsert(entries []Entry, e Entry) []Entry {
	out := slices.Clone(entries)
	for i := range out {
		if out[i].ID == e.ID {
			out[i] = e
			return out
		}
	}
	return SortForApply(append(out, e))
}

// Remove returns entries without the entry of id.
func Remove(entries []Entry, id string) []Entry {
	return slices.DeleteFunc(slices.Clone(entries), func(e Entry) bool { return e.ID == id })
}

// Merge records every entry of updates into entries (see Upsert).
func Merge(entries []Entry, updates []Entry) []Entry {
	out := slices.Clone(entries)
	for _, u := range updates {
		out = Upsert(out, u)
	}
	return out
}

// AllIn reports whether every entry is in state s.
func AllIn(entries []Entry, s tenancyv1alpha1.ArtifactState) bool {
	for _, e := range entries {
		if e.State != s {
			return false
		}
	}
	return true
}
