package policies_test

import (
	"slices"
	"testing"

	"github.com/portcullis-dev/portcullis/internal/policy"
)

// asnList reads one list of AS numbers from the default reference data.
func asnList(t *testing.T, key string) []int64 {
	t.Helper()
	data, err := policy.DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := data[key].([]any)
	if !ok {
		t.Fatalf("%s is %T, want a list", key, data[key])
	}
	var asns []int64
	for _, v := range raw {
		switch n := v.(type) {
		case float64:
			asns = append(asns, int64(n))
		case int64:
			asns = append(asns, n)
		case int:
			asns = append(asns, int64(n))
		default:
			t.Fatalf("%s holds %v (%T), not a number", key, v, v)
		}
	}
	return asns
}

// The major clouds are where remote operators rent their exit nodes: the
// hosting list must keep them, whatever else changes in it. The list is
// generated (make asn-lists); the generator fails when the data renames
// one of these pinned numbers, and this test fails when a table edit drops
// one.
func TestHostingListHasTheMajorClouds(t *testing.T) {
	asns := asnList(t, "hosting_asns")
	for name, asn := range map[string]int64{
		"Amazon Web Services": 16509, "Google Cloud": 396982, "Microsoft Azure": 8075, "Oracle Cloud": 31898,
		"Alibaba Cloud": 45102, "Tencent Cloud": 132203, "DigitalOcean": 14061, "OVH": 16276, "Hetzner": 24940,
		"Akamai Connected Cloud (Linode)": 63949, "Vultr": 20473, "M247": 9009, "Datacamp (CDN77)": 60068,
	} {
		if !slices.Contains(asns, asn) {
			t.Errorf("hosting_asns lacks %s (AS%d)", name, asn)
		}
	}
	// Cloudflare's WARP and Private Relay egress serve ordinary people;
	// Akamai's CDN egresses iCloud Private Relay too; Microsoft's office
	// network and the transit carriers carry ordinary offices.
	for name, asn := range map[string]int64{
		"Cloudflare": 13335, "Akamai CDN": 20940, "Microsoft's office network": 3598,
		"Hurricane Electric": 6939, "Cogent": 174, "Lumen": 3356,
	} {
		if slices.Contains(asns, asn) {
			t.Errorf("hosting_asns holds %s (AS%d)", name, asn)
		}
	}
}

// Mobile carriers share addresses among strangers through carrier-grade
// NAT; the policies must know the biggest of them.
func TestMobileListHasTheMajorCarriers(t *testing.T) {
	asns := asnList(t, "mobile_asns")
	for name, asn := range map[string]int64{
		"T-Mobile US": 21928, "Verizon Wireless": 22394, "Verizon Wireless (Cellco)": 6167,
		"AT&T Mobility": 20057, "Reliance Jio": 55836, "Airtel mobile": 45609,
	} {
		if !slices.Contains(asns, asn) {
			t.Errorf("mobile_asns lacks %s (AS%d)", name, asn)
		}
	}
	// The same companies' fixed networks are no carrier-grade NAT.
	for name, asn := range map[string]int64{"AT&T fixed": 7018, "Verizon fixed": 701, "Deutsche Telekom": 3320} {
		if slices.Contains(asns, asn) {
			t.Errorf("mobile_asns holds %s (AS%d)", name, asn)
		}
	}
}

// The policies treat a data centre and a carrier in opposite ways; no AS
// may be both.
func TestNoASNIsHostingAndMobile(t *testing.T) {
	hosting, mobile := asnList(t, "hosting_asns"), asnList(t, "mobile_asns")
	for _, asn := range mobile {
		if slices.Contains(hosting, asn) {
			t.Errorf("AS%d is in both hosting_asns and mobile_asns", asn)
		}
	}
	if len(hosting) < 100 || len(mobile) < 20 {
		t.Errorf("%d hosting and %d mobile ASNs: the lists look truncated", len(hosting), len(mobile))
	}
}
