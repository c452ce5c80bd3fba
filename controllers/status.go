package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
)

// The mark functions keep the kstatus trio consistent, so that kstatus,
// `kubectl wait --for=condition=Ready` and the phase column all agree:
// Reconciling=True reads as InProgress, Stalled=True as Failed, and Ready=True
// with neither as Current.

func markReady(ti *tenancyv1alpha1.TenantInstallation, msg string) {
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReady,
		Status: metav1.ConditionTrue, Reason: ReasonProvisioned, Message: msg})
	meta.RemoveStatusCondition(&ti.Status.Conditions, tenancyv1alpha1.ConditionReconciling)
	meta.RemoveStatusCondition(&ti.Status.Conditions, tenancyv1alpha1.ConditionStalled)
	ti.Status.Phase = tenancyv1alpha1.PhaseReady
	ti.Status.ObservedGeneration = ti.Generation
}

func markReconciling(ti *tenancyv1alpha1.TenantInstallation, reason, msg string) {
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReconciling,
		Status: metav1.ConditionTrue, Reason: reason, Message: msg})
	if !meta.IsStatusConditionPresentAndEqual(ti.Status.Conditions, tenancyv1alpha1.ConditionReady, metav1.ConditionFalse) {
		meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReady,
			Status: metav1.ConditionUnknown, Reason: reason, Message: msg})
	}
	meta.RemoveStatusCondition(&ti.Status.Conditions, tenancyv1alpha1.ConditionStalled)
	ti.Status.ObservedGeneration = ti.Generation
}

// markStalled says the installation cannot progress as it is: a person must
// change something (a blueprint, a spec, consent), or a failing step is
// being retried with backoff. Either way it reads Failed to kstatus until it
// recovers, so a failing installation never looks Current.
func markStalled(ti *tenancyv1alpha1.TenantInstallation, reason, msg string) {
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionStalled,
		Status: metav1.ConditionTrue, Reason: reason, Message: msg})
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: reason, Message: msg})
	meta.RemoveStatusCondition(&ti.Status.Conditions, tenancyv1alpha1.ConditionReconciling)
	ti.Status.Phase = tenancyv1alpha1.PhaseFailed
	ti.Status.ObservedGeneration = ti.Generation
}
