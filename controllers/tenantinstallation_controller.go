// Package controllers holds the reconcile loops: thin, phased, one file per kind.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	tenancyv1alpha1 "github.com/tenant-operator/tenant-operator/api/v1alpha1"
	"github.com/tenant-operator/tenant-operator/internal/blueprint"
	"github.com/tenant-operator/tenant-operator/internal/inventory"
	"github.com/tenant-operator/tenant-operator/internal/provision"
)

// blueprintIndex indexes installations by the blueprint they use, so a
// blueprint change finds its installations in the cache.
const blueprintIndex = "spec.blueprint"

// Condition reasons.
const (
	ReasonProvisioning       = "Provisioning"
	ReasonProvisioned        = "Provisioned"
	ReasonApplyFailed        = "ApplyFailed"
	ReasonBlueprintNotFound  = "BlueprintNotFound"
	ReasonInvalidBlueprint   = "InvalidBlueprint"
	ReasonThrottled          = "Throttled"
	ReasonNotThrottled       = "NotThrottled"
	ReasonCredentialsRefused = "CredentialsRefused"
	ReasonCredentialsOK      = "CredentialsAccepted"
	ReasonSuspended          = "Suspended"
	ReasonUninstalling       = "Uninstalling"
	ReasonDeletionBlocked    = "DeletionBlocked"
	ReasonPruning            = "Pruning"
	// ReasonNotPermitted: the blueprint declares a kind the operator's RBAC
	// does not cover.
	ReasonNotPermitted = "NotPermitted"
)

// TenantInstallationReconciler provisions what an installation's blueprint
// declares, records it in status.provisioned and removes it all on delete.
type TenantInstallationReconciler struct {
	// Client reads from the label-selected cache and writes to the API server.
	Client client.Client
	// APIReader reads the API server directly, to verify removal.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Renderer  blueprint.Renderer
	// Provisioners apply and remove artifacts; Kubernetes is always set,
	// SuperOffice kinds when the SuperOffice side is configured.
	Provisioners provision.Registry
	// Environment, when set, limits this instance to installations of one
	// SuperOffice environment, so sod, stage and online instances can share a cluster.
	Environment string
	// ResyncInterval re-checks artifacts that no watch covers (the SuperOffice side).
	ResyncInterval time.Duration
	// DeletionTimeout is how long removal is retried before the installation
	// reports Stalled; it keeps retrying, slower, until removal or release.
	DeletionTimeout time.Duration
	// MaxConcurrentReconciles bounds the load on SuperOffice and the API server.
	MaxConcurrentReconciles int
	// ReconcileTimeout bounds one reconcile, so no single installation can
	// hold a worker for good.
	ReconcileTimeout time.Duration
	// Access, when set, is asked whether the operator may manage each kind
	// of extra manifest before the first write of it. Nil skips the check,
	// for tests that drive the reconciler by hand as an administrator.
	Access AccessChecker

	kinds extraKindWatches
	// lastWrite holds, per installation, the resourceVersion of this
	// reconciler's last write to it (see freshest).
	lastWrite sync.Map
}

// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantinstallations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantinstallations/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tenancy.tenant-operator.io,resources=tenantinstallations/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces;configmaps;serviceaccounts;resourcequotas;limitranges,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=selfsubjectaccessreviews,verbs=create

// Reconcile reads like the story it tells: get, finalizer, deletion, phases,
// one status patch.
func (r *TenantInstallationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	ti, err := r.freshest(ctx, req.NamespacedName)
	if err != nil || ti == nil {
		return ctrl.Result{}, err
	}
	if r.Environment != "" && ti.Spec.Environment != r.Environment {
		return ctrl.Result{}, nil
	}

	before := ti.DeepCopy()
	usage := usageOf(ti)
	defer func() {
		if !equality.Semantic.DeepEqual(usage, usageOf(before)) {
			ti.Status.Usage = usage
		}
		if err := r.patchStatus(ctx, before, ti); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, err})
		}
	}()

	if !ti.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, ti, usage)
	}

	// The finalizer goes on before anything exists outside the cluster.
	if !controllerutil.ContainsFinalizer(ti, tenancyv1alpha1.Finalizer) {
		patch := client.MergeFrom(ti.DeepCopy())
		controllerutil.AddFinalizer(ti, tenancyv1alpha1.Finalizer)
		if err := r.Client.Patch(ctx, ti, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
		r.wrote(ti)
		before.Finalizers = ti.Finalizers
		markReconciling(ti, ReasonProvisioning, "Provisioning is starting")
		ti.Status.Phase = tenancyv1alpha1.PhasePending
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}

	if ti.Spec.Suspend {
		ti.Status.Phase = tenancyv1alpha1.PhaseSuspended
		meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReconciling,
			Status: metav1.ConditionFalse, Reason: ReasonSuspended, Message: "Suspended: no changes are made until spec.suspend is false"})
		ti.Status.ObservedGeneration = ti.Generation
		return ctrl.Result{}, nil
	}

	return r.reconcileNormal(ctx, ti, usage)
}

