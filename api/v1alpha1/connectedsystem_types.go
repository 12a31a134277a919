package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConnectedSystemSpec says where a system is, how to reach it, and how to
// quarantine access in it. Exactly the settings block named by type is set.
// +kubebuilder:validation:XValidation:rule="has(self.kubernetes) == (self.type == 'kubernetes')",message="spec.kubernetes must be set when type is kubernetes, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.scim) == (self.type == 'scim')",message="spec.scim must be set when type is scim, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.ldap) == (self.type == 'ldap')",message="spec.ldap must be set when type is ldap, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.postgres) == (self.type == 'postgres')",message="spec.postgres must be set when type is postgres, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.webhook) == (self.type == 'webhook')",message="spec.webhook must be set when type is webhook, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.okta) == (self.type == 'okta')",message="spec.okta must be set when type is okta, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.entra) == (self.type == 'entra')",message="spec.entra must be set when type is entra, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="has(self.google) == (self.type == 'google')",message="spec.google must be set when type is google, and only then: set the settings block that matches spec.type"
// +kubebuilder:validation:XValidation:rule="self.type == 'kubernetes' || has(self.credentialsSecretRef)",message="credentialsSecretRef is required for every type but kubernetes"
// +kubebuilder:validation:XValidation:rule="self.type == oldSelf.type",message="type is immutable: create a new ConnectedSystem for another type"
// +kubebuilder:validation:XValidation:rule="!has(self.scim) || self.scim.url.startsWith('https://') || (has(self.insecure) && self.insecure)",message="spec.scim.url is http://, so the bearer token would cross the network in clear text: use https://, or set spec.insecure: true to accept that"
// +kubebuilder:validation:XValidation:rule="!has(self.okta) || self.okta.orgURL.startsWith('https://') || (has(self.insecure) && self.insecure)",message="spec.okta.orgURL is http://, so the credentials would cross the network in clear text: use https://, or set spec.insecure: true to accept that"
// +kubebuilder:validation:XValidation:rule="!has(self.webhook) || self.webhook.url.startsWith('https://') || (has(self.insecure) && self.insecure)",message="spec.webhook.url is http://, so events would cross the network in clear text: use https://, or set spec.insecure: true to accept that"
// +kubebuilder:validation:XValidation:rule="!has(self.ldap) || self.ldap.url.startsWith('ldaps://') || (has(self.ldap.startTLS) && self.ldap.startTLS) || (has(self.insecure) && self.insecure)",message="spec.ldap.url is ldap:// without startTLS, so the bind password would cross the network in clear text: use ldaps:// or startTLS: true, or set spec.insecure: true to accept that"
// +kubebuilder:validation:XValidation:rule="!has(self.postgres) || !has(self.postgres.sslMode) || self.postgres.sslMode != 'disable' || (has(self.insecure) && self.insecure)",message="spec.postgres.sslMode is disable, so the password would cross the network in clear text: use require, verify-ca or verify-full, or set spec.insecure: true to accept that"
// +kubebuilder:validation:XValidation:rule="self.type != 'kubernetes' || !has(self.allowedEntitlements)",message="a kubernetes system lists what may be granted in spec.kubernetes (allowedClusterRoles, allowedRoles, allowedNamespaces), not in spec.allowedEntitlements"
type ConnectedSystemSpec struct {
	// type is the kind of system: kubernetes, scim, ldap, postgres,
	// webhook, okta, entra or google. It picks the connector and the
	// settings block. Immutable.
	// +required
	Type SystemType `json:"type"`

	// description says what the system is, for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// dryRun makes the connector record what it would have done and change
	// nothing in the system. Defaults to false.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// credentialsSecretRef names the Secret with the credentials for the
	// system; the keys each type reads are in its settings block's doc.
	// Required for every type but kubernetes, which uses the controller's
	// own service account. The Secret must be in the controller's
	// credentials namespace (the manager's --credentials-namespace, by
	// default the namespace it runs in): the controller reads no other
	// Secret, and a system that names one elsewhere is not Ready.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// insecure allows the connector to send credentials and data over a
	// connection without TLS: an http:// SCIM or webhook url, an ldap://
	// url without startTLS, or a postgres sslMode of disable. Without it
	// such a system is refused on apply and never contacted. The Ready
	// condition says when a system connects without TLS. Defaults to false.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// allowedEntitlements lists what grants on this scim, ldap, postgres,
	// webhook, okta, entra or google system may name in
	// spec.entitlement.name: group names, emails or DNs, database roles,
	// entitlement ids. An entry is an exact name or a
	// pattern with one "*", which matches any run of characters without
	// ",", ";", "+", a backslash or a double quote (so
	// "cn=app-*,ou=groups,dc=example,dc=com" cannot match a DN in another
	// branch). An LDAP entitlement is a group's DN. A grant for anything else is refused on apply by the
	// admission policy and never enforced. Empty allows nothing. Kubernetes
	// systems use spec.kubernetes instead. At most 256 entries.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:items:Pattern=`^[^*]*\*?[^*]*$`
	AllowedEntitlements []string `json:"allowedEntitlements,omitempty"`

	// kubernetes holds the settings of a kubernetes system (this cluster).
	// +optional
	Kubernetes *KubernetesSettings `json:"kubernetes,omitempty"`

	// scim holds the settings of a SCIM 2.0 service provider.
	// +optional
	SCIM *SCIMSettings `json:"scim,omitempty"`

	// ldap holds the settings of an LDAP directory.
	// +optional
	LDAP *LDAPSettings `json:"ldap,omitempty"`

	// postgres holds the settings of a PostgreSQL server.
	// +optional
	Postgres *PostgresSettings `json:"postgres,omitempty"`

	// webhook holds the settings of an HTTP receiver of signed CloudEvents.
	// +optional
	Webhook *WebhookSettings `json:"webhook,omitempty"`

	// okta holds the settings of an Okta org.
	// +optional
	Okta *OktaSettings `json:"okta,omitempty"`

	// entra holds the settings of a Microsoft Entra ID tenant.
	// +optional
	Entra *EntraSettings `json:"entra,omitempty"`

	// google holds the settings of a Google Workspace account.
	// +optional
	Google *GoogleSettings `json:"google,omitempty"`
}

