package signals

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// ProviderView is what the identity provider that handled a sign-in says
// of it: where it places the address, which network it names, whether it
// flags the address as a proxy, and how it rates the sign-in's risk. Every
// field but Name is optional. Portcullis's own databases take precedence
// for the network, and the provider's geography places no one (it is kept
// as evidence of the rating); the rating becomes a provider-risk Finding
// when it is medium or high.
type ProviderView struct {
	// Name is who says so: okta, entra or google.
	Name string `json:"name"`
	// Country is the ISO 3166-1 alpha-2 code of the country the provider
	// places the address in.
	Country string `json:"country,omitempty"`
	// City is the city the provider places the address in.
	City string `json:"city,omitempty"`
	// Lat and Lon are the provider's coordinates of the address, in
	// degrees; both or neither.
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	// ASN and ASOrg name the autonomous system of the address.
	ASN   int64  `json:"asn,omitempty"`
	ASOrg string `json:"asOrg,omitempty"`
	// Proxy is true when the provider flags the address as a proxy or an
	// anonymizer; providers flag VPNs and corporate proxies alike.
	Proxy bool `json:"proxy,omitempty"`
	// Risk is the provider's rating of the sign-in: low, medium or high;
	// empty when it gave none.
	Risk string `json:"risk,omitempty"`
	// RiskDetail is what the provider gives as the reasons of its rating,
	// such as Entra's risk event types or Okta's threat reasons.
	RiskDetail []string `json:"riskDetail,omitempty"`
}

// The providers, as ProviderView.Name spells them.
const (
	ProviderOkta   = "okta"
	ProviderEntra  = "entra"
	ProviderGoogle = "google"
)

// The provider's ratings, as ProviderView.Risk spells them.
const (
	RiskLow    = "low"
	RiskMedium = "medium"
	RiskHigh   = "high"
)

// Bounds of a ProviderView and of an account's aliases.
const (
	MaxProviderCity        = 128
	MaxProviderASOrg       = 256
	MaxRiskDetails         = 16
	MaxRiskDetailBytes     = 128
	MaxAliases             = 4
	MaxAccountIDBytes      = 512
	maxASN                 = 1<<32 - 1
	providerRiskDetailsSep = ", "
)

// providerKeys are the keys of an event's provider object.
var providerKeys = map[string]bool{"name": true, "country": true, "city": true, "lat": true, "lon": true,
	"asn": true, "asOrg": true, "proxy": true, "risk": true, "riskDetail": true}

// checkProvider checks an event's provider view.
func checkProvider(p *ProviderView) error {
	if p == nil {
		return nil
	}
	if !slices.Contains([]string{ProviderOkta, ProviderEntra, ProviderGoogle}, p.Name) {
		return fmt.Errorf("provider.name %s is not okta, entra or google", quote(p.Name))
	}
	if p.Country != "" && !IsCountryCode(p.Country) {
		return fmt.Errorf("provider.country %s is not an ISO 3166-1 alpha-2 code (two capital letters)", quote(p.Country))
	}
	switch {
	case len(p.City) > MaxProviderCity:
		return fmt.Errorf("provider.city is longer than %d bytes", MaxProviderCity)
	case len(p.ASOrg) > MaxProviderASOrg:
		return fmt.Errorf("provider.asOrg is longer than %d bytes", MaxProviderASOrg)
	case p.ASN < 0 || p.ASN > maxASN:
		return fmt.Errorf("provider.asn %d is not an AS number (0 to %d)", p.ASN, int64(maxASN))
	case p.Risk != "" && p.Risk != RiskLow && p.Risk != RiskMedium && p.Risk != RiskHigh:
		return fmt.Errorf("provider.risk %s is not low, medium or high (leave it out when the provider gave none)", quote(p.Risk))
	}
	if err := checkCoordinates(p.Lat, p.Lon); err != nil {
		return err
	}
	return checkRiskDetail(p.RiskDetail)
}

func checkCoordinates(lat, lon *float64) error {
	switch {
	case (lat == nil) != (lon == nil):
		return errors.New("provider.lat and provider.lon go together: give both or neither")
	case lat == nil:
		return nil
	case !ValidLatLon(*lat, *lon):
		return fmt.Errorf("provider.lat %g and provider.lon %g are not a point (latitude -90 to 90, longitude -180 to 180)", *lat, *lon)
	}
	return nil
}