// reconcileNormal renders the blueprint, records intent, applies, prunes.
func (r *TenantInstallationReconciler) reconcileNormal(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, usage *tenancyv1alpha1.Usage) (ctrl.Result, error) {
	ti.Status.LastHandledReconcileAt = ti.Annotations[tenancyv1alpha1.ReconcileRequestAnnotation]

	desired, bpGeneration, stalled, err := r.render(ctx, ti)
	if err != nil {
		return ctrl.Result{}, err
	}
	if stalled != nil {
		markStalled(ti, stalled.reason, stalled.message)
		return ctrl.Result{}, nil
	}

	// Nothing is recorded for a kind the operator may not manage: it could
	// neither make nor remove it.
	if stalled, err := r.checkExtraKinds(ctx, desired); err != nil || stalled != nil {
		if stalled != nil {
			markStalled(ti, stalled.reason, stalled.message)
			return ctrl.Result{RequeueAfter: accessRecheck}, nil
		}
		return ctrl.Result{}, err
	}

	// Record intent first: every artifact about to be made is listed as
	// Pending before it is created, so a crash in between leaves a record
	// that the next reconcile adopts and an uninstall removes.
	if added := recordIntent(ti, desired); added > 0 {
		markReconciling(ti, ReasonProvisioning, fmt.Sprintf("Provisioning %d new artifacts", added))
		ti.Status.Phase = tenancyv1alpha1.PhaseProvisioning
		return ctrl.Result{RequeueAfter: time.Millisecond}, nil
	}

	tenant := provision.Tenant{Installation: ti, Usage: usage}
	res, err := r.applyAll(ctx, ti, tenant, desired)
	if res.throttled != nil || res.credentials != nil {
		return res.result, nil
	}

	wanted := make([]string, len(desired))
	for i, d := range desired {
		wanted[i] = d.Entry.ID
	}
	pruning, pruneErr := r.prune(ctx, ti, tenant, inventory.Stale(ti.Status.Provisioned, wanted))
	if pruneErr != nil {
		err = errors.Join(err, pruneErr)
	}

	ti.Status.ArtifactCount = len(ti.Status.Provisioned)
	switch {
	case err != nil:
		markStalled(ti, ReasonApplyFailed, err.Error())
		return ctrl.Result{}, err
	case pruning > 0 || !inventory.AllIn(ti.Status.Provisioned, tenancyv1alpha1.ArtifactReady):
		markReconciling(ti, ReasonPruning, waitingMessage(ti.Status.Provisioned))
		ti.Status.Phase = tenancyv1alpha1.PhaseProvisioning
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	ti.Status.BlueprintGeneration = bpGeneration
	markReady(ti, fmt.Sprintf("%d artifacts provisioned", len(ti.Status.Provisioned)))
	return ctrl.Result{RequeueAfter: jittered(r.ResyncInterval)}, nil
}

type stalledReason struct{ reason, message string }

// render returns the desired artifacts, or why there are none: a stalled
// reason that only a person can fix, or an error worth retrying (a passing
// API or discovery failure).
func (r *TenantInstallationReconciler) render(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation) ([]provision.Desired, int64, *stalledReason, error) {
	bp := &tenancyv1alpha1.TenantBlueprint{}
	name := blueprintName(ti)
	if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, bp); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, 0, &stalledReason{ReasonBlueprintNotFound, fmt.Sprintf("TenantBlueprint %q does not exist; create it or set spec.blueprint", name)}, nil
		}
		return nil, 0, nil, fmt.Errorf("read TenantBlueprint %q: %w", name, err)
	}
	rendered, err := r.Renderer.Render(bp, ti)
	var invalid *blueprint.InvalidError
	switch {
	case errors.As(err, &invalid):
		return nil, 0, &stalledReason{ReasonInvalidBlueprint, fmt.Sprintf("TenantBlueprint %q is invalid, nothing was changed: %v", name, err)}, nil
	case err != nil:
		return nil, 0, nil, fmt.Errorf("render TenantBlueprint %q: %w", name, err)
	}
	ti.Status.Namespace = rendered.Namespace
	return desiredArtifacts(rendered), bp.Generation, nil, nil
}

