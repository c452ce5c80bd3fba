package blueprint

import (
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// builtinObjects makes the objects every tenant gets, in apply order.
func builtinObjects(ns string, kb *tenancyv1alpha1.KubernetesBlueprint, v Values, ti *tenancyv1alpha1.TenantInstallation, labels map[string]string) ([]*unstructured.Unstructured, error) {
	meta := func(name string) metav1.ObjectMeta {
		m := metav1.ObjectMeta{Name: name, Labels: maps.Clone(labels)}
		if name != ns {
			m.Namespace = ns
		}
		return m
	}
	objs := []runtime.Object{&corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: meta(ns),
	}}
	if len(kb.ResourceQuota) > 0 {
		objs = append(objs, &corev1.ResourceQuota{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ResourceQuota"},
			ObjectMeta: meta(ResourceQuotaName),
			Spec:       corev1.ResourceQuotaSpec{Hard: kb.ResourceQuota.DeepCopy()},
		})
	}
	if len(kb.LimitRange) > 0 {
		lr := &corev1.LimitRange{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "LimitRange"},
			ObjectMeta: meta(LimitRangeName),
		}
		for i := range kb.LimitRange {
			lr.Spec.Limits = append(lr.Spec.Limits, *kb.LimitRange[i].DeepCopy())
		}
		objs = append(objs, lr)
	}
	if kb.NetworkIsolation == nil || *kb.NetworkIsolation {
		// Selecting every pod with an Ingress policy denies all ingress but
		// what the rule admits: traffic from the tenant's own namespace.
		objs = append(objs, &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: meta(NetworkPolicyName),
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{{
						NamespaceSelector: &metav1.LabelSelector{
							MatchLabels: map[string]string{corev1.LabelMetadataName: ns},
						},
					}},
				}},
			},
		})
	}
	objs = append(objs,
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: meta(ServiceAccountName),
		},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(ConfigMapName),
			Data: map[string]string{
				"tenantID":     v.TenantID,
				"environment":  v.Environment,
				"webAPIURL":    v.WebAPIURL,
				"netServerURL": v.NetServerURL,
				"installation": tenancyv1alpha1.InstallationLabelValue(ti.Namespace, ti.Name),
			},
		},
	)

	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// toUnstructured converts a typed object into a clean apply configuration:
// the converter writes "creationTimestamp": null and empty "status" and
// "spec" maps, which would make server-side apply claim fields we never meant
// to own.
func toUnstructured(o runtime.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, fmt.Errorf("convert %s to unstructured: %w", o.GetObjectKind().GroupVersionKind().Kind, err)
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		if ts, ok := md["creationTimestamp"]; ok && ts == nil {
			delete(md, "creationTimestamp")
		}
	}
	for _, k := range []string{"status", "spec"} {
		if s, ok := m[k].(map[string]any); ok && len(s) == 0 {
			delete(m, k)
		}
	}
	// The empty pod selector means "every pod"; keep it explicit.
	if m["kind"] == "NetworkPolicy" {
		if spec, ok := m["spec"].(map[string]any); ok {
			if _, ok := spec["podSelector"]; !ok {
				spec["podSelector"] = map[string]any{}
			}
		}
	}
	return &unstructured.Unstructured{Object: m}, nil
}
