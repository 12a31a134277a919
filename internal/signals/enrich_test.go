package signals

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/test/geoipdb"
)

// testEnricher knows: a US city range, a North Korean range and a German
// one with a Tor exit (ip-location-db layout), a hosting ASN, a corporate egress ASN, a VPN and a Tor exit.
func testEnricher(t testing.TB) *Enricher {
	t.Helper()
	country := geoipdb.Write(t, "GeoIP2-City", map[string]mmdbtype.Map{
		"203.0.113.0/24": {
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("US")},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Austin")}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(30.27), "longitude": mmdbtype.Float64(-97.74)},
		},
		"175.45.176.0/22":  {"country_code": mmdbtype.String("KP")},
		"185.220.101.0/24": {"country_code": mmdbtype.String("DE")},
		// The benchmarks' home addresses.
		"198.18.0.0/15": {
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("US")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(41.88), "longitude": mmdbtype.Float64(-87.63)},
		},
	})
	asn := geoipdb.Write(t, "GeoLite2-ASN", map[string]mmdbtype.Map{
		"192.0.2.0/24":    {"autonomous_system_number": mmdbtype.Uint32(14061), "autonomous_system_organization": mmdbtype.String("DigitalOcean")},
		"198.51.100.0/24": {"autonomous_system_number": mmdbtype.Uint32(64500), "autonomous_system_organization": mmdbtype.String("Corp VPN")},
	})
	anonymous := geoipdb.Write(t, "GeoIP2-Anonymous-IP", map[string]mmdbtype.Map{
		"192.0.2.128/25": {"is_anonymous_vpn": mmdbtype.Bool(true)},
	})
	tor := filepath.Join(t.TempDir(), "tor-exits.txt")
	if err := os.WriteFile(tor, []byte("# exits\n185.220.101.4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e, err := OpenEnricher(EnricherOptions{CountryDB: country, ASNDB: asn, AnonymousDB: anonymous, TorExitList: tor})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestEnrich(t *testing.T) {
	e := testEnricher(t)
	tests := []struct {
		ip         string
		country    string
		asn        uint32
		anonymizer accessv1alpha1.AnonymizerKind
		located    bool
	}{
		{"203.0.113.9", "US", 0, "", true},
		{"::ffff:203.0.113.9", "US", 0, "", true},
		{"175.45.176.10", "KP", 0, "", false},
		{"192.0.2.10", "", 14061, "", false},
		{"192.0.2.200", "", 14061, accessv1alpha1.AnonymizerVPN, false},
		{"185.220.101.4", "DE", 0, accessv1alpha1.AnonymizerTor, false},
		{"198.51.100.7", "", 64500, "", false},
	}
	for _, tt := range tests {
		g := e.Enrich(netip.MustParseAddr(tt.ip))
		if g.Country != tt.country || g.ASN != tt.asn || g.Anonymizer != tt.anonymizer || g.HasLocation != tt.located {
			t.Errorf("%s: %+v", tt.ip, g)
		}
	}
	if g := e.Enrich(netip.MustParseAddr("203.0.113.9")); g.City != "Austin" {
		t.Errorf("city = %q", g.City)
	}
}

// ip-location-db's city databases use a flat layout of their own, one file
// for IPv4 and one for IPv6; its country database fills the gaps.
func TestEnrichIPLocationDBCity(t *testing.T) {
	flat := func(country, city string, lat, lon float32) mmdbtype.Map {
		return mmdbtype.Map{
			"country_code": mmdbtype.String(country), "state1": mmdbtype.String(""), "state2": mmdbtype.String(""),
			"city": mmdbtype.String(city), "postcode": mmdbtype.String(""), "timezone": mmdbtype.String(""),
			"latitude": mmdbtype.Float32(lat), "longitude": mmdbtype.Float32(lon),
		}
	}
	v4 := geoipdb.Write(t, "city ipv4", map[string]mmdbtype.Map{
		"81.2.69.128/25": flat("GB", "Bracknell", 51.4036, -0.7618),
		// No city: the coordinates are the middle of the country.
		"8.8.8.0/24": flat("US", "", 37.751, -97.822),
	})
	v6 := geoipdb.Write(t, "city ipv6", map[string]mmdbtype.Map{
		"2a01:4f8::/32": flat("DE", "Falkenstein", 50.4777, 12.3649),
	})
	country := geoipdb.Write(t, "country", map[string]mmdbtype.Map{
		"1.1.1.0/24": {"country_code": mmdbtype.String("AU")},
	})
	e, err := OpenEnricher(EnricherOptions{CountryDB: v4, FallbackCountryDBs: v6 + string(filepath.ListSeparator) + country})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	tests := []struct {
		ip, country, city string
		lat, lon          float64
		located           bool
	}{
		{"81.2.69.142", "GB", "Bracknell", 51.4036, -0.7618, true},
		{"8.8.8.8", "US", "", 0, 0, false},
		{"2a01:4f8::1", "DE", "Falkenstein", 50.4777, 12.3649, true},
		{"1.1.1.1", "AU", "", 0, 0, false},
	}
	for _, tt := range tests {
		g := e.Enrich(netip.MustParseAddr(tt.ip))
		if g.Country != tt.country || g.City != tt.city || g.HasLocation != tt.located || g.Lat != tt.lat || g.Lon != tt.lon {
			t.Errorf("%s: %+v, want %s %q (%v, %v) located=%v", tt.ip, g, tt.country, tt.city, tt.lat, tt.lon, tt.located)
		}
		if slices.Contains(g.Missing, "country") {
			t.Errorf("%s: country missing", tt.ip)
		}
	}
	if g := e.Enrich(netip.MustParseAddr("192.0.2.1")); !slices.Contains(g.Missing, "country") {
		t.Errorf("an address in no database: %+v", g)
	}
	if _, err := OpenEnricher(EnricherOptions{CountryDB: v4, FallbackCountryDBs: "/nonexistent.mmdb"}); err == nil {
		t.Error("a missing fallback database opened")
	}
}

func TestEnrichWithoutDatabases(t *testing.T) {
	e, err := OpenEnricher(EnricherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g := e.Enrich(netip.MustParseAddr("203.0.113.9"))
	if len(g.Missing) != 3 {
		t.Errorf("missing = %v, want country, asn and anonymizer", g.Missing)
	}
	if _, err := OpenEnricher(EnricherOptions{CountryDB: "/nonexistent.mmdb"}); err == nil {
		t.Error("a missing database opened")
	}
}

func BenchmarkEnrich(b *testing.B) {
	e := testEnricher(b)
	addrs := []netip.Addr{netip.MustParseAddr("203.0.113.9"), netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("8.8.8.8")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = e.Enrich(addrs[i%len(addrs)])
		i++
	}
}
