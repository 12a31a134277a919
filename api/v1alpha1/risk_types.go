package v1alpha1

// RiskLevel names a band of risk scores: None, Low, Medium, High or
// Critical. Where the bands start is policy data (risk.levels).
// +kubebuilder:validation:Enum=None;Low;Medium;High;Critical
type RiskLevel string

// The risk levels, from no contribution at all to the top band.
const (
	RiskNone     RiskLevel = "None"
	RiskLow      RiskLevel = "Low"
	RiskMedium   RiskLevel = "Medium"
	RiskHigh     RiskLevel = "High"
	RiskCritical RiskLevel = "Critical"
)

// Risk is a contractor's risk as the policies weigh it: the contributions
// of a policy's risk rule set that no exception sets aside, the heaviest of
// each code counted once. It is shown whether or not it reaches a threshold
// that acts, so a security team sees a contractor drift towards one.
type Risk struct {
	// level is the band the score falls in.
	// +required
	Level RiskLevel `json:"level"`

	// score is the sum of the contributions' weights, rounded.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Score int32 `json:"score,omitempty"`

	// policy is the AccessPolicy whose contributions make the score: of
	// several policies with risk rule sets, the one scoring highest.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`

	// contributions explain the score, heaviest first.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Contributions []RiskContribution `json:"contributions,omitempty"`
}

// RiskContribution is one signal's part in a risk score.
type RiskContribution struct {
	// code names the signal, e.g. CountryMismatch.
	// +required
	// +kubebuilder:validation:MaxLength=128
	Code string `json:"code"`

	// weight is what it adds to the score, rounded.
	// +required
	// +kubebuilder:validation:Minimum=0
	Weight int32 `json:"weight"`

	// message explains it, with the evidence it rests on.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}
