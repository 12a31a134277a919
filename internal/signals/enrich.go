package signals

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// EnricherOptions name the databases to use; each is optional.
type EnricherOptions struct {
	// CountryDB is a MaxMind-format database with country (and, for City
	// databases, location): GeoIP2/GeoLite2 Country or City, or the flat
	// layout of ip-location-db's country and city databases (country_code,
	// city, latitude, longitude).
	CountryDB string
	// FallbackCountryDBs are further databases of the same kinds, asked in
	// order for an address that the ones before have no record of,
	// separated like PATH (os.PathListSeparator; a string, not a slice, so
	// that the options stay comparable). ip-location-db publishes its city
	// data as one IPv4 and one IPv6 file, and its city data lacks some
	// addresses that its country data has.
	FallbackCountryDBs string
	// ASNDB is a MaxMind-format ASN database (GeoLite2-ASN layout).
	ASNDB string
	// AnonymousDB is a MaxMind GeoIP2 Anonymous IP database.
	AnonymousDB string
	// TorExitList is a file with one Tor exit address a line; # comments.
	TorExitList string
}

// Enricher adds country, ASN and anonymizer facts to addresses.
type Enricher struct {
	country, asn, anonymous *maxminddb.Reader
	// moreCountry are asked, in order, when country has no record.
	moreCountry []*maxminddb.Reader
	torExits    map[netip.Addr]bool
}

// Geo is what the enricher knows of an address.
type Geo struct {
	Country     string
	City        string
	Lat, Lon    float64
	HasLocation bool
	ASN         uint32
	ASOrg       string
	Anonymizer  accessv1alpha1.AnonymizerKind
	// Missing names the facts that no database could provide.
	Missing []string
}

// OpenEnricher opens the configured databases. Without any the enricher
// still works and reports every fact as missing.
func OpenEnricher(opts EnricherOptions) (*Enricher, error) {
	e := &Enricher{}
	var err error
	for _, db := range []struct {
		path string
		into **maxminddb.Reader
		what string
	}{{opts.CountryDB, &e.country, "country"}, {opts.ASNDB, &e.asn, "ASN"}, {opts.AnonymousDB, &e.anonymous, "anonymous IP"}} {
		if db.path == "" {
			continue
		}
		if *db.into, err = maxminddb.Open(db.path); err != nil {
			return nil, errors.Join(fmt.Errorf("opening the %s database %s: %w", db.what, db.path, err), e.Close())
		}
	}
	for _, path := range filepath.SplitList(opts.FallbackCountryDBs) {
		if path == "" {
			continue
		}
		r, err := maxminddb.Open(path)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("opening the country database %s: %w", path, err), e.Close())
		}
		e.moreCountry = append(e.moreCountry, r)
	}
	if opts.TorExitList != "" {
		if e.torExits, err = readAddrList(opts.TorExitList); err != nil {
			return nil, errors.Join(err, e.Close())
		}
	}
	return e, nil
}

func readAddrList(path string) (map[netip.Addr]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening the Tor exit list: %w", err)
	}
	defer func() { _ = f.Close() }()
	out := map[netip.Addr]bool{}
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		text := strings.TrimSpace(scanner.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		addr, err := netip.ParseAddr(strings.Fields(text)[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not an IP address", path, line, text)
		}
		out[addr.Unmap()] = true
	}
	return out, scanner.Err()
}

// Close closes the databases.
func (e *Enricher) Close() error {
	var errs []error
	for _, r := range append([]*maxminddb.Reader{e.country, e.asn, e.anonymous}, e.moreCountry...) {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	return errors.Join(errs...)
}

// countryRecord holds both layouts: MaxMind's nested one (country.iso_code,
// location.latitude) and ip-location-db's flat one (country_code,
// latitude). The two disagree on "city" (a map of names in MaxMind's, a
// string in the flat one), so the city is decoded on its own, by path.
type countryRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
	CountryCode string   `maxminddb:"country_code"`
	Latitude    *float64 `maxminddb:"latitude"`
	Longitude   *float64 `maxminddb:"longitude"`
}

type asnRecord struct {
	Number       uint32 `maxminddb:"autonomous_system_number"`
	Organization string `maxminddb:"autonomous_system_organization"`
}

