package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

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
	// Access, when set, is asked whether the operator may manage the kinds
	// of the blueprint's extra manifests, so a missing grant shows on the
	// blueprint too, not only on each installation that meets it.
	Access AccessChecker
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

	v, err := r.judge(ctx, bp)
	if err != nil {
		return ctrl.Result{}, err // a passing failure: retry
	}
	valid := metav1.Condition{Type: tenancyv1alpha1.ConditionValid, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: "The blueprint renders for every tenant"}
	ready := metav1.Condition{Type: tenancyv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonValid,
		Message: valid.Message}
	if v.invalid != "" {
		valid.Status, valid.Reason, valid.Message = metav1.ConditionFalse, ReasonInvalid, v.invalid
	}
	if v.reason != "" {
		ready.Status, ready.Reason, ready.Message = metav1.ConditionFalse, v.reason, v.message
		meta.SetStatusCondition(&bp.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionStalled,
			Status: metav1.ConditionTrue, Reason: v.reason, Message: v.message})
	} else {
		meta.RemoveStatusCondition(&bp.Status.Conditions, tenancyv1alpha1.ConditionStalled)
	}
	meta.SetStatusCondition(&bp.Status.Conditions, valid)
	meta.SetStatusCondition(&bp.Status.Conditions, ready)
	bp.Status.ObservedGeneration = bp.Generation

	result := ctrl.Result{RequeueAfter: v.recheck}
	if equality.Semantic.DeepEqual(before.Status, bp.Status) {
		return result, nil
	}
	if err := r.Client.Status().Patch(ctx, bp, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(fmt.Errorf("patch blueprint status: %w", err))
	}
	return result, nil
}

// verdict is what is wrong with a blueprint, if anything: reason and
// message for Ready and Stalled, the render problems for Valid, and when to
// look again (a grant of permissions announces itself to nobody).
type verdict struct {
	reason, message, invalid string
	recheck                  time.Duration
}

func (r *TenantBlueprintReconciler) judge(ctx context.Context, bp *tenancyv1alpha1.TenantBlueprint) (verdict, error) {
	rendered, err := r.Renderer.RenderSample(bp)
	var invalid *blueprint.InvalidError
	switch {
	case errors.As(err, &invalid):
		return verdict{reason: ReasonInvalid, message: err.Error(), invalid: err.Error()}, nil
	case err != nil:
		return verdict{}, fmt.Errorf("validate blueprint %q: %w", bp.Name, err)
	}
	_, denied, err := sortExtraKinds(ctx, r.Access, rendered.Objects)
	if err != nil {
		return verdict{}, err
	}
	if len(denied) > 0 {
		return verdict{reason: ReasonNotPermitted, recheck: accessRecheck, message: fmt.Sprintf(
			"The operator may not manage %s; grant these verbs to its ClusterRole. Until then installations of this blueprint create nothing new",
			strings.Join(denied, "; "))}, nil
	}
	return verdict{}, nil
}

// SetupWithManager registers the reconciler.
func (r *TenantBlueprintReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("tenantblueprint").
		For(&tenancyv1alpha1.TenantBlueprint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(r)
}
