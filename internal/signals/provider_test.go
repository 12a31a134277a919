package signals

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

func TestParseProviderViewAndAliases(t *testing.T) {
	base := `"contractor":"acme/sam","ip":"203.0.113.7","time":"2026-11-28T11:00:00Z"`
	acct := `"account":{"system":"entra-id","id":"sam@acme.example","aliases":%s},"ip":"203.0.113.7","time":"2026-11-28T11:00:00Z"`
	for _, tt := range []struct{ event, want string }{
		{`{` + base + `,"provider":{"name":"entra","country":"DE","city":"Frankfurt am Main","lat":50.11,"lon":8.68,"asn":9009,"asOrg":"M247","proxy":true,"risk":"high","riskDetail":["anonymizedIPAddress"]}}`, ""},
		{`{` + base + `,"provider":{"name":"okta","lat":0,"lon":0}}`, ""},
		{`{` + strings.Replace(acct, "%s", `["d7a6cf8e"]`, 1) + `}`, ""},
		{`{` + base + `,"provider":{"country":"DE"}}`, `provider.name "" is not okta, entra or google`},
		{`{` + base + `,"provider":{"name":"onelogin"}}`, `provider.name "onelogin" is not`},
		{`{` + base + `,"provider":{"name":"okta","country":"de"}}`, `provider.country "de" is not an ISO 3166-1 alpha-2 code`},
		{`{` + base + `,"provider":{"name":"okta","country":"United States"}}`, "alpha-2"},
		{`{` + base + `,"provider":{"name":"okta","lat":50}}`, "provider.lat and provider.lon go together"},
		{`{` + base + `,"provider":{"name":"okta","lat":91,"lon":0}}`, "are not a point"},
		{`{` + base + `,"provider":{"name":"okta","lon":-181,"lat":0}}`, "are not a point"},
		{`{` + base + `,"provider":{"name":"okta","asn":-1}}`, "provider.asn -1 is not an AS number"},
		{`{` + base + `,"provider":{"name":"okta","asn":4294967296}}`, "is not an AS number"},
		{`{` + base + `,"provider":{"name":"entra","risk":"none"}}`, `provider.risk "none" is not low, medium or high`},
		{`{` + base + `,"provider":{"name":"entra","risk":"HIGH"}}`, `provider.risk "HIGH"`},
		{`{` + base + `,"provider":{"name":"entra","riskDetail":[""]}}`, "provider.riskDetail[0] is empty"},
		{`{` + base + `,"provider":{"name":"entra","riskDetail":["` + strings.Repeat("x", 129) + `"]}}`, "provider.riskDetail[0] is longer than 128 bytes"},
		{`{` + base + `,"provider":{"name":"entra","riskDetail":[` + strings.Repeat(`"a",`, 16) + `"a"]}}`, "provider.riskDetail has 17 entries, more than 16"},
		{`{` + base + `,"provider":{"name":"entra","city":"` + strings.Repeat("x", 129) + `"}}`, "provider.city is longer than 128 bytes"},
		{`{` + base + `,"provider":{"name":"entra","asOrg":"` + strings.Repeat("x", 257) + `"}}`, "provider.asOrg is longer than 256 bytes"},
		{`{` + base + `,"provider":{"name":"entra","Risk":"high"}}`, `unknown field "provider.Risk"`},
		{`{` + base + `,"provider":{"name":"entra","name":"okta"}}`, `field "provider.name" is given twice`},
		{`{` + base + `,"provider":{"name":"entra","proxy":"yes"}}`, "not a sign-in event"},
		{`{` + strings.Replace(acct, "%s", `["a","b","c","d","e"]`, 1) + `}`, "account.aliases has 5 entries, more than 4"},
		{`{` + strings.Replace(acct, "%s", `[""]`, 1) + `}`, "account.aliases[0] is empty"},
		{`{` + strings.Replace(acct, "%s", `["`+strings.Repeat("x", 513)+`"]`, 1) + `}`, "account.aliases[0] is longer than 512 bytes"},
		{`{` + strings.Replace(acct, "%s", `["x"],"Aliases":["y"]`, 1) + `}`, `unknown field "account.Aliases"`},
	} {
		valid, rejected, err := Parse([]byte(tt.event), now, DefaultLimits())
		switch {
		case err != nil:
			t.Errorf("%s: %v", tt.event, err)
		case tt.want == "" && len(valid) != 1:
			t.Errorf("%s: rejected %+v", tt.event, rejected)
		case tt.want != "" && (len(rejected) != 1 || !strings.Contains(rejected[0].Error, tt.want)):
			t.Errorf("%s: rejected %+v, want %q", tt.event, rejected, tt.want)
		}
	}
}

