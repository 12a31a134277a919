package idplogs

import (
	"encoding/json"
	"math"
	"slices"
	"strings"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// The provider's view of a sign-in is read leniently: a field that is
// missing, of another JSON type than the vendor documents, or out of range
// is left out, and never makes the record an error. What is kept passes
// the checks of signals.Parse.

// oktaProvider reads Okta's view: client.geographicalContext (country by
// name, city, geolocation), securityContext (asNumber, asOrg, isProxy) and
// debugContext.debugData (risk "{level=HIGH, reasons=...}",
// threatSuspected, behaviors).
func oktaProvider(e *oktaEvent) *signals.ProviderView {
	p := &signals.ProviderView{Name: signals.ProviderOkta}
	geo := object(e.Client.GeographicalContext)
	if code, ok := signals.CountryCodeOf(str(geo["country"])); ok {
		p.Country = code
	}
	p.City = str(geo["city"])
	point := object(geo["geolocation"])
	setPoint(p, point["lat"], point["lon"])
	sec := object(e.SecurityContext)
	if n, ok := number(sec["asNumber"]); ok {
		p.ASN = int64(n)
	}
	p.ASOrg = str(sec["asOrg"])
	p.Proxy = flag(sec["isProxy"])
	data := object(object(e.DebugContext)["debugData"])
	risk := oktaMap(str(data["risk"]))
	if level := risk["level"]; len(level) == 1 {
		p.Risk = rating(level[0])
	}
	p.RiskDetail = append(p.RiskDetail, risk["reasons"]...)
	if flag(data["threatSuspected"]) {
		p.RiskDetail = append(p.RiskDetail, "threatSuspected")
	}
	var positive []string
	for behavior, value := range oktaMap(str(data["behaviors"])) {
		if len(value) == 1 && value[0] == "POSITIVE" {
			positive = append(positive, behavior)
		}
	}
	slices.Sort(positive)
	p.RiskDetail = append(p.RiskDetail, positive...)
	return finish(p)
}

// oktaMap reads the "{key=value, key=value, value, ...}" text of Okta's
// debug data: a part without "=" continues the value before it, so
// "{level=HIGH, reasons=New Device, New IP}" gives level [HIGH] and
// reasons [New Device, New IP].
func oktaMap(s string) map[string][]string {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil
	}
	out := map[string][]string{}
	key := ""
	for part := range strings.SplitSeq(s[1:len(s)-1], ",") {
		part = strings.TrimSpace(part)
		if k, v, ok := strings.Cut(part, "="); ok {
			key = strings.TrimSpace(k)
			part = strings.TrimSpace(v)
		}
		if key != "" && part != "" {
			out[key] = append(out[key], part)
		}
	}
	return out
}

// entraProvider reads Entra's view: location (countryOrRegion, city,
// geoCoordinates), riskLevelDuringSignIn (the rating of this sign-in;
// riskLevelAggregated is the user's standing risk, such as leaked
// credentials, and says nothing of where the sign-in came from), riskState,
// riskEventTypes_v2 and riskDetail. A risk an administrator dismissed or
// confirmed safe, or that the user remediated (riskState dismissed,
// confirmedSafe, remediated: an MFA or a password change), is no rating;
// one confirmed compromised is high.
func entraProvider(s *entraSignIn) *signals.ProviderView {
	p := &signals.ProviderView{Name: signals.ProviderEntra}
	loc := object(s.Location)
	if code := strings.ToUpper(str(loc["countryOrRegion"])); signals.IsCountryCode(code) {
		p.Country = code
	}
	p.City = str(loc["city"])
	point := object(loc["geoCoordinates"])
	setPoint(p, point["latitude"], point["longitude"])
	p.Risk = rating(str(s.RiskLevelDuringSignIn))
	switch str(s.RiskState) {
	case "dismissed", "confirmedSafe", "remediated":
		p.Risk = ""
	case "confirmedCompromised":
		p.Risk = signals.RiskHigh
	}
	var types []json.RawMessage
	_ = json.Unmarshal(s.RiskEventTypesV2, &types)
	for _, t := range types {
		p.RiskDetail = append(p.RiskDetail, str(t))
	}
	if d := str(s.RiskDetail); d != "none" && d != "hidden" && d != "unknownFutureValue" {
		p.RiskDetail = append(p.RiskDetail, d)
	}
	return finish(p)
}

