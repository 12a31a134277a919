package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// A small slice of the data with what a real release throws at the parser:
// quoted names with commas and doubled quotes, a name with a line break, and
// Cloudflare, which no table may select.
const sample = `1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."
3.0.0.0,3.0.255.255,16509,"Amazon.com, Inc."
3.1.0.0,3.1.255.255,7224,"Amazon.com, Inc."
5.9.0.0,5.9.255.255,24940,Hetzner Online GmbH
5.10.0.0,5.10.255.255,9123,"JSC ""TIMEWEB"""
5.11.0.0,5.11.255.255,64501,"Evil Hosting
  - 13335   # injected"
8.8.8.0,8.8.8.255,15169,Google LLC
8.8.9.0,8.8.9.255,36492,Google LLC
2600:1f00::,2600:1fff:ffff:ffff:ffff:ffff:ffff:ffff,16509,"Amazon.com, Inc."
2607:fb90::,2607:fb90:ffff:ffff:ffff:ffff:ffff:ffff,21928,"T-Mobile USA, Inc."
`

func TestSelection(t *testing.T) {
	orgs := map[uint32]string{}
	if err := readOrgs(strings.NewReader(sample), "sample.csv", orgs); err != nil {
		t.Fatal(err)
	}
	if orgs[9123] != `JSC "TIMEWEB"` || orgs[16509] != "Amazon.com, Inc." {
		t.Fatalf("orgs = %v", orgs)
	}
	table := []rule{
		{org: "Amazon.com, Inc.", asns: []uint32{16509}},
		{org: "Hetzner Online*"},
		{org: `JSC "TIMEWEB"`},
		{org: "Google LLC", asns: []uint32{15169}},
		{org: "cloudflare*"}, // never wins over a rule
		{org: "Evil Hosting*"},
	}
	got, err := choose(table, orgs)
	if err != nil {
		t.Fatal(err)
	}
	// 7224 (Amazon's own office network) and 36492 share their company's
	// name but are not pinned; 13335 is never selected.
	if want := []uint32{9123, 15169, 16509, 24940, 64501}; !slices.Equal(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}

	var buf bytes.Buffer
	writeYAML(&buf, "1.2.3", orgs, got, []uint32{21928})
	out := buf.String()
	for _, want := range []string{
		"  - 16509   # Amazon.com, Inc.\n",
		"  - 9123    # JSC \"TIMEWEB\"\n",
		"  - 64501   # Evil Hosting - 13335 # injected\n",
		"mobile_asns:\n  - 21928   # T-Mobile USA, Inc.\n",
		"@ip-location-db/asn 1.2.3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n  - 13335") {
		t.Errorf("Cloudflare is in the output:\n%s", out)
	}
}

func TestPinnedRulesAreChecked(t *testing.T) {
	orgs := map[uint32]string{16509: "Amazon.com, Inc.", 22394: "Cellco Partnership"}
	_, err := choose([]rule{
		{org: "Verizon Business", asns: []uint32{22394}, why: "renamed"},
		{org: "Amazon.com, Inc.", asns: []uint32{14618}, why: "gone"},
		{org: "Nobody*", why: "no match"},
	}, orgs)
	if err == nil {
		t.Fatal("a renamed, a missing and an unmatched rule passed")
	}
	for _, want := range []string{"AS22394", "AS14618", `"Nobody*"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestBothListsIsAnError(t *testing.T) {
	table := []rule{{org: "Hetzner Online*"}}
	orgs := map[uint32]string{24940: "Hetzner Online GmbH"}
	if _, _, err := selectAll(orgs, table, table); err == nil || !strings.Contains(err.Error(), "both") {
		t.Errorf("err = %v, want an AS in both lists refused", err)
	}
}

func TestBadCSV(t *testing.T) {
	for _, in := range []string{"1.0.0.0,1.0.0.255,AS13335,x\n", "1.0.0.0,1.0.0.255,13335\n", "\"unterminated\n"} {
		if err := readOrgs(strings.NewReader(in), "bad.csv", map[uint32]string{}); err == nil {
			t.Errorf("%q was read", in)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, org string
		want         bool
	}{
		{"OVH*", "OVH SAS", true},
		{"OVH*", "ovh hosting", true},
		{"OVH*", "MOVH", false},
		{"IBM Cloud", "ibm cloud", true},
		{"IBM Cloud", "IBM Cloud Japan", false},
		{"Leaseweb*", "Lease", false},
	} {
		if got := matches(tt.pattern, tt.org); got != tt.want {
			t.Errorf("matches(%q, %q) = %v", tt.pattern, tt.org, got)
		}
	}
}
