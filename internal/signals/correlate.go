package signals

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strconv"
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
	// City and ASOrg name the place and the network, if known.
	City, ASOrg string
	// Anonymizer is the anonymizing service behind the address, if any.
	Anonymizer accessv1alpha1.AnonymizerKind
	DeviceID   string
	UserAgent  string
	// Locale and Timezone are what the client reported, if anything: a
	// device set to another time zone than the claimed one is worth a look.
	Locale, Timezone string
	// Provider is what the identity provider said of the sign-in, if it
	// came from its log: its rating becomes a provider-risk signal.
	Provider *ProviderView

	// unlocated marks a sign-in of the history that the ingester did not
	// look up again (it is not next to a new one): it counts for off hours,
	// not for travel.
	unlocated bool
}

// Profile is what a contractor claims. Travel notices are not part of it:
// the correlators observe, and the policies judge sign-ins against notices.
type Profile struct {
	ClaimedCountry string
	// Timezone is the claimed IANA time zone; empty skips the off-hours check.
	Timezone string
}

// Lists are the reference data of the correlators, read from the policy
// data (ListsFromData) so that the policies judge with the same figures.
// None of it exempts anything: sanctioned countries, corporate egress and
// travel notices are the policies' to weigh.
type Lists struct {
	// HostingASNs classes an address as a data centre (hosting_asns).
	HostingASNs map[uint32]bool
	// MaxSpeedKMH is the fastest plausible travel (travel.max_speed_kmh);
	// default 900.
	MaxSpeedKMH float64
	// WorkStart and WorkEnd bound working hours in the claimed time zone
	// (off_hours.work_start and work_end, default 7 and 20); weekends are
	// outside them.
	WorkStart, WorkEnd int
	// OffHoursMinSignIns and OffHoursFraction: at least this many sign-ins,
	// more than this fraction of them off hours (off_hours.min_signins and
	// fraction, defaults 10 and 0.6).
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
	// Source is the Finding's spec.source: the identity provider for its
	// own rating, empty for the ingester's observations (Source).
	Source   string
	Severity accessv1alpha1.Severity
	// Key tells this finding apart from others of the contractor and type.
	Key      string
	Summary  string
	Evidence accessv1alpha1.Evidence
	// FirstSeen and SeenAt are the times of the earliest and the latest
	// new sign-in behind the signal.
	FirstSeen, SeenAt time.Time
	// Count is how many new sign-ins show it; 0 for a signal about other
	// contractors' activity (shared infrastructure seen from the side that
	// signed in earlier).
	Count int64
}

