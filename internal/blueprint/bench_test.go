package blueprint

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// BenchmarkRender renders a blueprint with every section in use, the work one
// reconcile of one tenant does before it talks to anything.
func BenchmarkRender(b *testing.B) {
	bp := blueprintWith(func(s *tenancyv1alpha1.TenantBlueprintSpec) {
		s.Kubernetes.ResourceQuota = corev1.ResourceList{corev1.ResourcePods: resource.MustParse("20")}
		s.Kubernetes.LimitRange = []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}}
		s.Kubernetes.ExtraManifests = []string{
			"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {tenant: '{{ .TenantID }}', api: '{{ .WebAPIURL }}'}\n",
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\nspec:\n  selector: {matchLabels: {app: app}}\n  template:\n    metadata: {labels: {app: app}}\n    spec: {containers: [{name: app, image: 'example.invalid/app:1'}]}\n",
		}
		s.SuperOffice.WebPanels = []tenancyv1alpha1.WebPanel{{Name: "p", URL: "https://app.example.com/p?t={{ .TenantID }}", VisibleIn: "ContactArchive", Description: "Orders"}}
		s.SuperOffice.Webhooks = []tenancyv1alpha1.Webhook{{Name: "w", Events: []string{"contact.created"}}}
	})
	r := testRenderer()
	ti := testInstallation()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Render(bp, ti); err != nil {
			b.Fatal(err)
		}
	}
}
