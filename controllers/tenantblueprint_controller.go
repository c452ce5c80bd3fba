package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
)

// Blueprint condition reasons.
const (
	ReasonValid   = "Valid"
	ReasonInvalid = "Invalid"
)

// TenantBlueprintReconciler validates blueprints, so a mistake shows on the
// blueprint itself (Valid=False, naming the field) before any tenant meets it.
type TenantBlueprintReconciler struct {
	Client   client.Client
	Renderer blueprint.Renderer
}

// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantblueprints,verbs=get;list;watch
// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantblueprints/status,verbs=get;update;patch

// Reconcile validates one blueprint and records the verdict.
func (r *TenantBlueprintReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	bp := &tenancyv1alpha1.TenantBlueprint{}
	if err := r.Client.Get(ctx, req.NamespacedName, bp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := bp.DeepCopy()

	valid := metav1.Condition{Type: tenancyv1alpha1.ConditionValid, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "The blueprint renders for every tenant"}
	ready := metav1.Condition{Type: tenancyv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: valid.Message}
	err := r.Renderer.Validate(bp)
	var invalid *blueprint.InvalidError
	if err != nil && !errors.As(err, &invalid) {
		return ctrl.Result{}, fmt.Errorf("validate blueprint %q: %w", bp.Name, err) // passing failure: retry
	}
	if err != nil {
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, ReasonInvalid, err.Error()
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, ReasonInvalid, err.Error()
		meta.SetStatusCondition(&bp.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionStalled,
			Status: metav1.ConditionTrue, Reason: ReasonInvalid, Message: err.Error()})
	} else {
		meta.RemoveStatusCondition(&bp.Status.Conditions, tenancyv1alpha1.ConditionStalled)
	}
	meta.SetStatusCondition(&bp.Status.Conditions, valid)
	meta.SetStatusCondition(&bp.Status.Conditions, ready)
	bp.Status.ObservedGeneration = bp.Generation

	if equality.Semantic.DeepEqual(before.Status, bp.Status) {
		return ctrl.Result{}, nil
	}
	if err := r.Client.Status().Patch(ctx, bp, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patch blueprint status: %w", err))
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the reconciler.
func (r *TenantBlueprintReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("tenantblueprint").
		For(&tenancyv1alpha1.TenantBlueprint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
