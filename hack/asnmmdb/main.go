// Command asnmmdb turns the CSV files of ip-location-db's ASN data
// (first address, last address, AS number, organisation) into one
// MaxMind-format database in the GeoLite2-ASN layout, which the sign-in
// ingester reads with --geoip-asn-db. `make geoip` runs it.
package main

import (
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

func main() {
	out := flag.String("out", "", "the mmdb file to write")
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: asnmmdb -out asn.mmdb asn-ipv4.csv [asn-ipv6.csv ...]")
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "asnmmdb:", err)
		os.Exit(1)
	}
}

func run(out string, inputs []string) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "GeoLite2-ASN",
		Description:  map[string]string{"en": "ip-location-db ASN (RouteViews, NRO, DB-IP; CC BY 4.0)"},
		RecordSize:   28,
		// The data maps some reserved ranges (6to4 relays, say) too.
		IncludeReservedNetworks: true,
		// and 6to4 and Teredo ranges of their own, so IPv4 is not aliased
		// into them; IPv4 lookups use the IPv4 subtree all the same.
		DisableIPv4Aliasing: true,
	})
	if err != nil {
		return err
	}
	for _, in := range inputs {
		n, err := insertCSV(tree, in)
		if err != nil {
			return err
		}
		fmt.Printf("%s: %d ranges\n", in, n)
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

func insertCSV(tree *mmdbwriter.Tree, path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 4
	n := 0
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		first, last := net.ParseIP(rec[0]), net.ParseIP(rec[1])
		asn, err := strconv.ParseUint(rec[2], 10, 32)
		if first == nil || last == nil || err != nil {
			return n, fmt.Errorf("%s:%d: want first address, last address, AS number, organisation", path, line)
		}
		value := mmdbtype.Map{
			"autonomous_system_number":       mmdbtype.Uint32(asn),
			"autonomous_system_organization": mmdbtype.String(rec[3]),
		}
		if err := tree.InsertRange(first, last, value); err != nil {
			return n, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
}
