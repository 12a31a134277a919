package signals

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// SignIn is an enriched sign-in.
type SignIn struct {
	// Contractor is "namespace/name".
	Contractor string
	Time       time.Time
	IP         netip.Addr
	// Country is the ISO 3166-1 alpha-2 code of the address, if known.
	Country string
	// ASN is the address's autonomous system, if known.
	ASN uint32
	// Lat and Lon locate the address when HasLocation.
	Lat, Lon    float64
	HasLocation bool
	// Anonymizer is the anonymizing service behind the address, if any.
	Anonymizer accessv1alpha1.AnonymizerKind
	DeviceID   string
}

// Profile is what a contractor claims.
type Profile struct {
	ClaimedCountry string
	// Timezone is the claimed IANA time zone; empty skips the off-hours check.
	Timezone      string
	TravelNotices []accessv1alpha1.TravelNotice
}

// Lists are the reference lists and thresholds of the correlators.
type Lists struct {
	SanctionedCountries map[string]bool
	CorporateASNs       map[uint32]bool
	HostingASNs         map[uint32]bool
	// MaxSpeedKMH is the fastest plausible travel; default 900.
	MaxSpeedKMH float64
	// WorkStart and WorkEnd bound working hours in the claimed time zone
	// (default 7 and 20); weekends are outside them.
	WorkStart, WorkEnd int
	// OffHoursMinSignIns and OffHoursFraction: at least this many sign-ins,
	// more than this fraction of them off hours (defaults 10 and 0.6).
	OffHoursMinSignIns int
	OffHoursFraction   float64
}

func (l Lists) withDefaults() Lists {
	if l.MaxSpeedKMH <= 0 {
		l.MaxSpeedKMH = 900
	}
	if l.WorkStart == 0 && l.WorkEnd == 0 {
		l.WorkStart, l.WorkEnd = 7, 20
	}
	if l.OffHoursMinSignIns <= 0 {
		l.OffHoursMinSignIns = 10
	}
	if l.OffHoursFraction <= 0 {
		l.OffHoursFraction = 0.6
	}
	return l
}

// Signal is evidence that becomes (or updates) one Finding of a
// contractor: one per type and key.
type Signal struct {
	Type           accessv1alpha1.FindingType
	AnonymizerKind accessv1alpha1.AnonymizerKind
	Severity       accessv1alpha1.Severity
	// Key tells this finding apart from others of the contractor and type.
	Key      string
	Summary  string
	Evidence accessv1alpha1.Evidence
	// SeenAt is the time of the latest sign-in behind the signal.
	SeenAt time.Time
}

// Correlate runs the per-contractor correlators over a contractor's recent
// sign-ins: sanctioned country, geolocation, anonymizer, impossible travel
// and off hours. It is a pure function.
func Correlate(p Profile, signIns []SignIn, lists Lists) []Signal {
	l := lists.withDefaults()
	sorted := append([]SignIn(nil), signIns...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	var out []Signal
	for _, s := range sorted {
		out = append(out, perSignIn(p, s, l)...)
	}
	out = append(out, impossibleTravel(sorted, l)...)
	if sig, ok := offHours(p, sorted, l); ok {
		out = append(out, sig)
	}
	return dedupe(out)
}

func perSignIn(p Profile, s SignIn, l Lists) []Signal {
	var out []Signal
	corporate := s.ASN != 0 && l.CorporateASNs[s.ASN]
	ev := accessv1alpha1.Evidence{IP: s.IP.String(), Country: accessv1alpha1.CountryCode(s.Country), ASN: int64(s.ASN), DeviceID: s.DeviceID}
	switch {
	case s.Country != "" && l.SanctionedCountries[s.Country]:
		out = append(out, Signal{Type: accessv1alpha1.FindingSanctionedCountry, Severity: accessv1alpha1.SeverityCritical,
			Key: s.Country, Summary: fmt.Sprintf("sign-in from sanctioned country %s (%s)", s.Country, s.IP), Evidence: ev, SeenAt: s.Time})
	case s.Country != "" && s.Country != p.ClaimedCountry && !corporate && !travelling(p, s.Country, s.Time):
		out = append(out, Signal{Type: accessv1alpha1.FindingGeolocation, Severity: accessv1alpha1.SeverityHigh,
			Key: s.Country, Summary: fmt.Sprintf("sign-in from %s while claiming %s, with no travel notice", s.Country, p.ClaimedCountry),
			Evidence: ev, SeenAt: s.Time})
	}
	kind := s.Anonymizer
	if kind == "" && s.ASN != 0 && l.HostingASNs[s.ASN] {
		kind = accessv1alpha1.AnonymizerHosting
	}
	if kind != "" && !corporate {
		severity := accessv1alpha1.SeverityMedium
		if kind == accessv1alpha1.AnonymizerTor || kind == accessv1alpha1.AnonymizerResidentialProxy {
			severity = accessv1alpha1.SeverityHigh
		}
		out = append(out, Signal{Type: accessv1alpha1.FindingAnonymizer, AnonymizerKind: kind, Severity: severity,
			Key: string(kind) + "/" + s.IP.String(), Summary: fmt.Sprintf("sign-in through %s from %s", kind, s.IP),
			Evidence: ev, SeenAt: s.Time})
	}
	return out
}

func travelling(p Profile, country string, at time.Time) bool {
	for _, n := range p.TravelNotices {
		if string(n.Country) == country && !at.Before(n.From.Time) && !at.After(n.Until.Time) {
			return true
		}
	}
	return false
}

// impossibleTravel flags consecutive sign-ins from two countries whose
// distance over the time between them needs more than MaxSpeedKMH.
func impossibleTravel(sorted []SignIn, l Lists) []Signal {
	var out []Signal
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if !a.HasLocation || !b.HasLocation || a.Country == "" || a.Country == b.Country {
			continue
		}
		km := haversineKM(a.Lat, a.Lon, b.Lat, b.Lon)
		hours := b.Time.Sub(a.Time).Hours()
		if km < 1 || (hours > 0 && km/hours <= l.MaxSpeedKMH) {
			continue
		}
		out = append(out, Signal{Type: accessv1alpha1.FindingImpossibleTravel, Severity: accessv1alpha1.SeverityHigh,
			Key:     a.Country + ">" + b.Country,
			Summary: fmt.Sprintf("%s to %s, %.0f km in %s", a.Country, b.Country, km, b.Time.Sub(a.Time).Round(time.Minute)),
			Evidence: accessv1alpha1.Evidence{IP: b.IP.String(), Country: accessv1alpha1.CountryCode(b.Country), ASN: int64(b.ASN),
				Details: map[string]string{"from": a.IP.String(), "fromCountry": a.Country}},
			SeenAt: b.Time})
	}
	return out
}