type anonymousRecord struct {
	VPN              bool `maxminddb:"is_anonymous_vpn"`
	Hosting          bool `maxminddb:"is_hosting_provider"`
	PublicProxy      bool `maxminddb:"is_public_proxy"`
	ResidentialProxy bool `maxminddb:"is_residential_proxy"`
	Tor              bool `maxminddb:"is_tor_exit_node"`
}

// Enrich looks an address up in every configured source.
func (e *Enricher) Enrich(addr netip.Addr) Geo {
	var g Geo
	addr = addr.Unmap()
	e.lookupCountry(addr, &g)
	e.lookupASN(addr, &g)
	e.lookupAnonymizer(addr, &g)
	return g
}

func (e *Enricher) lookupCountry(addr netip.Addr, g *Geo) {
	if readCountry(e.country, addr, g) {
		return
	}
	for _, db := range e.moreCountry {
		if readCountry(db, addr, g) {
			return
		}
	}
	g.Missing = append(g.Missing, "country")
}

// readCountry fills in g from db's record of addr; false when there is no
// database or no record.
func readCountry(db *maxminddb.Reader, addr netip.Addr, g *Geo) bool {
	if db == nil {
		return false
	}
	res := db.Lookup(addr)
	var rec countryRecord
	if res.Err() != nil || !res.Found() || res.Decode(&rec) != nil {
		return false
	}
	if rec.Country.ISOCode != "" {
		// MaxMind's layout. Its country-level records carry the country's
		// coordinates too; they have always counted.
		g.Country = rec.Country.ISOCode
		_ = res.DecodePath(&g.City, "city", "names", "en")
		if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
			g.Lat, g.Lon, g.HasLocation = round(*rec.Location.Latitude), round(*rec.Location.Longitude), true
		}
		return true
	}
	// ip-location-db's flat layout. Where it knows no city its coordinates
	// are a point in the middle of the country (8.8.8.8 lies in a Kansas
	// field), and a trip from a real city to such a point would look
	// impossible; only a city's coordinates count.
	g.Country = rec.CountryCode
	_ = res.DecodePath(&g.City, "city")
	if g.City != "" && rec.Latitude != nil && rec.Longitude != nil {
		g.Lat, g.Lon, g.HasLocation = round(*rec.Latitude), round(*rec.Longitude), true
	}
	return true
}

// round drops the noise of single-precision coordinates (ip-location-db
// stores float32: 51.4036 reads back as 51.40359878...); four decimals
// are about ten metres.
func round(deg float64) float64 {
	return math.Round(deg*1e4) / 1e4
}

func (e *Enricher) lookupASN(addr netip.Addr, g *Geo) {
	var rec asnRecord
	if !lookup(e.asn, addr, &rec) {
		g.Missing = append(g.Missing, "asn")
		return
	}
	g.ASN, g.ASOrg = rec.Number, rec.Organization
}

func (e *Enricher) lookupAnonymizer(addr netip.Addr, g *Geo) {
	if e.torExits[addr] {
		g.Anonymizer = accessv1alpha1.AnonymizerTor
		return
	}
	var rec anonymousRecord
	if !lookup(e.anonymous, addr, &rec) {
		if e.anonymous == nil {
			g.Missing = append(g.Missing, "anonymizer")
		}
		return
	}
	switch {
	case rec.Tor:
		g.Anonymizer = accessv1alpha1.AnonymizerTor
	case rec.ResidentialProxy:
		g.Anonymizer = accessv1alpha1.AnonymizerResidentialProxy
	case rec.PublicProxy:
		g.Anonymizer = accessv1alpha1.AnonymizerPublicProxy
	case rec.VPN:
		g.Anonymizer = accessv1alpha1.AnonymizerVPN
	case rec.Hosting:
		g.Anonymizer = accessv1alpha1.AnonymizerHosting
	}
}

// lookup decodes addr's record into v; false when there is no database or
// no record.
func lookup(db *maxminddb.Reader, addr netip.Addr, v any) bool {
	if db == nil {
		return false
	}
	res := db.Lookup(addr)
	if res.Err() != nil || !res.Found() {
		return false
	}
	return res.Decode(v) == nil
}