// recordIntent adds a Pending entry for every desired artifact not yet
// recorded and returns how many it added.
func recordIntent(ti *tenancyv1alpha1.TenantInstallation, desired []provision.Desired) int {
	added := 0
	for _, d := range desired {
		if _, ok := inventory.Find(ti.Status.Provisioned, d.Entry.ID); ok {
			continue
		}
		e := d.Entry
		e.State = tenancyv1alpha1.ArtifactPending
		ti.Status.Provisioned = inventory.Upsert(ti.Status.Provisioned, e)
		added++
	}
	ti.Status.ArtifactCount = len(ti.Status.Provisioned)
	return added
}

type applyResult struct {
	result      ctrl.Result
	throttled   *provision.ThrottledError
	credentials *provision.CredentialsError
}

// applyAll applies each desired artifact in order and records the outcome.
// A throttle or refused credentials stops the pass: going on would only
// meet the same answer.
func (r *TenantInstallationReconciler) applyAll(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, tenant provision.Tenant, desired []provision.Desired) (applyResult, error) {
	var errs []error
	throttledBefore := meta.IsStatusConditionTrue(ti.Status.Conditions, tenancyv1alpha1.ConditionThrottled)
	for _, d := range desired {
		p, err := r.Provisioners.For(d.Entry.Target, d.Entry.Kind)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		recorded, _ := inventory.Find(ti.Status.Provisioned, d.Entry.ID)
		d.Entry.RemoteID = recorded.RemoteID
		entry, err := p.Apply(ctx, tenant, d)
		if t, ok := provision.AsThrottled(err); ok {
			return r.throttled(ti, t), nil
		}
		if c, ok := provision.AsCredentials(err); ok {
			return r.credentialsRefused(ti, c), nil
		}
		if err != nil {
			entry = d.Entry
			entry.RemoteID = recorded.RemoteID
			entry.State = tenancyv1alpha1.ArtifactFailed
			entry.Message = err.Error()
			errs = append(errs, err)
		}
		ti.Status.Provisioned = inventory.Upsert(ti.Status.Provisioned, entry)
		if entry.State == tenancyv1alpha1.ArtifactFailed && err == nil {
			errs = append(errs, errors.New(entry.Message))
		}
	}
	if throttledBefore {
		meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionThrottled,
			Status: metav1.ConditionFalse, Reason: ReasonNotThrottled, Message: "SuperOffice accepts requests again"})
	}
	if len(r.Provisioners.SuperOffice) > 0 && hasSuperOffice(desired) {
		meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionCredentialsValid,
			Status: metav1.ConditionTrue, Reason: ReasonCredentialsOK, Message: "SuperOffice accepted the app's system user"})
	}
	return applyResult{}, errors.Join(errs...)
}

func (r *TenantInstallationReconciler) throttled(ti *tenancyv1alpha1.TenantInstallation, t *provision.ThrottledError) applyResult {
	until := time.Now().Add(t.RetryAfter).UTC().Format(time.RFC3339)
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionThrottled,
		Status: metav1.ConditionTrue, Reason: ReasonThrottled,
		Message: fmt.Sprintf("Requests to SuperOffice are being held back (%s); provisioning continues at %s", t.Reason, until)})
	markReconciling(ti, ReasonThrottled, "Waiting for the SuperOffice request limit to pass; continues at "+until)
	ti.Status.Phase = tenancyv1alpha1.PhaseThrottled
	ti.Status.ArtifactCount = len(ti.Status.Provisioned)
	return applyResult{result: ctrl.Result{RequeueAfter: t.RetryAfter}, throttled: t}
}

func (r *TenantInstallationReconciler) credentialsRefused(ti *tenancyv1alpha1.TenantInstallation, c *provision.CredentialsError) applyResult {
	msg := c.Message
	if c.ReconsentURL != "" {
		msg += "; an administrator can grant access again at " + c.ReconsentURL
	}
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionCredentialsValid,
		Status: metav1.ConditionFalse, Reason: ReasonCredentialsRefused, Message: msg})
	markStalled(ti, ReasonCredentialsRefused, msg)
	ti.Status.ArtifactCount = len(ti.Status.Provisioned)
	return applyResult{result: ctrl.Result{RequeueAfter: time.Minute}, credentials: c}
}

