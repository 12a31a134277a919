package policies

import (
	"slices"
	"testing"
)

// The major clouds are where remote operators rent their exit nodes: the
// hosting list must keep them, whatever else changes in it.
func TestHostingListHasTheMajorClouds(t *testing.T) {
	data, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	raw, ok := data["hosting_asns"].([]any)
	if !ok {
		t.Fatalf("hosting_asns is %T, want a list", data["hosting_asns"])
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
			t.Fatalf("hosting_asns holds %v (%T), not a number", v, v)
		}
	}
	for name, asn := range map[string]int64{
		"Amazon Web Services": 16509, "Google Cloud": 396982, "Microsoft Azure": 8075, "Oracle Cloud": 31898,
		"Alibaba Cloud": 45102, "Tencent Cloud": 132203, "DigitalOcean": 14061, "OVH": 16276, "Hetzner": 24940,
	} {
		if !slices.Contains(asns, asn) {
			t.Errorf("hosting_asns lacks %s (AS%d)", name, asn)
		}
	}
	if slices.Contains(asns, 13335) {
		t.Error("hosting_asns holds Cloudflare (AS13335), whose WARP and Private Relay egress serve ordinary people")
	}
}
