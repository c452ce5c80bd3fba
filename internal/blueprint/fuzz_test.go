package blueprint

import (
	"errors"
	"strings"
	"testing"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

func FuzzRenderExtraManifest(f *testing.F) {
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c-{{ .TenantIDLower }}\n  labels: {a: b}\ndata:\n  t: {{ quote .TenantID }}\n")
	f.Add("apiVersion: v1\nkind: [ConfigMap\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Missing }}}\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {x: " + strings.Repeat("y", MaxManifestBytes) + "}\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: other}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: b}\n")
	f.Add("apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: r, namespace: '{{ .Namespace }}'}\nrules: []\n")
	f.Add("a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n")
	f.Add("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, labels: null}\n")

	r := Renderer{Mapper: NewStaticMapper(), AppName: "Acme App"}
	ti := testInstallation()
	f.Fuzz(func(t *testing.T, manifest string) {
		bp := &tenancyv1alpha1.TenantBlueprint{}
		bp.Spec.Kubernetes.ExtraManifests = []string{manifest}
		got, err := r.Render(bp, ti)
		if err != nil {
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error is not an *InvalidError: %v", err)
			}
			if got != nil {
				t.Fatal("objects returned with an error")
			}
			return
		}
		if got.Namespace != tenantNS || len(got.Objects) != 5 {
			t.Fatalf("namespace %q, %d objects", got.Namespace, len(got.Objects))
		}
		checkClean(t, got.Objects)
		// The rendered objects must survive the deep copies the client makes.
		for _, o := range got.Objects {
			_ = o.DeepCopy()
		}
	})
}