// The databases keep precedence; the provider fills only their network
// gaps: its geography alone must not place a contractor in a sanctioned
// country or make travel; and a proxy flag does not become an anonymizer.
func TestFillFromProvider(t *testing.T) {
	lat, lon := 50.11, 8.68
	de := &ProviderView{Name: "entra", Country: "DE", City: "Frankfurt", Lat: &lat, Lon: &lon, ASN: 9009, ASOrg: "M247", Proxy: true}
	for _, tt := range []struct {
		name    string
		own, in Geo
		p       *ProviderView
		want    Geo
	}{
		{"no databases", Geo{}, Geo{}, de, Geo{ASN: 9009, ASOrg: "M247"}},
		{"own facts win", Geo{Country: "US", City: "Austin", ASN: 7922, ASOrg: "Comcast"}, Geo{}, de,
			Geo{Country: "US", City: "Austin", ASN: 7922, ASOrg: "Comcast"}},
		{"no city from another country", Geo{Country: "US"}, Geo{}, de, Geo{Country: "US", ASN: 9009, ASOrg: "M247"}},
		{"same country, no city", Geo{Country: "DE"}, Geo{}, de, Geo{Country: "DE", ASN: 9009, ASOrg: "M247"}},
		{"the organisation of the same AS", Geo{ASN: 9009}, Geo{}, &ProviderView{Name: "okta", ASN: 9009, ASOrg: "M247"}, Geo{ASN: 9009, ASOrg: "M247"}},
		{"not of another AS", Geo{ASN: 7922}, Geo{}, &ProviderView{Name: "okta", ASN: 9009, ASOrg: "M247"}, Geo{ASN: 7922}},
		{"no view", Geo{Country: "US"}, Geo{}, nil, Geo{Country: "US"}},
	} {
		g := tt.own
		fillFromProvider(&g, tt.p)
		if !reflect.DeepEqual(g, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.name, g, tt.want)
		}
	}
}

// A contractor whose accounts list the Entra object id gets the sign-in
// whose userPrincipalName they do not list; the id comes first, and an
// account listed by no one under any of its ids is rejected.
func TestIngestResolvesAliases(t *testing.T) {
	store := newMemStore(
		contractor("acme", "kim", accessv1alpha1.Account{System: "entra-id", ID: "d7a6cf8e-3c1b-4f2a-9b55-0c3e2f1a9d10"}),
		contractor("acme", "sam", accessv1alpha1.Account{System: "entra-id", ID: "sam@acme.example"}))
	t0 := now.Add(-time.Hour)
	withAliases := func(id string, aliases string, at time.Time) string {
		return `{"account":{"system":"entra-id","id":"` + id + `","aliases":[` + aliases + `]},"ip":"203.0.113.7","time":"` + at.Format(time.RFC3339) + `"}`
	}
	res, err := newTestIngester(t, store).Ingest(context.Background(), events(
		withAliases("kim@contoso.example", `"d7a6cf8e-3c1b-4f2a-9b55-0c3e2f1a9d10"`, t0),
		withAliases("sam@acme.example", `"d7a6cf8e-3c1b-4f2a-9b55-0c3e2f1a9d10"`, t0.Add(time.Minute)),
		withAliases("lee@contoso.example", `"00000000-0000-0000-0000-000000000001"`, t0),
	))
	if err != nil || res.Accepted != 2 {
		t.Fatalf("result %+v, %v", res, err)
	}
	want := []Rejection{{2, `no contractor has account "lee@contoso.example" or its aliases ["00000000-0000-0000-0000-000000000001"] on system "entra-id"`}}
	if !reflect.DeepEqual(res.Rejected, want) {
		t.Errorf("rejected = %+v, want %+v", res.Rejected, want)
	}
	for name, total := range map[string]int64{"kim": 1, "sam": 1} {
		c, _ := store.Contractor(context.Background(), types.NamespacedName{Namespace: "acme", Name: name})
		if c.Status.SignIns == nil || c.Status.SignIns.Total != total {
			t.Errorf("%s's sign-ins = %+v, want %d", name, c.Status.SignIns, total)
		}
	}
}