// Correlate runs the per-contractor correlators over a contractor's new
// sign-ins, with the sign-ins seen before as history: sanctioned country,
// geolocation and anonymizer over the new ones, impossible travel over every
// consecutive pair with a new sign-in in it, and off hours over all. Each
// signal counts the new sign-ins behind it, so a batch sent twice, or
// history seen again, counts nothing twice. It is a pure function.
func Correlate(p Profile, history, fresh []SignIn, lists Lists) []Signal {
	l := lists.withDefaults()
	all := make([]timed, 0, len(history)+len(fresh))
	for i := range history {
		all = append(all, timed{&history[i], false})
	}
	for i := range fresh {
		all = append(all, timed{&fresh[i], true})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	var out []Signal
	for _, s := range all {
		if s.fresh {
			out = append(out, perSignIn(p, *s.SignIn, l)...)
		}
	}
	out = append(out, impossibleTravel(all, l)...)
	if sig, ok := offHours(p, all, l); ok {
		out = append(out, sig)
	}
	return dedupe(out)
}

// timed is a sign-in and whether it is new in this correlation.
type timed struct {
	*SignIn
	fresh bool
}

// Observed is the severity of every signal of the correlators: they record
// what happened, and the policies decide how much it weighs — whether the
// country is sanctioned, the network the company's own, a travel notice
// covers the time.
const Observed = accessv1alpha1.SeverityInfo

// perSignIn observes one sign-in: an anonymizer in front of it, or else a
// country other than the claimed one; and the identity provider's rating
// of it, when medium or high. Where an anonymizer hides the
// sign-in's origin, its address says nothing of where the contractor is, so
// it gets no location signal. A country is observed once per ISO week
// (key "<country>/<year>-W<week>"), so firstSeen and lastSeen keep the
// times a policy relates to a travel notice close to the sign-ins behind
// them.
func perSignIn(p Profile, s SignIn, l Lists) []Signal {
	var out []Signal
	ev := evidenceOf(s)
	switch kind := anonymizer(s, l); {
	case kind != "":
		out = append(out, Signal{Type: accessv1alpha1.FindingAnonymizer, AnonymizerKind: kind, Severity: Observed,
			Key: string(kind) + "/" + s.IP.String(), Summary: fmt.Sprintf("sign-in through %s from %s", kind, s.IP),
			Evidence: ev})
	case s.Country != "" && s.Country != p.ClaimedCountry:
		year, week := s.Time.UTC().ISOWeek()
		out = append(out, Signal{Type: accessv1alpha1.FindingGeolocation, Severity: Observed,
			Key:     fmt.Sprintf("%s/%d-W%02d", s.Country, year, week),
			Summary: fmt.Sprintf("sign-in from %s while claiming %s", s.Country, p.ClaimedCountry), Evidence: ev})
	}
	if sig, ok := providerRisk(s); ok {
		out = append(out, sig)
	}
	for i := range out {
		out[i].FirstSeen, out[i].SeenAt, out[i].Count = s.Time, s.Time, 1
	}
	return out
}

// evidenceOf is what a sign-in shows, as a Finding's evidence.
func evidenceOf(s SignIn) accessv1alpha1.Evidence {
	ev := accessv1alpha1.Evidence{IP: s.IP.String(), Country: accessv1alpha1.CountryCode(s.Country), City: s.City,
		ASN: int64(s.ASN), ASOrganization: s.ASOrg, DeviceID: s.DeviceID, UserAgent: s.UserAgent}
	if s.Locale == "" && s.Timezone == "" {
		return ev
	}
	ev.Details = make(map[string]string, 2)
	if s.Locale != "" {
		ev.Details["locale"] = s.Locale
	}
	if s.Timezone != "" {
		ev.Details["timezone"] = s.Timezone
	}
	return ev
}

// anonymizer is the anonymizing service behind a sign-in: the enricher's
// finding, or a hosting provider by the ASN list. The company's own egress
// through a data centre is observed as hosting too; the policies set it
// aside (corporate_egress_asns).
func anonymizer(s SignIn, l Lists) accessv1alpha1.AnonymizerKind {
	if s.Anonymizer == "" && s.ASN != 0 && l.HostingASNs[s.ASN] {
		return accessv1alpha1.AnonymizerHosting
	}
	return s.Anonymizer
}

// impossibleTravel observes consecutive located sign-ins (with a country
// and not through an anonymizer), at least one of them new, from two
// countries whose distance over the time between them needs more than
// MaxSpeedKMH. It measures between city coordinates when both sign-ins have
// them, and between the countries' centroids otherwise. The evidence holds
// both ends (the earlier one's address, country and AS number under
// details), the distance and, for sign-ins apart in time, the speed.
func impossibleTravel(sorted []timed, l Lists) []Signal {
	located := make([]timed, 0, len(sorted))
	for _, s := range sorted {
		if s.Country != "" && !s.unlocated && anonymizer(*s.SignIn, l) == "" {
			located = append(located, s)
		}
	}
	var out []Signal
	for i := 1; i < len(located); i++ {
		a, b := located[i-1], located[i]
		if !a.fresh && !b.fresh || a.Country == b.Country {
			continue
		}
		km, ok := distanceKM(*a.SignIn, *b.SignIn)
		hours := b.Time.Sub(a.Time).Hours()
		if !ok || km < 1 || (hours > 0 && km/hours <= l.MaxSpeedKMH) {
			continue
		}
		out = append(out, Signal{Type: accessv1alpha1.FindingImpossibleTravel, Severity: Observed,
			Key:     a.Country + ">" + b.Country,
			Summary: fmt.Sprintf("%s to %s, %.0f km in %s", a.Country, b.Country, km, b.Time.Sub(a.Time).Round(time.Minute)),
			Evidence: accessv1alpha1.Evidence{IP: b.IP.String(), Country: accessv1alpha1.CountryCode(b.Country), ASN: int64(b.ASN),
				Details: travelDetails(*a.SignIn, km, hours)},
			FirstSeen: b.Time, SeenAt: b.Time, Count: 1})
	}
	return out
}

// travelDetails are the details of impossible travel from a.
func travelDetails(a SignIn, km, hours float64) map[string]string {
	d := map[string]string{"from": a.IP.String(), "fromCountry": a.Country, "fromASN": strconv.Itoa(int(a.ASN)),
		"distanceKM": fmt.Sprintf("%.0f", km)}
	if hours > 0 {
		d["speedKMH"] = fmt.Sprintf("%.0f", km/hours)
	}
	return d
}

// distanceKM is the distance between two sign-ins: between their
// coordinates when both have them, else between their countries' centroids.
func distanceKM(a, b SignIn) (float64, bool) {
	if a.HasLocation && b.HasLocation {
		return haversineKM(a.Lat, a.Lon, b.Lat, b.Lon), true
	}
	ca, okA := CountryCentroid(a.Country)
	cb, okB := CountryCentroid(b.Country)
	if !okA || !okB {
		return 0, false
	}
	return haversineKM(ca.Lat, ca.Lon, cb.Lat, cb.Lon), true
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
func offHours(p Profile, sorted []timed, l Lists) (Signal, bool) {
	if p.Timezone == "" || len(sorted) < l.OffHoursMinSignIns {
		return Signal{}, false
	}
	loc, err := time.LoadLocation(p.Timezone)
	if err != nil {
		return Signal{}, false
	}
	off, freshOff := 0, int64(0)
	var first time.Time
	for _, s := range sorted {
		local := s.Time.In(loc)
		weekend := local.Weekday() == time.Saturday || local.Weekday() == time.Sunday
		if weekend || local.Hour() < l.WorkStart || local.Hour() >= l.WorkEnd {
			off++
			if s.fresh {
				if freshOff == 0 {
					first = s.Time
				}
				freshOff++
			}
		}
	}
	fraction := float64(off) / float64(len(sorted))
	if fraction <= l.OffHoursFraction || freshOff == 0 {
		return Signal{}, false
	}
	last := sorted[len(sorted)-1]
	return Signal{Type: accessv1alpha1.FindingOffHours, Severity: Observed, Key: p.Timezone,
		Summary:   fmt.Sprintf("%d of %d sign-ins outside working hours in %s", off, len(sorted), p.Timezone),
		Evidence:  accessv1alpha1.Evidence{Details: map[string]string{"offHours": fmt.Sprint(off), "signIns": fmt.Sprint(len(sorted))}},
		FirstSeen: first, SeenAt: last.Time, Count: freshOff}, true
}

// dedupe keeps one signal per type and key: the latest, counting all.
func dedupe(signals []Signal) []Signal {
	index := map[string]int{}
	var out []Signal
	for _, s := range signals {
		k := string(s.Type) + "\x00" + s.Key
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, s)
			continue
		}
		merged := out[i]
		if s.SeenAt.After(merged.SeenAt) {
			merged = s
		}
		merged.Count = out[i].Count + s.Count
		merged.FirstSeen = earliest(out[i].FirstSeen, s.FirstSeen)
		out[i] = merged
	}
	return out
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