func checkRiskDetail(details []string) error {
	if len(details) > MaxRiskDetails {
		return fmt.Errorf("provider.riskDetail has %d entries, more than %d", len(details), MaxRiskDetails)
	}
	for i, d := range details {
		switch {
		case d == "":
			return fmt.Errorf("provider.riskDetail[%d] is empty", i)
		case len(d) > MaxRiskDetailBytes:
			return fmt.Errorf("provider.riskDetail[%d] is longer than %d bytes", i, MaxRiskDetailBytes)
		}
	}
	return nil
}

// checkAliases checks an account's aliases.
func checkAliases(aliases []string) error {
	if len(aliases) > MaxAliases {
		return fmt.Errorf("account.aliases has %d entries, more than %d", len(aliases), MaxAliases)
	}
	for i, a := range aliases {
		switch {
		case a == "":
			return fmt.Errorf("account.aliases[%d] is empty", i)
		case len(a) > MaxAccountIDBytes:
			return fmt.Errorf("account.aliases[%d] is longer than %d bytes", i, MaxAccountIDBytes)
		}
	}
	return nil
}

// IsCountryCode reports whether s has the form of an ISO 3166-1 alpha-2
// code: two capital ASCII letters.
func IsCountryCode(s string) bool {
	return len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z'
}

// ValidLatLon reports whether lat and lon are a point on the globe.
func ValidLatLon(lat, lon float64) bool {
	return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// fillFromProvider fills the network gaps the databases left in g with the
// provider's facts: the AS number, and its organisation where the AS is
// the same. The provider's geography is not used: a country placed by the
// provider alone must not revoke a contractor for a sanctioned country, nor
// a location behind the proxies it flags make travel; it stays in the
// provider-risk Finding's evidence. A proxy flag is not an anonymizer
// either: it stays with the provider's rating.
func fillFromProvider(g *Geo, p *ProviderView) {
	if p == nil {
		return
	}
	switch {
	case g.ASN == 0 && p.ASN > 0 && p.ASN <= maxASN:
		g.ASN = uint32(p.ASN)
		if g.ASOrg == "" {
			g.ASOrg = p.ASOrg
		}
	case g.ASOrg == "" && int64(g.ASN) == p.ASN:
		g.ASOrg = p.ASOrg
	}
}

// providerRisk observes the provider's rating of a sign-in when it is
// medium or high: one signal per provider and level (key
// "<provider>/<level>"), with the provider as its source and its rating as
// the severity. The evidence holds the sign-in's address, country and
// network, and under details the rating, its reasons (riskDetail) and
// whether the provider flagged the address as a proxy (proxy). A low
// rating or a proxy flag alone is no signal.
func providerRisk(s SignIn) (Signal, bool) {
	p := s.Provider
	if p == nil {
		return Signal{}, false
	}
	var severity accessv1alpha1.Severity
	switch p.Risk {
	case RiskMedium:
		severity = accessv1alpha1.SeverityMedium
	case RiskHigh:
		severity = accessv1alpha1.SeverityHigh
	default:
		return Signal{}, false
	}
	ev := evidenceOf(s)
	ev.Details = mergeDetails(ev.Details, "risk", p.Risk)
	if len(p.RiskDetail) > 0 {
		ev.Details["riskDetail"] = truncate(strings.Join(p.RiskDetail, providerRiskDetailsSep), 1024)
	}
	if p.Proxy {
		ev.Details["proxy"] = "true"
	}
	if p.Country != "" {
		ev.Details["providerCountry"] = p.Country
	}
	summary := fmt.Sprintf("%s rated a sign-in from %s %s risk", p.Name, s.IP, p.Risk)
	if len(p.RiskDetail) > 0 {
		summary += " (" + strings.Join(p.RiskDetail, providerRiskDetailsSep) + ")"
	}
	return Signal{Type: accessv1alpha1.FindingProviderRisk, Severity: severity, Source: p.Name,
		Key: p.Name + "/" + p.Risk, Summary: summary, Evidence: ev}, true
}