// haversineKM is the great-circle distance between two points.
func haversineKM(lat1, lon1, lat2, lon2 float64) float64 {
	const earthRadiusKM = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	h := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKM * math.Asin(math.Sqrt(h))
}

// offHours flags a contractor most of whose sign-ins fall outside working
// hours, or on weekends, in the claimed time zone.
func offHours(p Profile, sorted []SignIn, l Lists) (Signal, bool) {
	if p.Timezone == "" || len(sorted) < l.OffHoursMinSignIns {
		return Signal{}, false
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return Signal{}, false
	}
	off := 0
	for _, s := range sorted {
		local := s.Time.In(loc)
		weekend := local.Weekday() == time.Saturday || local.Weekday() == time.Sunday
		if weekend || local.Hour() < l.WorkStart || local.Hour() >= l.WorkEnd {
			off++
		}
	}
	fraction := float64(off) / float64(len(sorted))
	if fraction <= l.OffHoursFraction {
		return Signal{}, false
	}
	last := sorted[len(sorted)-1]
	return Signal{Type: accessv1alpha1.FindingOffHours, Severity: accessv1alpha1.SeverityMedium, Key: p.Timezone,
		Summary:  fmt.Sprintf("%d of %d sign-ins outside working hours in %s", off, len(sorted), p.Timezone),
		Evidence: accessv1alpha1.Evidence{Details: map[string]string{"offHours": fmt.Sprint(off), "signIns": fmt.Sprint(len(sorted))}},
		SeenAt:   last.Time}, true
}

// SharedInfrastructure finds IP addresses and devices used by two or more
// contractors within window before now — the laptop-farm signal. Each
// contractor gets a signal naming the others. Addresses of corporate egress
// ASNs are shared by design and left out.
func SharedInfrastructure(signIns []SignIn, window time.Duration, now time.Time, lists Lists) map[string][]Signal {
	type use struct {
		contractors map[string]bool
		last        time.Time
		sample      SignIn
	}
	uses := map[string]*use{}
	for _, s := range signIns {
		if now.Sub(s.Time) > window || s.Time.After(now) {
			continue
		}
		var keys []string
		if s.IP.IsValid() && (s.ASN == 0 || !lists.CorporateASNs[s.ASN]) {
			keys = append(keys, "ip:"+s.IP.String())
		}
		if s.DeviceID != "" {
			keys = append(keys, "device:"+s.DeviceID)
		}
		for _, k := range keys {
			u := uses[k]
			if u == nil {
				u = &use{contractors: map[string]bool{}}
				uses[k] = u
			}
			u.contractors[s.Contractor] = true
			if s.Time.After(u.last) {
				u.last, u.sample = s.Time, s
			}
		}
	}
	out := map[string][]Signal{}
	for key, u := range uses {
		if len(u.contractors) < 2 {
			continue
		}
		for c := range u.contractors {
			out[c] = append(out[c], sharedSignal(key, c, u.contractors, u.last, u.sample))
		}
	}
	for c := range out {
		sort.Slice(out[c], func(i, j int) bool { return out[c][i].Key < out[c][j].Key })
	}
	return out
}

func sharedSignal(key, contractor string, all map[string]bool, last time.Time, sample SignIn) Signal {
	var others []string
	for o := range all {
		if o != contractor {
			// Findings name contractors of their own namespace by name.
			others = append(others, o[strings.IndexByte(o, '/')+1:])
		}
	}
	sort.Strings(others)
	ev := accessv1alpha1.Evidence{RelatedContractors: others}
	what, value, _ := strings.Cut(key, ":")
	if what == "ip" {
		ev.IP, ev.Country, ev.ASN = value, accessv1alpha1.CountryCode(sample.Country), int64(sample.ASN)
	} else {
		ev.DeviceID = value
	}
	return Signal{Type: accessv1alpha1.FindingSharedInfrastructure, Severity: accessv1alpha1.SeverityHigh, Key: key,
		Summary:  fmt.Sprintf("%s %s is also used by %s", what, value, strings.Join(others, ", ")),
		Evidence: ev, SeenAt: last}
}

// dedupe keeps one signal per type and key: the latest.
func dedupe(signals []Signal) []Signal {
	index := map[string]int{}
	var out []Signal
	for _, s := range signals {
		k := string(s.Type) + "\x00" + s.Key
		if i, ok := index[k]; ok {
			if s.SeenAt.After(out[i].SeenAt) {
				out[i] = s
			}
			continue
		}
		index[k] = len(out)
		out = append(out, s)
	}
	return out
}
