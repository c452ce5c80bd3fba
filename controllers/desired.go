package controllers

import (
	"fmt"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/inventory"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

// desiredArtifacts turns a rendered blueprint into the artifacts to apply,
// each with its stable inventory id, in apply order.
func desiredArtifacts(r *blueprint.Rendered) []provision.Desired {
	var out []provision.Desired
	for _, o := range r.Objects {
		gvk := o.GroupVersionKind()
		out = append(out, provision.Desired{
			Entry: tenancyv1alpha1.ProvisionedArtifact{
				ID:         inventory.KubernetesID(gvk, o.GetNamespace(), o.GetName()),
				Target:     tenancyv1alpha1.TargetKubernetes,
				Kind:       gvk.Kind,
				APIVersion: gvk.GroupVersion().String(),
				Namespace:  o.GetNamespace(),
				Name:       o.GetName(),
			},
			Object: o,
		})
	}
	so := r.SuperOffice
	for _, f := range so.UserDefinedFields {
		out = append(out, soDesired(provision.KindUserDefinedField, f.Entity+":"+f.ProgID, f.ProgID, f))
	}
	for _, p := range so.Preferences {
		id := fmt.Sprintf("%s/%s/%s", p.Section, p.Key, p.Level)
		out = append(out, soDesired(provision.KindPreference, id, p.Section+"/"+p.Key, p))
	}
	for _, w := range so.WebPanels {
		out = append(out, soDesired(provision.KindWebPanel, w.Name, w.Name, w))
	}
	for _, b := range so.Buttons {
		out = append(out, soDesired(provision.KindButton, b.Name, b.Name, b))
	}
	for _, w := range so.Webhooks {
		out = append(out, soDesired(provision.KindWebhook, w.Name, w.Name, w))
	}
	return out
}

func soDesired(kind, identity, name string, spec any) provision.Desired {
	return provision.Desired{
		Entry: tenancyv1alpha1.ProvisionedArtifact{
			ID:     inventory.SuperOfficeID(kind, identity),
			Target: tenancyv1alpha1.TargetSuperOffice,
			Kind:   kind,
			Name:   name,
		},
		Spec: spec,
	}
}