// prune removes recorded artifacts the blueprint no longer wants. It only
// ever touches what the inventory lists.
func (r *TenantInstallationReconciler) prune(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, tenant provision.Tenant, stale []inventory.Entry) (int, error) {
	remaining := 0
	var errs []error
	for _, e := range stale {
		gone, reason, err := r.remove(ctx, tenant, e)
		switch {
		case err != nil:
			errs = append(errs, err)
			e.State, e.Message = tenancyv1alpha1.ArtifactFailed, err.Error()
		case gone:
			ti.Status.Provisioned = inventory.Remove(ti.Status.Provisioned, e.ID)
			r.Recorder.Eventf(ti, nil, corev1.EventTypeNormal, "Pruned", "Prune", "Removed %s %s: the blueprint no longer declares it", e.Kind, e.Name)
			continue
		default:
			e.State, e.Message = tenancyv1alpha1.ArtifactDeleting, reason
		}
		remaining++
		ti.Status.Provisioned = inventory.Upsert(ti.Status.Provisioned, e)
	}
	return remaining, errors.Join(errs...)
}

func (r *TenantInstallationReconciler) remove(ctx context.Context, tenant provision.Tenant, e inventory.Entry) (bool, string, error) {
	p, err := r.Provisioners.For(e.Target, e.Kind)
	if err != nil {
		return false, "", err
	}
	return p.Delete(ctx, tenant, e)
}

// reconcileDelete removes every recorded artifact in reverse order, waiting
// for each to be really gone, then releases the finalizer. It never waits
// silently: what blocks is named in the conditions, and the release
// annotation lets the platform team give up deliberately.
func (r *TenantInstallationReconciler) reconcileDelete(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation, usage *tenancyv1alpha1.Usage) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(ti, tenancyv1alpha1.Finalizer) {
		return ctrl.Result{}, nil
	}
	ti.Status.Phase = tenancyv1alpha1.PhaseUninstalling

	switch {
	case ti.Spec.DeletionPolicy == tenancyv1alpha1.DeletionPolicyOrphan:
		r.Recorder.Eventf(ti, nil, corev1.EventTypeNormal, "Orphaned", "Uninstall", "deletionPolicy is Orphan: %d artifacts left in place", len(ti.Status.Provisioned))
		return ctrl.Result{}, r.releaseFinalizer(ctx, ti)
	case ti.Annotations[tenancyv1alpha1.ReleaseAnnotation] == "true":
		if len(ti.Status.Provisioned) > 0 {
			r.Recorder.Eventf(ti, nil, corev1.EventTypeWarning, "Released", "Uninstall",
				"Finalizer released by the %s annotation; left behind: %s", tenancyv1alpha1.ReleaseAnnotation, listEntries(ti.Status.Provisioned))
		}
		return ctrl.Result{}, r.releaseFinalizer(ctx, ti)
	}

	tenant := provision.Tenant{Installation: ti, Usage: usage}
	for _, e := range inventory.SortForDelete(ti.Status.Provisioned) {
		gone, reason, err := r.remove(ctx, tenant, e)
		if t, ok := provision.AsThrottled(err); ok {
			r.throttled(ti, t)
			ti.Status.Phase = tenancyv1alpha1.PhaseUninstalling
			return ctrl.Result{RequeueAfter: t.RetryAfter}, nil
		}
		if err != nil {
			reason = err.Error()
		}
		if gone {
			ti.Status.Provisioned = inventory.Remove(ti.Status.Provisioned, e.ID)
			continue
		}
		// Strict reverse order: the next artifact waits until this one is
		// gone (the namespace, last, until everything in it is).
		e.State, e.Message = tenancyv1alpha1.ArtifactDeleting, reason
		ti.Status.Provisioned = inventory.Upsert(ti.Status.Provisioned, e)
		ti.Status.ArtifactCount = len(ti.Status.Provisioned)
		return r.waitForRemoval(ti, e)
	}

	ti.Status.ArtifactCount = 0
	log.FromContext(ctx).Info("all artifacts removed; releasing finalizer")
	r.Recorder.Eventf(ti, nil, corev1.EventTypeNormal, "Uninstalled", "Uninstall", "Every provisioned artifact was removed")
	return ctrl.Result{}, r.releaseFinalizer(ctx, ti)
}

