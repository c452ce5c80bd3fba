package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to provisioned artifacts when an
// installation is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete removes every provisioned artifact (the default).
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves artifacts in place and only forgets them.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// Endpoints are the tenant's SuperOffice API hosts, taken from the install
// token's claims; never hard-coded, because tenants move between hosts.
type Endpoints struct {
	// WebAPIURL is the tenant's REST base, e.g. https://online3.superoffice.com/Cust12345/api/.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	WebAPIURL string `json:"webAPIURL,omitempty"`

	// NetServerURL is the tenant's NetServer services base.
	// +kubebuilder:validation:Pattern=`^https?://`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	NetServerURL string `json:"netServerURL,omitempty"`
}

// InstalledBy records which SuperOffice user consented to the install.
type InstalledBy struct {
	// AssociateID is the SuperOffice associate id of the administrator.
	// +optional
	AssociateID int64 `json:"associateID,omitempty"`
	// UPN is the user principal name of the administrator.
	// +kubebuilder:validation:MaxLength=320
	// +optional
	UPN string `json:"upn,omitempty"`
	// Email of the administrator.
	// +kubebuilder:validation:MaxLength=320
	// +optional
	Email string `json:"email,omitempty"`
}

// LocalSecretReference names a Secret in the installation's own namespace.
type LocalSecretReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// TenantInstallationSpec is one SuperOffice tenant's installation of the app.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.tenantID) || self.tenantID == oldSelf.tenantID",message="tenantID is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.environment) || self.environment == oldSelf.environment",message="environment is immutable"
type TenantInstallationSpec struct {
	// TenantID is the SuperOffice context identifier, e.g. Cust12345.
	// +kubebuilder:validation:Pattern=`^[Cc]ust[0-9]{1,12}$`
	// +required
	TenantID string `json:"tenantID"`

	// Environment is the SuperOffice environment this tenant lives in
	// (sod, stage, online, or a custom development environment).
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9]{0,15}$`
	// +required
	Environment string `json:"environment"`

	// Blueprint names the TenantBlueprint that declares what to provision.
	// +kubebuilder:default=default
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	// +optional
	Blueprint string `json:"blueprint,omitempty"`

	// Endpoints of the tenant's SuperOffice APIs.
	// +optional
	Endpoints Endpoints `json:"endpoints,omitempty"`

	// CredentialsSecretRef names the Secret holding the tenant's system user
	// token and refresh token. The tokens themselves are never in this object.
	// +optional
	CredentialsSecretRef *LocalSecretReference `json:"credentialsSecretRef,omitempty"`

	// InstalledBy records who consented to the install.
	// +optional
	InstalledBy *InstalledBy `json:"installedBy,omitempty"`

	// Suspend stops every change to the tenant's artifacts until it is false again.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// DeletionPolicy says whether deleting the installation removes its artifacts.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// Target says where an artifact lives.
// +kubebuilder:validation:Enum=Kubernetes;SuperOffice
type Target string

const (
	// TargetKubernetes artifacts are objects in this cluster.
	TargetKubernetes Target = "Kubernetes"
	// TargetSuperOffice artifacts live inside the customer's SuperOffice tenant.
	TargetSuperOffice Target = "SuperOffice"
)

// ArtifactState is where one artifact is in its life.
// +kubebuilder:validation:Enum=Pending;Ready;Deleting;Failed
type ArtifactState string

const (
	// ArtifactPending is recorded before the artifact is created (intent).
	ArtifactPending ArtifactState = "Pending"
	// ArtifactReady exists and matches the blueprint.
	ArtifactReady ArtifactState = "Ready"
	// ArtifactDeleting is being removed; it stays listed until removal is verified.
	ArtifactDeleting ArtifactState = "Deleting"
	// ArtifactFailed could not be applied or removed; Message says why.
	ArtifactFailed ArtifactState = "Failed"
)

// ProvisionedArtifact is one entry of the provisioned list: the inventory
// that is the single source of truth for what the operator owns.
type ProvisionedArtifact struct {
	// ID is stable for the artifact's whole life, e.g.
	// "Kubernetes:_v1_ConfigMap:tenant-online-cust1:settings" or "SuperOffice:WebPanel:myapp-panel".
	// +required
	ID string `json:"id"`
	// Target is where the artifact lives.
	// +required
	Target Target `json:"target"`
	// Kind of the artifact: a Kubernetes kind or WebPanel, UserDefinedField,
	// Button, Preference, Webhook.
	// +required
	Kind string `json:"kind"`
	// APIVersion of a Kubernetes artifact.
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// Namespace of a namespaced Kubernetes artifact.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name is the artifact's name (for user-defined fields, the ProgId).
	// +required
	Name string `json:"name"`
	// RemoteID is the id SuperOffice gave the artifact, when it has one.
	// +optional
	RemoteID string `json:"remoteID,omitempty"`
	// State of the artifact.
	// +required
	State ArtifactState `json:"state"`
	// Message says why an artifact is Failed or still Deleting.
	// +optional
	Message string `json:"message,omitempty"`
}

// Usage is the per-tenant accounting of SuperOffice API use. It lives here,
// not in metric labels, so that metrics stay bounded in cardinality.
type Usage struct {
	// Requests made to the tenant's SuperOffice APIs.
	Requests int64 `json:"requests"`
	// Bytes sent and received.
	Bytes int64 `json:"bytes"`
	// Throttled counts answers that told us to slow down (429/503).
	Throttled int64 `json:"throttled"`
	// LastRequestTime is when the last request was made.
	// +optional
	LastRequestTime *metav1.Time `json:"lastRequestTime,omitempty"`
}

// Phase is a one-word summary for the printer column; conditions carry the detail.
// +kubebuilder:validation:Enum=Pending;Provisioning;Ready;Throttled;Uninstalling;Failed;Suspended
type Phase string

// Phases of an installation.
const (
	PhasePending      Phase = "Pending"
	PhaseProvisioning Phase = "Provisioning"
	PhaseReady        Phase = "Ready"
	PhaseThrottled    Phase = "Throttled"
	PhaseUninstalling Phase = "Uninstalling"
	PhaseFailed       Phase = "Failed"
	PhaseSuspended    Phase = "Suspended"
)

// Condition types. Ready, Reconciling and Stalled are the kstatus trio.
const (
	ConditionReady            = "Ready"
	ConditionReconciling      = "Reconciling"
	ConditionStalled          = "Stalled"
	ConditionThrottled        = "Throttled"
	ConditionCredentialsValid = "CredentialsValid"
	// ConditionValid is set on blueprints.
	ConditionValid = "Valid"
)

// TenantInstallationStatus is what the operator observed and did.
type TenantInstallationStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled, Throttled, CredentialsValid.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase summarises the conditions in one word.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// Namespace is the tenant's Kubernetes namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Provisioned is the provisioned list: every artifact the operator made
	// for this tenant, in apply order.
	// +listType=map
	// +listMapKey=id
	// +optional
	Provisioned []ProvisionedArtifact `json:"provisioned,omitempty"`

	// ArtifactCount is len(provisioned), for the printer column.
	// +optional
	ArtifactCount int `json:"artifactCount,omitempty"`

	// BlueprintGeneration is the generation of the blueprint last applied.
	// +optional
	BlueprintGeneration int64 `json:"blueprintGeneration,omitempty"`

	// Usage accounts for this tenant's SuperOffice API use.
	// +optional
	Usage *Usage `json:"usage,omitempty"`

	// LastHandledReconcileAt echoes the ReconcileRequestAnnotation value last handled.
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ti,categories=tenancy
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantID`
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environment`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Artifacts",type=integer,JSONPath=`.status.artifactCount`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// TenantInstallation is one customer tenant's installation of the partner app.
type TenantInstallation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TenantInstallationSpec   `json:"spec"`
	Status TenantInstallationStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TenantInstallationList contains a list of TenantInstallation.
type TenantInstallationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantInstallation `json:"items"`
}