// KubernetesSettings configures RBAC in this cluster. Grants become
// RoleBindings or ClusterRoleBindings for the contractor's account, which is
// a Kubernetes user name. What may be granted is declared here: a grant
// naming a role or namespace outside these lists is refused on apply by the
// admission policy and never enforced. Entries are exact names or patterns
// with one "*" (any run of characters).
type KubernetesSettings struct {
	// allowedClusterRoles lists the ClusterRoles that grants may bind, in a
	// namespace of allowedNamespaces or, with allowClusterWide,
	// cluster-wide. Empty allows none. At most 128 entries.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[^*]*\*?[^*]*$`
	AllowedClusterRoles []string `json:"allowedClusterRoles,omitempty"`

	// allowedRoles lists the Roles that grants may bind, in a namespace of
	// allowedNamespaces. Empty allows none. At most 128 entries.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[^*]*\*?[^*]*$`
	AllowedRoles []string `json:"allowedRoles,omitempty"`

	// allowedNamespaces lists the namespaces in which grants may create
	// RoleBindings. Empty allows none. At most 128 entries.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[-a-z0-9]*\*?[-a-z0-9]*$`
	AllowedNamespaces []string `json:"allowedNamespaces,omitempty"`

	// allowClusterWide lets grants without spec.entitlement.namespace bind
	// a ClusterRole of allowedClusterRoles cluster-wide, with a
	// ClusterRoleBinding. Defaults to false: bindings are namespaced only.
	// +optional
	AllowClusterWide bool `json:"allowClusterWide,omitempty"`

	// quarantineClusterRole is the ClusterRole that a quarantined grant is
	// bound to instead of its entitlement, e.g. a read-only role.
	// Defaults to view.
	// +optional
	// +kubebuilder:default=view
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	QuarantineClusterRole string `json:"quarantineClusterRole,omitempty"`
}

// SCIMDialect is the SCIM protocol variant a service provider speaks.
// +kubebuilder:validation:Enum=standard
type SCIMDialect string

// SCIMQuarantineMode is how a SCIM system quarantines a user.
// +kubebuilder:validation:Enum=Deactivate;Group
type SCIMQuarantineMode string

