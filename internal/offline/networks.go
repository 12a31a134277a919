package offline

import (
	"bytes"
	"fmt"
	"net"
	"regexp"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// Network is what GeoIP, ASN and anonymous-IP databases say of one network:
// the enrichment that a scenario suite's sign-ins get, so a suite runs the
// ingester end to end without downloaded databases.
type Network struct {
	// Network is a CIDR, e.g. 203.0.113.0/24 or 2001:db8::/32. Required.
	Network string `json:"network"`
	// Country is the ISO 3166-1 alpha-2 code of the network's location.
	Country string `json:"country,omitempty"`
	// City, Lat and Lon place it more precisely; Lat and Lon go together.
	City string   `json:"city,omitempty"`
	Lat  *float64 `json:"lat,omitempty"`
	Lon  *float64 `json:"lon,omitempty"`
	// ASN and Org are its autonomous system.
	ASN uint32 `json:"asn,omitempty"`
	Org string `json:"org,omitempty"`
	// Anonymizer is the anonymizing service it belongs to, if any: vpn,
	// hosting, public-proxy, residential-proxy or tor.
	Anonymizer accessv1alpha1.AnonymizerKind `json:"anonymizer,omitempty"`
}

var countryCode = regexp.MustCompile(`^[A-Z]{2}$`)

// anonymousFlags are the anonymous-IP database's flag for each kind.
var anonymousFlags = map[accessv1alpha1.AnonymizerKind]string{
	accessv1alpha1.AnonymizerVPN:              "is_anonymous_vpn",
	accessv1alpha1.AnonymizerHosting:          "is_hosting_provider",
	accessv1alpha1.AnonymizerPublicProxy:      "is_public_proxy",
	accessv1alpha1.AnonymizerResidentialProxy: "is_residential_proxy",
	accessv1alpha1.AnonymizerTor:              "is_tor_exit_node",
}

// NetworkEnricher builds in-memory country (City layout), ASN and
// anonymous-IP databases of the networks and an enricher over them.
func NetworkEnricher(networks []Network) (*signals.Enricher, error) {
	trees := map[string]*mmdbwriter.Tree{}
	for _, kind := range []string{"GeoIP2-City", "GeoLite2-ASN", "GeoIP2-Anonymous-IP"} {
		tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: kind, RecordSize: 28, IncludeReservedNetworks: true})
		if err != nil {
			return nil, err
		}
		trees[kind] = tree
	}
	for i, n := range networks {
		_, cidr, err := net.ParseCIDR(n.Network)
		if err != nil {
			return nil, fmt.Errorf("networks[%d]: network %q is not a CIDR such as 203.0.113.0/24", i, n.Network)
		}
		records, err := n.records()
		if err != nil {
			return nil, fmt.Errorf("networks[%d] (%s): %w", i, n.Network, err)
		}
		for kind, rec := range records {
			if err := trees[kind].Insert(cidr, rec); err != nil {
				return nil, fmt.Errorf("networks[%d] (%s): %w", i, n.Network, err)
			}
		}
	}
	raw := map[string][]byte{}
	for kind, tree := range trees {
		var buf bytes.Buffer
		if _, err := tree.WriteTo(&buf); err != nil {
			return nil, err
		}
		raw[kind] = buf.Bytes()
	}
	return signals.NewEnricher(signals.EnricherDatabases{
		Country: raw["GeoIP2-City"], ASN: raw["GeoLite2-ASN"], Anonymous: raw["GeoIP2-Anonymous-IP"]})
}

// records are the network's record in each database that knows of it.
func (n Network) records() (map[string]mmdbtype.Map, error) {
	out := map[string]mmdbtype.Map{}
	place, err := n.place()
	if err != nil {
		return nil, err
	}
	if place != nil {
		out["GeoIP2-City"] = place
	}
	if n.ASN != 0 {
		out["GeoLite2-ASN"] = mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(n.ASN),
			"autonomous_system_organization": mmdbtype.String(n.Org)}
	} else if n.Org != "" {
		return nil, fmt.Errorf("org %q needs its asn", n.Org)
	}
	if n.Anonymizer != "" {
		flag, ok := anonymousFlags[n.Anonymizer]
		if !ok {
			return nil, fmt.Errorf("anonymizer %q is none of vpn, hosting, public-proxy, residential-proxy, tor", n.Anonymizer)
		}
		out["GeoIP2-Anonymous-IP"] = mmdbtype.Map{"is_anonymous": mmdbtype.Bool(true), mmdbtype.String(flag): mmdbtype.Bool(true)}
	}
	return out, nil
}

// place is the network's record in the City database, nil without a country.
func (n Network) place() (mmdbtype.Map, error) {
	if n.Country == "" {
		if n.City != "" || n.Lat != nil || n.Lon != nil {
			return nil, fmt.Errorf("a city or coordinates need a country")
		}
		return nil, nil
	}
	if !countryCode.MatchString(n.Country) {
		return nil, fmt.Errorf("country %q is not an ISO 3166-1 alpha-2 code such as US", n.Country)
	}
	rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)}}
	if n.City != "" {
		rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.City)}}
	}
	switch {
	case (n.Lat == nil) != (n.Lon == nil):
		return nil, fmt.Errorf("lat and lon go together: give both or neither")
	case n.Lat != nil && (*n.Lat < -90 || *n.Lat > 90 || *n.Lon < -180 || *n.Lon > 180):
		return nil, fmt.Errorf("lat %v, lon %v is not a place on Earth", *n.Lat, *n.Lon)
	case n.Lat != nil:
		rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(*n.Lat), "longitude": mmdbtype.Float64(*n.Lon)}
	}
	return rec, nil
}
