package inventory

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

func k8s(kind, name string) Entry {
	gvk := schema.GroupVersionKind{Version: "v1", Kind: kind}
	return Entry{ID: KubernetesID(gvk, "ns", name), Target: tenancyv1alpha1.TargetKubernetes, Kind: kind, Name: name, State: tenancyv1alpha1.ArtifactReady}
}

func so(kind, name string) Entry {
	return Entry{ID: SuperOfficeID(kind, name), Target: tenancyv1alpha1.TargetSuperOffice, Kind: kind, Name: name, State: tenancyv1alpha1.ArtifactReady}
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.Kind + "/" + e.Name
	}
	return out
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestIDsAreStableAndDistinct(t *testing.T) {
	cm := schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	cmV2 := schema.GroupVersionKind{Version: "v2", Kind: "ConfigMap"}
	if KubernetesID(cm, "a", "b") != KubernetesID(cmV2, "a", "b") {
		t.Error("a version change must keep the id")
	}
	distinct := []string{
		KubernetesID(cm, "a", "b"),
		KubernetesID(cm, "x", "b"),
		KubernetesID(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ConfigMap"}, "a", "b"),
		KubernetesID(schema.GroupVersionKind{Version: "v1", Kind: "Secret"}, "a", "b"),
		SuperOfficeID("WebPanel", "b"),
		SuperOfficeID("Button", "b"),
	}
	seen := map[string]bool{}
	for _, id := range distinct {
		if seen[id] {
			t.Errorf("id %q is not distinct", id)
		}
		seen[id] = true
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name       string
		in         []Entry
		wantApply  []string
		wantDelete []string
	}{
		{
			name:       "namespace first, superoffice after kubernetes",
			in:         []Entry{so("Webhook", "w"), k8s("ConfigMap", "c"), so("UserDefinedField", "u"), k8s("Namespace", "n"), k8s("Deployment", "d"), so("WebPanel", "p")},
			wantApply:  []string{"Namespace/n", "ConfigMap/c", "Deployment/d", "UserDefinedField/u", "WebPanel/p", "Webhook/w"},
			wantDelete: []string{"Webhook/w", "WebPanel/p", "UserDefinedField/u", "Deployment/d", "ConfigMap/c", "Namespace/n"},
		},
		{
			name:       "same kind sorts by id",
			in:         []Entry{k8s("ConfigMap", "b"), k8s("ConfigMap", "a")},
			wantApply:  []string{"ConfigMap/a", "ConfigMap/b"},
			wantDelete: []string{"ConfigMap/b", "ConfigMap/a"},
		},
		{name: "empty", in: nil, wantApply: []string{}, wantDelete: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equal(t, ids(SortForApply(tt.in)), tt.wantApply)
			equal(t, ids(SortForDelete(tt.in)), tt.wantDelete)
		})
	}
}

func TestStale(t *testing.T) {
	recorded := []Entry{k8s("Namespace", "n"), k8s("ConfigMap", "keep"), k8s("ConfigMap", "drop"), so("WebPanel", "drop")}
	desired := []string{k8s("Namespace", "n").ID, k8s("ConfigMap", "keep").ID, so("WebPanel", "new").ID}
	equal(t, ids(Stale(recorded, desired)), []string{"WebPanel/drop", "ConfigMap/drop"})
	equal(t, ids(Stale(nil, desired)), []string{})
	equal(t, ids(Stale(recorded, nil)), []string{"WebPanel/drop", "ConfigMap/keep", "ConfigMap/drop", "Namespace/n"})
}

func TestUpsertMergeRemove(t *testing.T) {
	in := []Entry{k8s("Namespace", "n"), so("WebPanel", "p")}
	updated := k8s("Namespace", "n")
	updated.State = tenancyv1alpha1.ArtifactDeleting
	out := Upsert(in, updated)
	if in[0].State != tenancyv1alpha1.ArtifactReady {
		t.Fatal("Upsert must not modify its input")
	}
	if e, _ := Find(out, updated.ID); e.State != tenancyv1alpha1.ArtifactDeleting {
		t.Fatalf("state not replaced: %+v", e)
	}
	out = Merge(out, []Entry{k8s("ConfigMap", "c"), so("UserDefinedField", "u")})
	equal(t, ids(out), []string{"Namespace/n", "ConfigMap/c", "UserDefinedField/u", "WebPanel/p"})
	out = Remove(out, k8s("ConfigMap", "c").ID)
	equal(t, ids(out), []string{"Namespace/n", "UserDefinedField/u", "WebPanel/p"})
	if _, ok := Find(out, k8s("ConfigMap", "c").ID); ok {
		t.Fatal("removed entry still found")
	}
	if AllIn(out, tenancyv1alpha1.ArtifactReady) {
		t.Fatal("AllIn must see the Deleting entry")
	}
	if !AllIn(Remove(out, updated.ID), tenancyv1alpha1.ArtifactReady) {
		t.Fatal("AllIn must be true when every entry is Ready")
	}
}