// SCIMSettings configures an application that serves the SCIM 2.0 API
// (RFC 7644) as a service provider, such as Slack, GitHub Enterprise or
// Atlassian. The credentials Secret holds the bearer token under the key
// "token".
// +kubebuilder:validation:XValidation:rule="!has(self.quarantineMode) || self.quarantineMode != 'Group' || has(self.quarantineGroup)",message="quarantineGroup is required when quarantineMode is Group"
type SCIMSettings struct {
	// url is the SCIM base URL of the service provider, e.g.
	// https://api.slack.com/scim/v2.
	// http:// needs spec.insecure. It carries no credentials (user:password@):
	// the token is in the credentials Secret.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^/?#@]+([/?#].*)?$`
	URL string `json:"url"`

	// dialect is standard, the only one: a SCIM service provider speaks
	// RFC 7644. (The okta and entra dialects of earlier versions described
	// how those identity providers call applications as SCIM clients, not
	// an API they serve; enforce in them with the okta and entra types.)
	// Defaults to standard.
	// +optional
	// +kubebuilder:default=standard
	Dialect SCIMDialect `json:"dialect,omitempty"`

	// quarantineMode is Deactivate (set active to false on the user) or
	// Group (move the user to quarantineGroup). Defaults to Deactivate.
	// +optional
	// +kubebuilder:default=Deactivate
	QuarantineMode SCIMQuarantineMode `json:"quarantineMode,omitempty"`

	// quarantineGroup is the group a quarantined user is moved to, when
	// quarantineMode is Group.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	QuarantineGroup string `json:"quarantineGroup,omitempty"`

	// caBundle is a PEM bundle of the CAs to trust for the server's
	// certificate, in addition to the system's. TLS verification is always on.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// LDAPMemberAttribute is the group attribute that lists members.
// +kubebuilder:validation:Enum=member;uniqueMember;memberUid
type LDAPMemberAttribute string

// LDAPSettings configures an LDAP directory. The credentials Secret holds
// the bind DN under "bindDN" and the password under "password".
// +kubebuilder:validation:XValidation:rule="!(self.url.startsWith('ldaps://') && has(self.startTLS) && self.startTLS)",message="startTLS cannot be used with an ldaps:// url, which is TLS already"
type LDAPSettings struct {
	// url is the directory's address: ldap://host:port or ldaps://host:port.
	// ldap:// needs startTLS or spec.insecure.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^ldaps?://[^/?#@]+/?$`
	URL string `json:"url"`

	// startTLS upgrades an ldap:// connection with StartTLS. Defaults to false.
	// +optional
	StartTLS bool `json:"startTLS,omitempty"`

	// memberAttribute is the group attribute that lists members: member,
	// uniqueMember (both hold DNs) or memberUid (holds uids). Defaults to member.
	// +optional
	// +kubebuilder:default=member
	MemberAttribute LDAPMemberAttribute `json:"memberAttribute,omitempty"`

	// quarantineGroupDN is the group a quarantined account is added to.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	QuarantineGroupDN string `json:"quarantineGroupDN,omitempty"`

	// lockAccounts also locks a quarantined account with the ppolicy
	// attribute pwdAccountLockedTime, where the directory supports it.
	// Defaults to true.
	// +optional
	// +kubebuilder:default=true
	LockAccounts *bool `json:"lockAccounts,omitempty"`

	// caBundle is a PEM bundle of the CAs to trust for the server's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// PostgresSSLMode is libpq's sslmode.
// +kubebuilder:validation:Enum=disable;require;verify-ca;verify-full
type PostgresSSLMode string

// PostgresSettings configures a PostgreSQL server. The credentials Secret
// holds "username" and "password", or a whole connection string under "dsn".
type PostgresSettings struct {
	// host is the server's host name or address.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`

	// port is the server's TCP port. Defaults to 5432.
	// +optional
	// +kubebuilder:default=5432
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// database is the database to connect to. Defaults to postgres.
	// +optional
	// +kubebuilder:default=postgres
	// +kubebuilder:validation:MaxLength=63
	Database string `json:"database,omitempty"`

	// sslMode is disable, require, verify-ca or verify-full. Defaults to
	// verify-full. disable needs spec.insecure. A "dsn" in the credentials
	// Secret must ask for TLS too (sslmode require or stronger) unless
	// spec.insecure is set.
	// +optional
	// +kubebuilder:default=verify-full
	SSLMode PostgresSSLMode `json:"sslMode,omitempty"`

	// terminateSessions ends a contractor's live sessions when access is
	// quarantined or revoked; NOLOGIN alone leaves connected users in.
	// Defaults to true.
	// +optional
	// +kubebuilder:default=true
	TerminateSessions *bool `json:"terminateSessions,omitempty"`

	// caBundle is a PEM bundle of the CAs to trust for the server's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// WebhookSettings configures an HTTP receiver of CloudEvents. The credentials
// Secret holds the HMAC-SHA256 signing key under "hmacKey".
type WebhookSettings struct {
	// url is where events are POSTed. http:// needs spec.insecure. It
	// carries no credentials (user:password@): receivers check the
	// signature made with the Secret's key.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^/?#@]+([/?#].*)?$`
	URL string `json:"url"`

	// timeoutSeconds bounds one delivery. Defaults to 10, at most 60.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`

	// caBundle is a PEM bundle of the CAs to trust for the receiver's certificate.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// ConnectedSystemStatus is what the controller last observed of the system.
type ConnectedSystemStatus struct {
	// conditions hold the summary Ready condition.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation that the status reflects.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// lastCheckedAt is when the system was last checked.
	// +optional
	LastCheckedAt *metav1.Time `json:"lastCheckedAt,omitempty"`
}

// ConnectedSystem is a system in which Portcullis enforces grants:
// Kubernetes RBAC, a SCIM provider, an LDAP directory, a PostgreSQL server or
// a webhook receiver.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=csys,categories=portcullis
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Dry Run",type=boolean,JSONPath=`.spec.dryRun`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Last Check",type=date,JSONPath=`.status.lastCheckedAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ConnectedSystem struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says how to reach the system.
	// +required
	Spec ConnectedSystemSpec `json:"spec"`

	// status is what was last observed.
	// A new object reads status.observedGeneration 0 until the controller
	// first writes it, so kstatus readers see it in progress, not Current.
	// +kubebuilder:default={observedGeneration: 0}
	// +optional
	Status ConnectedSystemStatus `json:"status,omitzero"`
}

// ConnectedSystemList is a list of ConnectedSystems.
//
// +kubebuilder:object:root=true
type ConnectedSystemList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConnectedSystem `json:"items"`
}
