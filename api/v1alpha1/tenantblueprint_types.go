package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubernetesBlueprint declares the tenant's objects in this cluster. Every
// string that says "template" is a Go text/template rendered over the
// tenant's values: .TenantID, .TenantIDLower, .Environment, .Name,
// .Namespace (the tenant namespace), .InstallationNamespace, .WebAPIURL,
// .NetServerURL, with the functions lower, upper, quote and default.
type KubernetesBlueprint struct {
	// NamespaceTemplate renders the tenant namespace's name.
	// +kubebuilder:default="tenant-{{ .Environment }}-{{ .TenantIDLower }}"
	// +kubebuilder:validation:MaxLength=512
	// +optional
	NamespaceTemplate string `json:"namespaceTemplate,omitempty"`

	// ResourceQuota is the per-tenant load boundary; empty means no quota.
	// +optional
	ResourceQuota corev1.ResourceList `json:"resourceQuota,omitempty"`

	// LimitRange gives containers in the tenant namespace defaults and bounds.
	// +optional
	LimitRange []corev1.LimitRangeItem `json:"limitRange,omitempty"`

	// NetworkIsolation adds a default-deny NetworkPolicy that admits only
	// traffic from the tenant's own namespace.
	// +kubebuilder:default=true
	// +optional
	NetworkIsolation *bool `json:"networkIsolation,omitempty"`

	// ExtraManifests are YAML templates of further objects; each must be
	// namespaced and lands in the tenant namespace.
	// +kubebuilder:validation:MaxItems=50
	// +optional
	ExtraManifests []string `json:"extraManifests,omitempty"`
}

// WebPanel is a panel in the SuperOffice client that shows one of the app's pages.
type WebPanel struct {
	// Name identifies the panel; it is unique per app and tenant.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$`
	Name string `json:"name"`
	// URL template of the page the panel shows.
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
	// VisibleIn is the SuperOffice location of the panel, e.g. ContactArchive, PersonArchive, ProjectArchive.
	// +kubebuilder:validation:MaxLength=64
	VisibleIn string `json:"visibleIn"`
	// Description is shown to users; the app name is always appended (certification rule).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Description string `json:"description,omitempty"`
}

// UDFType is the type of a user-defined field.
// +kubebuilder:validation:Enum=ShortText;LongText;Number;Decimal;Date;Checkbox;Unlimited
type UDFType string

// UserDefinedField is a custom field on a SuperOffice entity. It is tracked by
// ProgID, because publishing renumbers the numeric field ids.
type UserDefinedField struct {
	// Entity the field belongs to.
	// +kubebuilder:validation:Enum=Contact;Person;Project;Sale;Appointment;Document
	Entity string `json:"entity"`
	// ProgID is the field's stable programmatic id.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9:_.-]{0,49}$`
	ProgID string `json:"progID"`
	// Label shown in the SuperOffice client.
	// +kubebuilder:validation:MaxLength=64
	Label string `json:"label"`
	// Type of the field.
	Type UDFType `json:"type"`
}

// Button is a task-menu button in the SuperOffice client.
type Button struct {
	// Name identifies the button; unique per app and tenant.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$`
	Name string `json:"name"`
	// Location is the SuperOffice screen the button is on, e.g. Contact, Person, Sale.
	// +kubebuilder:validation:MaxLength=64
	Location string `json:"location"`
	// URL template the button opens.
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`
}

// Preference is a SuperOffice preference the app sets.
type Preference struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Section string `json:"section"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Key string `json:"key"`
	// Value template.
	// +kubebuilder:validation:MaxLength=1024
	Value string `json:"value"`
	// Level the preference is set at.
	// +kubebuilder:validation:Enum=System;Database;Group;Individual
	// +kubebuilder:default=Database
	// +optional
	Level string `json:"level,omitempty"`
}

// Webhook asks SuperOffice to notify the app of events.
type Webhook struct {
	// Name identifies the webhook; unique per app and tenant.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9 _.-]{0,49}$`
	Name string `json:"name"`
	// Events, e.g. contact.created, sale.changed.
	// +kubebuilder:validation:MinItems=1
	Events []string `json:"events"`
	// TargetURL template; empty means the operator's own /webhooks/superoffice.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	TargetURL string `json:"targetURL,omitempty"`
}

// SuperOfficeBlueprint declares the objects made inside the customer's tenant.
type SuperOfficeBlueprint struct {
	// +listType=map
	// +listMapKey=name
	// +optional
	WebPanels []WebPanel `json:"webPanels,omitempty"`
	// +listType=map
	// +listMapKey=progID
	// +optional
	UserDefinedFields []UserDefinedField `json:"userDefinedFields,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Buttons []Button `json:"buttons,omitempty"`
	// +optional
	Preferences []Preference `json:"preferences,omitempty"`
	// +listType=map
	// +listMapKey=name
	// +optional
	Webhooks []Webhook `json:"webhooks,omitempty"`
}

// TenantBlueprintSpec is the list of what is provisioned for a customer.
type TenantBlueprintSpec struct {
	// Kubernetes objects for the tenant.
	// +optional
	Kubernetes KubernetesBlueprint `json:"kubernetes,omitempty"`
	// SuperOffice objects inside the customer's tenant.
	// +optional
	SuperOffice SuperOfficeBlueprint `json:"superOffice,omitempty"`
}

// TenantBlueprintStatus reports whether the blueprint can be used.
type TenantBlueprintStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Valid (and Ready, mirroring Valid for kstatus).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=tbp,categories=tenancy
// +kubebuilder:printcolumn:name="Valid",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// TenantBlueprint declares what is provisioned for every tenant that uses it.
type TenantBlueprint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TenantBlueprintSpec   `json:"spec,omitempty"`
	Status TenantBlueprintStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TenantBlueprintList contains a list of TenantBlueprint.
type TenantBlueprintList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantBlueprint `json:"items"`
}
