// Package geoipdb writes small MaxMind-format databases for tests, so that
// no test depends on downloaded GeoIP data.
package geoipdb

import (
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// TB is the part of testing.TB that Write needs; Ginkgo's GinkgoT() has it.
type TB interface {
	Helper()
	Fatal(args ...any)
	TempDir() string
}

// Write writes a database of the given type (e.g. "GeoIP2-City",
// "GeoLite2-ASN") with one record per CIDR into a temporary directory and
// returns its path.
func Write(t TB, kind string, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: kind, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, network, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(network, rec); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), kind+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// Country is a record of a GeoIP2 Country or City database.
func Country(iso string) mmdbtype.Map {
	return mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(iso)}}
}

// ASN is a record of a GeoLite2-ASN database.
func ASN(number uint32, org string) mmdbtype.Map {
	return mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(number), "autonomous_system_organization": mmdbtype.String(org)}
}