// A provider's medium or high rating becomes a provider-risk Finding with
// the provider as its source; a low rating or a proxy flag alone does not,
// nor does a proxy flag make an anonymizer Finding.
func TestIngestProviderRisk(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "kim"))
	in := newTestIngester(t, store)
	t0 := now.Add(-time.Hour)
	res, err := in.Ingest(ctx, events(
		event("acme/kim", "203.0.113.7", t0, `,"provider":{"name":"okta","proxy":true}`),
		event("acme/kim", "203.0.113.8", t0.Add(time.Minute), `,"provider":{"name":"okta","risk":"low","riskDetail":["New IP"]}`),
		event("acme/kim", "203.0.113.9", t0.Add(2*time.Minute),
			`,"provider":{"name":"entra","country":"DE","risk":"high","proxy":true,"riskDetail":["anonymizedIPAddress","unfamiliarFeatures"]}`),
	))
	if err != nil || res.Accepted != 3 || res.FindingsCreated != 1 {
		t.Fatalf("result %+v, %v", res, err)
	}
	f := store.findingsOf("kim")["provider-risk"]
	if f == nil {
		t.Fatalf("findings = %v", store.describeFindings("kim"))
	}
	checkProviderRiskFinding(t, f)
	// A later rating of the same provider and level counts on the same
	// Finding; the batch again counts nothing.
	later := events(event("acme/kim", "203.0.113.10", t0.Add(3*time.Minute), `,"provider":{"name":"entra","risk":"high"}`))
	for range 2 {
		if res, err = in.Ingest(ctx, later); err != nil || res.FindingsCreated != 0 {
			t.Fatalf("repeat = %+v, %v", res, err)
		}
	}
	if f := store.findingsOf("kim")["provider-risk"]; f.Spec.Count != 2 || f.Spec.Evidence.IP != "203.0.113.10" {
		t.Errorf("repeat finding = %+v", f.Spec)
	}
}

// checkProviderRiskFinding checks the Finding of entra's high rating of a
// sign-in from 203.0.113.9, which the databases place in the US.
func checkProviderRiskFinding(t *testing.T, f *accessv1alpha1.Finding) {
	t.Helper()
	wantDetails := map[string]string{"risk": "high", "riskDetail": "anonymizedIPAddress, unfamiliarFeatures", "proxy": "true",
		"providerCountry": "DE"}
	if f.Spec.Source != "entra" || f.Spec.Severity != accessv1alpha1.SeverityHigh || f.Spec.Key != "entra/high" ||
		f.Spec.Evidence.IP != "203.0.113.9" || f.Spec.Evidence.Country != "US" || !reflect.DeepEqual(f.Spec.Evidence.Details, wantDetails) ||
		f.Name != FindingName("kim", accessv1alpha1.FindingProviderRisk, "entra/high") || f.Labels[LabelSource] != SourceValue {
		t.Errorf("finding = %s %+v", f.Name, f.Spec)
	}
}

// The provider's geography alone places no one: a sign-in that only the
// provider puts in a sanctioned country, or far from the last, makes no
// geolocation, sanctioned-country or travel Finding, and the summary
// keeps no country for it. 198.51.100.0/24 is in none of the test
// databases.
func TestProviderGeographyAlonePlacesNoOne(t *testing.T) {
	ctx := context.Background()
	store := newMemStore(contractor("acme", "kim"))
	in := newTestIngester(t, store)
	t0 := now.Add(-time.Hour)
	res, err := in.Ingest(ctx, events(
		event("acme/kim", "198.51.100.7", t0, `,"provider":{"name":"okta","country":"KP","lat":39.03,"lon":125.75}`),
		event("acme/kim", "198.51.100.8", t0.Add(time.Minute), `,"provider":{"name":"okta","country":"US","lat":30.27,"lon":-97.74,"proxy":true}`),
	))
	if err != nil || res.Accepted != 2 {
		t.Fatalf("result %+v, %v", res, err)
	}
	if got := store.describeFindings("kim"); len(got) != 0 {
		t.Errorf("findings from the provider's geography alone: %v", got)
	}
	c, _ := store.Contractor(ctx, types.NamespacedName{Namespace: "acme", Name: "kim"})
	for _, r := range c.Status.SignIns.Recent {
		if r.Country != "" {
			t.Errorf("recent sign-in %s placed in %s by the provider alone", r.IP, r.Country)
		}
	}
}