// waitForRemoval reports what removal waits on. Past DeletionTimeout it says
// Stalled and how to release, and keeps checking at a slower pace.
func (r *TenantInstallationReconciler) waitForRemoval(ti *tenancyv1alpha1.TenantInstallation, blocking inventory.Entry) (ctrl.Result, error) {
	waited := time.Since(ti.DeletionTimestamp.Time)
	msg := fmt.Sprintf("Removing %d artifacts; waiting on: %s", len(ti.Status.Provisioned), blocking.Message)
	markReconciling(ti, ReasonUninstalling, msg)
	meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionReady,
		Status: metav1.ConditionFalse, Reason: ReasonDeletionBlocked, Message: msg})
	if r.DeletionTimeout > 0 && waited > r.DeletionTimeout {
		meta.SetStatusCondition(&ti.Status.Conditions, metav1.Condition{Type: tenancyv1alpha1.ConditionStalled,
			Status: metav1.ConditionTrue, Reason: ReasonDeletionBlocked,
			Message: fmt.Sprintf("Removal has not finished after %s. Remaining: %s. Fix what blocks it, or annotate %s=true to release the finalizer and leave these behind",
				waited.Round(time.Second), listEntries(ti.Status.Provisioned), tenancyv1alpha1.ReleaseAnnotation)})
		return ctrl.Result{RequeueAfter: time.Minute}, nil
	}
	return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
}

func (r *TenantInstallationReconciler) releaseFinalizer(ctx context.Context, ti *tenancyv1alpha1.TenantInstallation) error {
	patch := client.MergeFrom(ti.DeepCopy())
	controllerutil.RemoveFinalizer(ti, tenancyv1alpha1.Finalizer)
	if err := r.Client.Patch(ctx, ti, patch); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("release finalizer: %w", err))
	}
	r.lastWrite.Delete(client.ObjectKeyFromObject(ti))
	return nil
}

// patchStatus writes status once, and only when it changed: a reconcile
// that finds everything in place makes no write.
func (r *TenantInstallationReconciler) patchStatus(ctx context.Context, before, ti *tenancyv1alpha1.TenantInstallation) error {
	if !ti.DeletionTimestamp.IsZero() && !controllerutil.ContainsFinalizer(ti, tenancyv1alpha1.Finalizer) {
		return nil // released: the object is gone or going
	}
	if equality.Semantic.DeepEqual(before.Status, ti.Status) {
		return nil
	}
	if err := r.Client.Status().Patch(ctx, ti, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("patch status: %w", err))
	}
	r.wrote(ti)
	return nil
}

// freshest returns the installation as the cache has it, unless the cache
// has not yet seen this reconciler's own last write to it: then it reads the
// API server. The cache trails the API server, and the reconcile that a
// watch event queues during a reconcile runs right after it; starting that
// one from the older copy would write the older status back, losing usage
// counts and regressing the provisioned list. Nil, nil: the installation is gone.
func (r *TenantInstallationReconciler) freshest(ctx context.Context, key types.NamespacedName) (*tenancyv1alpha1.TenantInstallation, error) {
	ti := &tenancyv1alpha1.TenantInstallation{}
	err := r.Client.Get(ctx, key, ti)
	if err == nil {
		last, ok := r.lastWrite.Load(key)
		if !ok {
			return ti, nil
		}
		if cmp, cmpErr := resourceversion.CompareResourceVersion(ti.ResourceVersion, last.(string)); cmpErr != nil || cmp >= 0 {
			return ti, nil
		}
		err = r.APIReader.Get(ctx, key, ti)
	}
	if apierrors.IsNotFound(err) {
		r.lastWrite.Delete(key)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read installation: %w", err)
	}
	return ti, nil
}

// wrote records the resourceVersion the API server gave a write of ti.
func (r *TenantInstallationReconciler) wrote(ti *tenancyv1alpha1.TenantInstallation) {
	if ti.ResourceVersion != "" {
		r.lastWrite.Store(client.ObjectKeyFromObject(ti), ti.ResourceVersion)
	}
}

// resyncJitter spreads resyncs over ±10% of the interval. Installations
// made together, or all of them after a restart or failover, would otherwise
// resync in lockstep and reach SuperOffice and the API server as one burst
// every interval.
const resyncJitter = 0.1

func jittered(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (1 - resyncJitter + 2*resyncJitter*rand.Float64()))
}

func usageOf(ti *tenancyv1alpha1.TenantInstallation) *tenancyv1alpha1.Usage {
	if ti.Status.Usage == nil {
		return &tenancyv1alpha1.Usage{}
	}
	return ti.Status.Usage.DeepCopy()
}

