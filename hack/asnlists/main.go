// Command asnlists writes policies/portcullis/networks.yaml, the hosting and
// mobile autonomous systems of the default policy library, from the CSV
// files of ip-location-db's ASN data (first address, last address, AS
// number, organisation). `make asn-lists` fetches the data and runs it.
//
// Nothing is selected by guesswork: the tables in tables.go name every
// organisation and AS number that goes in, and were reviewed against the
// organisation names that the data actually uses. When a new data release
// renames or drops a pinned AS number the command fails, so that a person
// looks at it again instead of the list silently changing.
package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	out := flag.String("out", "policies/portcullis/networks.yaml", "the YAML file to write")
	version := flag.String("data-version", "", "the version of the @ip-location-db/asn package read, for the header")
	flag.Parse()
	if flag.NArg() == 0 || *version == "" {
		fmt.Fprintln(os.Stderr, "usage: asnlists -data-version V [-out networks.yaml] asn-ipv4.csv [asn-ipv6.csv ...]")
		os.Exit(2)
	}
	if err := run(*out, *version, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "asnlists:", err)
		os.Exit(1)
	}
}

func run(out, version string, inputs []string) error {
	orgs := map[uint32]string{}
	for _, in := range inputs {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		err = readOrgs(f, in, orgs)
		_ = f.Close()
		if err != nil {
			return err
		}
	}
	hosting, mobile, err := selectAll(orgs, hostingRules, mobileRules)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	writeYAML(&buf, version, orgs, hosting, mobile)
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d hosting and %d mobile autonomous systems (of %d in the data)\n", out, len(hosting), len(mobile), len(orgs))
	return os.Rename(tmp, out)
}

// readOrgs adds the organisation of every AS number in one CSV file to
// orgs. An AS number has one organisation in the data; should two rows
// disagree, the first one read wins, so the output does not depend on map
// order.
func readOrgs(r io.Reader, name string, orgs map[uint32]string) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 4
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		asn, err := strconv.ParseUint(rec[2], 10, 32)
		if err != nil {
			line, _ := cr.FieldPos(2)
			return fmt.Errorf("%s:%d: AS number %q is not a number", name, line, rec[2])
		}
		if _, seen := orgs[uint32(asn)]; !seen {
			orgs[uint32(asn)] = strings.TrimSpace(rec[3])
		}
	}
}

// matches reports whether an organisation name fits a table pattern:
// equal ignoring case, or, for a pattern ending in "*", starting with what
// comes before the star. Nothing looser: a substring match on "cloud" or
// "hosting" would pull in schools, banks and Cloudflare.
func matches(pattern, org string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return len(org) >= len(prefix) && strings.EqualFold(org[:len(prefix)], prefix)
	}
	return strings.EqualFold(pattern, org)
}

// choose applies one table to the data and returns the selected AS
// numbers, sorted. A rule without AS numbers takes every AS the data
// names with its organisation; a rule with AS numbers takes exactly those,
// and each must be in the data under a matching name.
func choose(table []rule, orgs map[uint32]string) ([]uint32, error) {
	picked := map[uint32]bool{}
	var errs []error
	for _, r := range table {
		if len(r.asns) == 0 {
			n := 0
			for asn, org := range orgs {
				if matches(r.org, org) {
					picked[asn] = true
					n++
				}
			}
			if n == 0 {
				errs = append(errs, fmt.Errorf("no AS in the data is named %q (%s): review the rule", r.org, r.why))
			}
			continue
		}
		for _, asn := range r.asns {
			org, ok := orgs[asn]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("AS%d (%s) is not in the data: review the rule", asn, r.why))
			case !matches(r.org, org):
				errs = append(errs, fmt.Errorf("AS%d (%s) is named %q in the data, not %q: review the rule", asn, r.why, org, r.org))
			default:
				picked[asn] = true
			}
		}
	}
	var out []uint32
	for asn := range picked {
		if !excluded(asn, orgs[asn]) {
			out = append(out, asn)
		}
	}
	slices.Sort(out)
	return out, errors.Join(errs...)
}

// excluded reports whether an AS is on the never list, which wins over any
// rule.
func excluded(asn uint32, org string) bool {
	for _, x := range never {
		if x.asn == asn || (x.org != "" && matches(x.org, org)) {
			return true
		}
	}
	return false
}

// selectAll applies both tables and checks that no AS is in both lists:
// the policies treat a hosting address and a carrier address in opposite
// ways, so an AS in both would be a mistake in the tables.
func selectAll(orgs map[uint32]string, hostingTable, mobileTable []rule) (hosting, mobile []uint32, err error) {
	hosting, herr := choose(hostingTable, orgs)
	mobile, merr := choose(mobileTable, orgs)
	if err := errors.Join(herr, merr); err != nil {
		return nil, nil, err
	}
	for _, asn := range hosting {
		if _, found := slices.BinarySearch(mobile, asn); found {
			err = errors.Join(err, fmt.Errorf("AS%d (%s) is selected as both hosting and mobile", asn, orgs[asn]))
		}
	}
	return hosting, mobile, err
}

// writeYAML writes the generated file. Organisation names go into comments
// only, so no quoting is needed; line breaks in a name are flattened so a
// hostile name cannot start a YAML line of its own.
func writeYAML(w io.Writer, version string, orgs map[uint32]string, hosting, mobile []uint32) {
	fmt.Fprintf(w, `# Reference networks of the default policy library (data.portcullis).
#
# GENERATED by `+"`make asn-lists`"+` (hack/asnlists) from the ASN data of
# ip-location-db, npm package @ip-location-db/asn %s
# (RouteViews, NRO and DB-IP data, CC BY 4.0). Do not edit by hand: the
# selection is the reviewed tables of hack/asnlists/tables.go; change those
# and regenerate. docs/reference-data.md says how to review a new release.
# A company's own cloud workstations and VPN belong in corporate_egress_asns
# (policies/portcullis/portcullis.yaml or a data override), not here.

# Autonomous systems of hosting, cloud, VPS and VPN-infrastructure
# providers: a sign-in from a data centre, not a home or an office, is how a
# remote operator usually appears. policies_test.go checks that the major
# clouds are here and Cloudflare is not.
hosting_asns:
`, version)
	writeList(w, orgs, hosting)
	fmt.Fprint(w, `
# Autonomous systems of mobile carriers. Their subscribers share addresses
# through carrier-grade NAT, so one address seen for two people, or a new
# address every few minutes, is normal here and no sign of a shared or
# stolen session.
mobile_asns:
`)
	writeList(w, orgs, mobile)
}

func writeList(w io.Writer, orgs map[uint32]string, asns []uint32) {
	for _, asn := range asns {
		org := strings.Join(strings.Fields(orgs[asn]), " ")
		fmt.Fprintf(w, "  - %-7d # %s\n", asn, org)
	}
}