// googleProvider reads Google's view: the is_suspicious parameter of the
// login event (Google rates a login suspicious or not; suspicious reads as
// a medium rating) and networkInfo (regionCode, and ipAsn when it names
// one AS).
func googleProvider(a *googleActivity) *signals.ProviderView {
	p := &signals.ProviderView{Name: signals.ProviderGoogle}
	for _, e := range a.Events {
		var params []json.RawMessage
		_ = json.Unmarshal(e.Parameters, &params)
		for _, raw := range params {
			param := object(raw)
			if str(param["name"]) == "is_suspicious" && flag(param["boolValue"]) {
				p.Risk = signals.RiskMedium
				p.RiskDetail = append(p.RiskDetail, "is_suspicious")
			}
		}
	}
	network := object(a.NetworkInfo)
	if code := strings.ToUpper(str(network["regionCode"])); signals.IsCountryCode(code) {
		p.Country = code
	}
	var asns []json.RawMessage
	if json.Unmarshal(network["ipAsn"], &asns) == nil && len(asns) == 1 {
		if n, ok := number(asns[0]); ok {
			p.ASN = int64(n)
		}
	}
	return finish(p)
}

// finish drops what signals.Parse would refuse, and returns nil when the
// provider said nothing.
func finish(p *signals.ProviderView) *signals.ProviderView {
	if len(p.City) > signals.MaxProviderCity {
		p.City = ""
	}
	if len(p.ASOrg) > signals.MaxProviderASOrg {
		p.ASOrg = ""
	}
	if p.ASN <= 0 || p.ASN > math.MaxUint32 {
		p.ASN = 0
	}
	p.RiskDetail = boundDetails(p.RiskDetail)
	if !said(p) {
		return nil
	}
	return p
}

// said reports whether the view holds anything but the provider's name.
func said(p *signals.ProviderView) bool {
	return p.Country != "" || p.City != "" || p.Lat != nil || p.ASN != 0 || p.ASOrg != "" || p.Proxy ||
		p.Risk != "" || len(p.RiskDetail) > 0
}

// boundDetails keeps the first signals.MaxRiskDetails distinct reasons
// that are not empty or over-long.
func boundDetails(in []string) []string {
	var out []string
	for _, d := range in {
		d = strings.TrimSpace(d)
		if d != "" && len(d) <= signals.MaxRiskDetailBytes && !slices.Contains(out, d) && len(out) < signals.MaxRiskDetails {
			out = append(out, d)
		}
	}
	return out
}

// setPoint sets the coordinates when both are numbers of a point; 0,0,
// which providers give for an unknown place, is left out.
func setPoint(p *signals.ProviderView, rawLat, rawLon json.RawMessage) {
	lat, okLat := float(rawLat)
	lon, okLon := float(rawLon)
	if okLat && okLon && signals.ValidLatLon(lat, lon) && (lat != 0 || lon != 0) {
		p.Lat, p.Lon = &lat, &lon
	}
}

// rating reads a provider's risk level (Okta's LOW, MEDIUM, HIGH; Entra's
// low, medium, high); anything else (none, hidden, unknownFutureValue) is
// no rating.
func rating(level string) string {
	switch l := strings.ToLower(strings.TrimSpace(level)); l {
	case signals.RiskLow, signals.RiskMedium, signals.RiskHigh:
		return l
	}
	return ""
}

// addAlias adds a provider's own id of the account as an alias, when it
// is one the event can carry.
func addAlias(ev *signals.Event, id string) {
	id = strings.TrimSpace(id)
	if ev.Account == nil || id == "" || id == ev.Account.ID || len(id) > signals.MaxAccountIDBytes {
		return
	}
	ev.Account.Aliases = append(ev.Account.Aliases, id)
}

// object reads a JSON object; nil when raw is not one.
func object(raw json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// str reads a JSON string; "" when raw is not one.
func str(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// float reads a JSON number.
func float(raw json.RawMessage) (float64, bool) {
	var f float64
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}

// number reads a JSON number that is a whole number.
func number(raw json.RawMessage) (float64, bool) {
	f, ok := float(raw)
	return f, ok && f == math.Trunc(f) && f >= 0 && f <= math.MaxUint32
}

// flag reads a JSON true or the string "true", as Okta's debug data
// spells its flags.
func flag(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	return strings.EqualFold(str(raw), "true")
}
