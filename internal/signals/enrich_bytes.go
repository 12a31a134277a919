package signals

import (
	"errors"
	"fmt"

	"github.com/oschwald/maxminddb-golang/v2"
)

// EnricherDatabases are MaxMind-format databases held in memory, each
// optional: what OpenEnricher reads from files, for databases built on the
// fly (the scenario suites' networks).
type EnricherDatabases struct {
	Country, ASN, Anonymous []byte
}

// NewEnricher opens in-memory databases. The enricher does not copy them:
// the caller must not change the slices while it is in use.
func NewEnricher(dbs EnricherDatabases) (*Enricher, error) {
	e := &Enricher{}
	for _, db := range []struct {
		raw  []byte
		into **maxminddb.Reader
		what string
	}{{dbs.Country, &e.country, "country"}, {dbs.ASN, &e.asn, "ASN"}, {dbs.Anonymous, &e.anonymous, "anonymous IP"}} {
		if db.raw == nil {
			continue
		}
		r, err := maxminddb.OpenBytes(db.raw)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("reading the %s database: %w", db.what, err), e.Close())
		}
		*db.into = r
	}
	return e, nil
}
