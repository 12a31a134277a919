package signals

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

var lists = Lists{HostingASNs: map[uint32]bool{14061: true}}

func signIn(at time.Time, ip, country string, asn uint32) SignIn {
	return SignIn{Contractor: "ns/sam", Time: at, IP: netip.MustParseAddr(ip), Country: country, ASN: asn}
}

func located(s SignIn, lat, lon float64) SignIn {
	s.Lat, s.Lon, s.HasLocation = lat, lon, true
	return s
}

func kinds(signals []Signal) map[string]int {
	out := map[string]int{}
	for _, s := range signals {
		k := string(s.Type)
		if s.AnonymizerKind != "" {
			k += "/" + string(s.AnonymizerKind)
		}
		out[k]++
	}
	return out
}

func TestCorrelate(t *testing.T) {
	t0 := now.Add(-6 * time.Hour)
	us := Profile{ClaimedCountry: "US"}
	tor := signIn(t0, "185.220.101.4", "DE", 64497)
	tor.Anonymizer = accessv1alpha1.AnonymizerTor
	tests := []struct {
		name    string
		profile Profile
		signIns []SignIn
		want    map[string]int
	}{
		{"at home", us, []SignIn{signIn(t0, "203.0.113.1", "US", 64512)}, map[string]int{}},
		// A sanctioned country is a country observed like any other: the
		// policies know which ones are sanctioned.
		{"sanctioned country, once per country and week", us, []SignIn{signIn(t0, "175.45.176.1", "KP", 0), signIn(t0.Add(time.Hour), "175.45.176.2", "KP", 0)},
			map[string]int{"geolocation": 1}},
		{"abroad", us, []SignIn{signIn(t0, "203.0.113.9", "BR", 64512)}, map[string]int{"geolocation": 1}},
		{"abroad in two weeks", us, []SignIn{signIn(t0, "203.0.113.9", "BR", 64512), signIn(t0.Add(-7*24*time.Hour), "203.0.113.9", "BR", 64512)},
			map[string]int{"geolocation": 2}},
		// The company's egress abroad is observed too; the policies set it aside.
		{"corporate egress abroad", us, []SignIn{signIn(t0, "198.51.100.1", "DE", 64500)}, map[string]int{"geolocation": 1}},
		{"tor: the exit's country says nothing", us, []SignIn{tor}, map[string]int{"anonymizer/tor": 1}},
		{"hosting ASN", us, []SignIn{signIn(t0, "192.0.2.10", "US", 14061)}, map[string]int{"anonymizer/hosting": 1}},
		{"impossible travel", us, []SignIn{
			located(signIn(t0, "203.0.113.1", "US", 1), 40.7, -74.0),
			located(signIn(t0.Add(time.Hour), "203.0.113.2", "SG", 1), 1.35, 103.8),
		}, map[string]int{"geolocation": 1, "impossible-travel": 1}},
		{"impossible travel between country centroids", us, []SignIn{
			signIn(t0, "203.0.113.1", "US", 1), signIn(t0.Add(time.Hour), "203.0.113.2", "KP", 1),
		}, map[string]int{"geolocation": 1, "impossible-travel": 1}},
		{"a Tor hop between two countries does not hide the travel", us, []SignIn{
			signIn(t0, "203.0.113.1", "US", 1), tor, signIn(t0.Add(time.Hour), "203.0.113.2", "KP", 1),
		}, map[string]int{"anonymizer/tor": 1, "geolocation": 1, "impossible-travel": 1}},
		{"neighbours by centroid within hours", us, []SignIn{
			signIn(t0, "203.0.113.1", "US", 1), signIn(t0.Add(5*time.Hour), "203.0.113.2", "CA", 1),
		}, map[string]int{"geolocation": 1}},
		{"a long flight is possible", us, []SignIn{
			located(signIn(t0, "203.0.113.1", "US", 1), 40.7, -74.0),
			located(signIn(t0.Add(10*time.Hour), "203.0.113.2", "CA", 1), 43.65, -79.38),
		}, map[string]int{"geolocation": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signals := Correlate(tt.profile, nil, tt.signIns, lists)
			for _, s := range signals {
				if s.Severity != Observed {
					t.Errorf("%s %s has severity %s: the correlators observe, the policies weigh", s.Type, s.Key, s.Severity)
				}
			}
			got := kinds(signals)
			if len(got) != len(tt.want) {
				t.Fatalf("signals %v, want %v", got, tt.want)
			}
			for k, n := range tt.want {
				if got[k] != n {
					t.Errorf("signals %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestOffHours(t *testing.T) {
	p := Profile{ClaimedCountry: "US", Timezone: "America/Chicago"}
	var night, day []SignIn
	// Tuesday 2026-11-24: 03:00 in Chicago is 09:00 UTC; 10:00 is 16:00 UTC.
	for i := range 10 {
		night = append(night, signIn(time.Date(2026, 11, 24, 9, i, 0, 0, time.UTC), "203.0.113.1", "US", 1))
		day = append(day, signIn(time.Date(2026, 11, 24, 16, i, 0, 0, time.UTC), "203.0.113.1", "US", 1))
	}
	if got := kinds(Correlate(p, nil, night, lists)); got["off-hours"] != 1 {
		t.Errorf("night work not flagged: %v", got)
	}
	if got := kinds(Correlate(p, nil, day, lists)); got["off-hours"] != 0 {
		t.Errorf("day work flagged: %v", got)
	}
	if got := kinds(Correlate(p, nil, night[:5], lists)); got["off-hours"] != 0 {
		t.Errorf("flagged on too few sign-ins: %v", got)
	}
}

func TestCorrelateCountsOnlyNewSignIns(t *testing.T) {
	t0 := now.Add(-6 * time.Hour)
	us := Profile{ClaimedCountry: "US"}
	first := []SignIn{signIn(t0, "175.45.176.1", "KP", 0), signIn(t0.Add(time.Minute), "175.45.176.2", "KP", 0)}
	first[0].Time = first[0].Time.Truncate(7 * 24 * time.Hour).Add(72 * time.Hour) // a Monday...
	first[1].Time = first[0].Time.Add(time.Minute)                                 // ...and the same week
	t0 = first[0].Time
	got := Correlate(us, nil, first, lists)
	if len(got) != 1 || got[0].Count != 2 || !got[0].FirstSeen.Equal(t0) || !got[0].SeenAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first batch = %+v", got)
	}
	if again := Correlate(us, first, nil, lists); len(again) != 0 {
		t.Errorf("history alone gave signals: %+v", again)
	}
	// A sign-in from home after the history: travel from KP to the US in an
	// hour is impossible, and nothing of the history is counted again.
	home := signIn(t0.Add(time.Hour), "203.0.113.1", "US", 1)
	next := kinds(Correlate(us, first, []SignIn{home}, lists))
	if len(next) != 1 || next["impossible-travel"] != 1 {
		t.Errorf("next batch = %v", next)
	}
}

// describeShared renders each contractor's shared-infrastructure signals
// as "key count related...".
func describeShared(got map[string][]Signal) map[string][]string {
	out := map[string][]string{}
	for c, signals := range got {
		for _, s := range signals {
			out[c] = append(out[c], fmt.Sprintf("%s %d %s", s.Key, s.Count, strings.Join(s.Evidence.RelatedContractors, ",")))
		}
	}
	return out
}

func TestInfraIndex(t *testing.T) {
	at := now.Add(-time.Hour)
	x := NewInfraIndex(24 * time.Hour)
	a := signIn(at, "203.0.113.50", "US", 64512)
	old := signIn(at.Add(-48*time.Hour), "203.0.113.50", "US", 64512)
	old.Contractor = "ns/old"
	corp := signIn(at, "198.51.100.1", "US", 64500) // corporate egress, shared by design
	dev := signIn(at, "192.0.2.2", "US", 1)
	dev.DeviceID = "laptop-7f3a"
	x.Add([]SignIn{a, old, corp, dev})

	if got := x.Observe([]SignIn{a}); len(got) != 0 {
		t.Fatalf("one contractor alone is not shared: %+v", got)
	}
	b := signIn(at.Add(time.Minute), "203.0.113.50", "US", 64512)
	b.Contractor = "other/kim"
	d := signIn(at, "198.51.100.1", "US", 64500)
	d.Contractor = "ns/lee"
	e := signIn(at, "192.0.2.1", "US", 1)
	e.Contractor, e.DeviceID = "ns/lee", "laptop-7f3a"
	got := describeShared(x.Observe([]SignIn{b, d, e}))
	want := map[string][]string{
		// sam signed in before: no new sign-ins of theirs to count. The
		// corporate egress is observed; the policies set it aside.
		"ns/sam":    {"device:laptop-7f3a 0 lee", "ip:198.51.100.1 0 lee", "ip:203.0.113.50 0 other/kim"},
		"other/kim": {"ip:203.0.113.50 1 ns/sam"},
		"ns/lee":    {"device:laptop-7f3a 1 sam", "ip:198.51.100.1 1 sam"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shared = %v, want %v", got, want)
	}

	// kim again: counted on kim's Finding; sam already knows kim.
	again := b
	again.Time = b.Time.Add(time.Minute)
	got = describeShared(x.Observe([]SignIn{again}))
	if want := map[string][]string{"other/kim": {"ip:203.0.113.50 1 ns/sam"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("a known user again = %v, want %v", got, want)
	}

	x.Prune(now)
	if x.Len() != 5 {
		t.Errorf("after pruning the index holds %d keys, want 5 (the old use is gone, its address kept by newer ones)", x.Len())
	}
	x.Prune(now.Add(48 * time.Hour))
	if x.Len() != 0 {
		t.Errorf("after the window the index holds %d keys", x.Len())
	}
}

func TestCountryCentroid(t *testing.T) {
	us, ok := CountryCentroid("US")
	kp, ok2 := CountryCentroid("KP")
	if !ok || !ok2 {
		t.Fatal("no centroid for US or KP")
	}
	if d := haversineKM(us.Lat, us.Lon, kp.Lat, kp.Lon); d < 9000 || d > 12000 {
		t.Errorf("US-KP centroids are %.0f km apart", d)
	}
	if _, ok := CountryCentroid("XX"); ok {
		t.Error("a centroid for XX")
	}
}

func TestHaversine(t *testing.T) {
	// New York to London is about 5,570 km.
	if d := haversineKM(40.7128, -74.0060, 51.5074, -0.1278); d < 5500 || d > 5650 {
		t.Errorf("NYC-London = %.0f km", d)
	}
}
