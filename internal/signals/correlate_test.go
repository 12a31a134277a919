package signals

import (
	"net/netip"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

var lists = Lists{
	SanctionedCountries: map[string]bool{"KP": true, "IR": true},
	CorporateASNs:       map[uint32]bool{64500: true},
	HostingASNs:         map[uint32]bool{14061: true},
}

func signIn(at time.Time, ip, country string, asn uint32) SignIn {
	return SignIn{Contractor: "ns/sam", Time: at, IP: netip.MustParseAddr(ip), Country: country, ASN: asn}
}

func located(s SignIn, lat, lon float64) SignIn {
	s.Lat, s.Lon, s.HasLocation = lat, lon, true
	return s
}

func types(signals []Signal) map[string]int {
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
	traveller := Profile{ClaimedCountry: "US", TravelNotices: []accessv1alpha1.TravelNotice{{
		Country: "CA", From: metav1.Time{Time: t0.Add(-time.Hour)}, Until: metav1.Time{Time: t0.Add(48 * time.Hour)}}}}
	tor := signIn(t0, "185.220.101.4", "DE", 64497)
	tor.Anonymizer = accessv1alpha1.AnonymizerTor
	tests := []struct {
		name    string
		profile Profile
		signIns []SignIn
		want    map[string]int
	}{
		{"at home", us, []SignIn{signIn(t0, "203.0.113.1", "US", 64512)}, map[string]int{}},
		{"sanctioned country, once per country", us, []SignIn{signIn(t0, "175.45.176.1", "KP", 0), signIn(t0.Add(time.Hour), "175.45.176.2", "KP", 0)},
			map[string]int{"sanctioned-country": 1}},
		{"abroad", us, []SignIn{signIn(t0, "203.0.113.9", "BR", 64512)}, map[string]int{"geolocation": 1}},
		{"abroad with a travel notice", traveller, []SignIn{signIn(t0, "203.0.113.9", "CA", 64512)}, map[string]int{}},
		{"corporate egress abroad", us, []SignIn{signIn(t0, "198.51.100.1", "DE", 64500)}, map[string]int{}},
		{"tor", us, []SignIn{tor}, map[string]int{"geolocation": 1, "anonymizer/tor": 1}},
		{"hosting ASN", us, []SignIn{signIn(t0, "192.0.2.10", "US", 14061)}, map[string]int{"anonymizer/hosting": 1}},
		{"impossible travel", us, []SignIn{
			located(signIn(t0, "203.0.113.1", "US", 1), 40.7, -74.0),
			located(signIn(t0.Add(time.Hour), "203.0.113.2", "SG", 1), 1.35, 103.8),
		}, map[string]int{"geolocation": 1, "impossible-travel": 1}},
		{"a long flight is possible", traveller, []SignIn{
			located(signIn(t0, "203.0.113.1", "US", 1), 40.7, -74.0),
			located(signIn(t0.Add(10*time.Hour), "203.0.113.2", "CA", 1), 43.65, -79.38),
		}, map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := types(Correlate(tt.profile, tt.signIns, lists))
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
	if got := types(Correlate(p, night, lists)); got["off-hours"] != 1 {
		t.Errorf("night work not flagged: %v", got)
	}
	if got := types(Correlate(p, day, lists)); got["off-hours"] != 0 {
		t.Errorf("day work flagged: %v", got)
	}
	if got := types(Correlate(p, night[:5], lists)); got["off-hours"] != 0 {
		t.Errorf("flagged on too few sign-ins: %v", got)
	}
}

func TestSharedInfrastructure(t *testing.T) {
	at := now.Add(-time.Hour)
	a := signIn(at, "203.0.113.50", "US", 64512)
	b := signIn(at.Add(time.Minute), "203.0.113.50", "US", 64512)
	b.Contractor = "ns/kim"
	c := signIn(at, "198.51.100.1", "US", 64500) // corporate egress, shared by design
	d := c
	d.Contractor = "ns/lee"
	e := signIn(at, "192.0.2.1", "US", 1)
	e.Contractor, e.DeviceID = "ns/lee", "laptop-7f3a"
	f := signIn(at, "192.0.2.2", "US", 1)
	f.DeviceID = "laptop-7f3a"
	old := signIn(now.Add(-48*time.Hour), "203.0.113.50", "US", 64512)
	old.Contractor = "ns/old"

	got := SharedInfrastructure([]SignIn{a, b, c, d, e, f, old}, 24*time.Hour, now, lists)
	if len(got["ns/sam"]) != 2 || len(got["ns/kim"]) != 1 || len(got["ns/lee"]) != 1 || len(got["ns/old"]) != 0 {
		t.Fatalf("shared = %+v", got)
	}
	kim := got["ns/kim"][0]
	if kim.Key != "ip:203.0.113.50" || len(kim.Evidence.RelatedContractors) != 1 || kim.Evidence.RelatedContractors[0] != "sam" {
		t.Errorf("kim's signal = %+v", kim)
	}
	lee := got["ns/lee"][0]
	if lee.Key != "device:laptop-7f3a" || lee.Evidence.DeviceID != "laptop-7f3a" {
		t.Errorf("lee's signal = %+v", lee)
	}
}

func TestHaversine(t *testing.T) {
	// New York to London is about 5,570 km.
	if d := haversineKM(40.7128, -74.0060, 51.5074, -0.1278); d < 5500 || d > 5650 {
		t.Errorf("NYC-London = %.0f km", d)
	}
}