func blueprintName(ti *tenancyv1alpha1.TenantInstallation) string {
	if ti.Spec.Blueprint == "" {
		return tenancyv1alpha1.DefaultBlueprint
	}
	return ti.Spec.Blueprint
}

func hasSuperOffice(desired []provision.Desired) bool {
	for _, d := range desired {
		if d.Entry.Target == tenancyv1alpha1.TargetSuperOffice {
			return true
		}
	}
	return false
}

func listEntries(es []inventory.Entry) string {
	parts := make([]string, 0, len(es))
	for _, e := range es {
		s := fmt.Sprintf("%s %s", e.Kind, e.Name)
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func waitingMessage(es []inventory.Entry) string {
	var waiting []inventory.Entry
	for _, e := range es {
		if e.State != tenancyv1alpha1.ArtifactReady {
			waiting = append(waiting, e)
		}
	}
	return "Waiting on: " + listEntries(waiting)
}

// SetupWithManager registers the reconciler, its index and its watches.
func (r *TenantInstallationReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.ResyncInterval == 0 {
		r.ResyncInterval = 10 * time.Minute
	}
	if r.DeletionTimeout == 0 {
		r.DeletionTimeout = 10 * time.Minute
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 4
	}
	if r.ReconcileTimeout == 0 {
		r.ReconcileTimeout = 5 * time.Minute
	}
	ctx := context.Background()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &tenancyv1alpha1.TenantInstallation{}, blueprintIndex, func(o client.Object) []string {
		return []string{blueprintName(o.(*tenancyv1alpha1.TenantInstallation))}
	}); err != nil {
		return fmt.Errorf("index installations by blueprint: %w", err)
	}

	envFilter := predicate.NewPredicateFuncs(func(o client.Object) bool {
		ti, ok := o.(*tenancyv1alpha1.TenantInstallation)
		return ok && (r.Environment == "" || ti.Spec.Environment == r.Environment)
	})
	b := ctrl.NewControllerManagedBy(mgr).
		Named("tenantinstallation").
		For(&tenancyv1alpha1.TenantInstallation{}, builder.WithPredicates(envFilter,
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Watches(&tenancyv1alpha1.TenantBlueprint{}, handler.EnqueueRequestsFromMapFunc(r.installationsOfBlueprint),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, ReconciliationTimeout: r.ReconcileTimeout})

	// Drift repair: a change to any artifact we own, made by hand or by
	// another controller, brings its installation back to reconcile.
	for _, gvk := range watchedKinds {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		b = b.Watches(u, handler.EnqueueRequestsFromMapFunc(installationOfArtifact),
			builder.WithPredicates(r.ownedByThisEnvironment()))
	}
	c, err := b.Build(r)
	if err != nil {
		return err
	}
	r.kinds.start(c, mgr.GetCache(), r.ownedByThisEnvironment())
	return nil
}

// watchedKinds are the artifact kinds whose changes trigger drift repair.
// Extra-manifest kinds are watched as installations declare them (kinds.go).
var watchedKinds = []schema.GroupVersionKind{
	corev1.SchemeGroupVersion.WithKind("Namespace"),
	corev1.SchemeGroupVersion.WithKind("ResourceQuota"),
	corev1.SchemeGroupVersion.WithKind("LimitRange"),
	corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
	corev1.SchemeGroupVersion.WithKind("ConfigMap"),
	networkingv1.SchemeGroupVersion.WithKind("NetworkPolicy"),
}

func (r *TenantInstallationReconciler) ownedByThisEnvironment() predicate.Predicate {
	return predicate.NewPredicateFuncs(func(o client.Object) bool {
		l := o.GetLabels()
		if l[tenancyv1alpha1.ManagedByLabel] != tenancyv1alpha1.ManagedByValue {
			return false
		}
		return r.Environment == "" || l[tenancyv1alpha1.EnvironmentLabel] == r.Environment
	})
}

func installationOfArtifact(_ context.Context, o client.Object) []reconcile.Request {
	ns, name, ok := tenancyv1alpha1.ParseInstallationLabelValue(o.GetLabels()[tenancyv1alpha1.InstallationLabel])
	if !ok {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

func (r *TenantInstallationReconciler) installationsOfBlueprint(ctx context.Context, o client.Object) []reconcile.Request {
	list := &tenancyv1alpha1.TenantInstallationList{}
	if err := r.Client.List(ctx, list, client.MatchingFields{blueprintIndex: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "list installations of blueprint", "blueprint", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, ti := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ti)})
	}
	return reqs
}
