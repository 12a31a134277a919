package v1alpha1

// IdentityQuarantineMode is how an identity provider quarantines a
// contractor's account. Either way the account's live sessions end.
// +kubebuilder:validation:Enum=Suspend;Group
type IdentityQuarantineMode string

// The identity providers' quarantine modes.
const (
	// IdentityQuarantineSuspend suspends (Okta) or disables (Entra ID) the
	// account while any of the contractor's grants on the system is
	// quarantined: every app behind the provider is cut at once.
	IdentityQuarantineSuspend IdentityQuarantineMode = "Suspend"
	// IdentityQuarantineGroup takes the account out of the quarantined
	// grant's group and puts it in quarantineGroup, leaving the account
	// itself enabled.
	IdentityQuarantineGroup IdentityQuarantineMode = "Group"
)

// OktaSettings configures an Okta org, enforced through its Management
// API: a grant's entitlement is the name of an Okta group. The credentials
// Secret holds either an OAuth 2.0 service app's "clientID" and
// "privateKey" (PEM, RSA; "keyID" names the key when the app has several),
// which is preferred, or an API token under "apiToken". The service app
// needs the scopes okta.users.manage and okta.groups.manage.
// +kubebuilder:validation:XValidation:rule="!has(self.quarantineMode) || self.quarantineMode != 'Group' || has(self.quarantineGroup)",message="quarantineGroup is required when quarantineMode is Group"
type OktaSettings struct {
	// orgURL is the Okta org, e.g. https://example.okta.com. http:// needs
	// spec.insecure. It carries no credentials and no path.
	// +required
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^/?#@]+/?$`
	OrgURL string `json:"orgURL"`

	// quarantineMode is Suspend (suspend the user, default) or Group (move
	// the user from the grant's group to quarantineGroup). Either way the
	// user's sessions and OAuth tokens are revoked.
	// +optional
	// +kubebuilder:default=Suspend
	QuarantineMode IdentityQuarantineMode `json:"quarantineMode,omitempty"`

	// quarantineGroup is the name of the group a quarantined user is added
	// to, when quarantineMode is Group.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	QuarantineGroup string `json:"quarantineGroup,omitempty"`

	// caBundle is a PEM bundle of the CAs to trust for the org's
	// certificate, in addition to the system's. TLS verification is always on.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// EntraSettings configures a Microsoft Entra ID tenant, enforced through
// Microsoft Graph: a grant's entitlement is the display name of a group.
// The credentials Secret holds the app registration's "clientID" and
// either a certificate ("certificate" and "privateKey", PEM), which is
// preferred, or a "clientSecret". The app needs the application
// permissions GroupMember.ReadWrite.All, User.Read.All,
// User.EnableDisableAccount.All and User.RevokeSessions.All.
// +kubebuilder:validation:XValidation:rule="!has(self.quarantineMode) || self.quarantineMode != 'Group' || has(self.quarantineGroup)",message="quarantineGroup is required when quarantineMode is Group"
type EntraSettings struct {
	// tenantID is the directory (tenant) id, a GUID, or a verified domain.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9.-]*$`
	TenantID string `json:"tenantID"`

	// authorityHost is where tokens are issued. Defaults to
	// https://login.microsoftonline.com (a national cloud has its own).
	// +optional
	// +kubebuilder:default="https://login.microsoftonline.com"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^/?#@]+/?$`
	AuthorityHost string `json:"authorityHost,omitempty"`

	// graphEndpoint is Microsoft Graph's base. Defaults to
	// https://graph.microsoft.com.
	// +optional
	// +kubebuilder:default="https://graph.microsoft.com"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^/?#@]+/?$`
	GraphEndpoint string `json:"graphEndpoint,omitempty"`

	// quarantineMode is Suspend (set accountEnabled to false, default) or
	// Group (move the user from the grant's group to quarantineGroup).
	// Either way the user's sign-in sessions are revoked.
	// +optional
	// +kubebuilder:default=Suspend
	QuarantineMode IdentityQuarantineMode `json:"quarantineMode,omitempty"`

	// quarantineGroup is the display name of the group a quarantined user
	// is added to, when quarantineMode is Group.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	QuarantineGroup string `json:"quarantineGroup,omitempty"`

	// caBundle is a PEM bundle of more CAs to trust for both endpoints. TLS
	// verification is always on.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}

// GoogleSettings configures a Google Workspace account, enforced through
// the Admin SDK Directory API: a grant's entitlement is a group's email
// address. The credentials Secret holds a service account's JSON key under
// "serviceAccountKey"; the account needs domain-wide delegation of the
// scopes admin.directory.user, admin.directory.group.member and
// admin.directory.user.security, and impersonates adminEmail.
// +kubebuilder:validation:XValidation:rule="!has(self.quarantineMode) || self.quarantineMode != 'Group' || has(self.quarantineGroup)",message="quarantineGroup is required when quarantineMode is Group"
type GoogleSettings struct {
	// adminEmail is the administrator the service account acts as
	// (domain-wide delegation's subject): an admin holding a role that may
	// manage the contractors' users and the groups grants name.
	// +required
	// +kubebuilder:validation:MaxLength=320
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+$`
	AdminEmail string `json:"adminEmail"`

	// quarantineMode is Suspend (suspend the user, default) or Group (move
	// the user from the grant's group to quarantineGroup). Either way the
	// user is signed out of every session.
	// +optional
	// +kubebuilder:default=Suspend
	QuarantineMode IdentityQuarantineMode `json:"quarantineMode,omitempty"`

	// quarantineGroup is the email address of the group a quarantined user
	// is added to, when quarantineMode is Group.
	// +optional
	// +kubebuilder:validation:MaxLength=320
	QuarantineGroup string `json:"quarantineGroup,omitempty"`

	// endpoint is the Admin SDK's base URL. Defaults to
	// https://admin.googleapis.com/.
	// +optional
	// +kubebuilder:default="https://admin.googleapis.com/"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^/?#@]+/?$`
	Endpoint string `json:"endpoint,omitempty"`

	// tokenURL is Google's OAuth 2.0 token endpoint. Defaults to
	// https://oauth2.googleapis.com/token; the token_uri of the key file is
	// not followed elsewhere.
	// +optional
	// +kubebuilder:default="https://oauth2.googleapis.com/token"
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https://[^?#@]+$`
	TokenURL string `json:"tokenURL,omitempty"`

	// caBundle is a PEM bundle of more CAs to trust for both endpoints. TLS
	// verification is always on.
	// +optional
	// +kubebuilder:validation:MaxLength=65536
	CABundle string `json:"caBundle,omitempty"`
}
