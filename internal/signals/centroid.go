package signals

import (
	"strings"
	"sync"

	"github.com/pariz/gountries"
)

// LatLon is a point on the globe, in degrees.
type LatLon struct{ Lat, Lon float64 }

// centroids maps ISO 3166-1 alpha-2 codes to the countries' geographic
// centres, from the country data of github.com/pariz/gountries (which takes
// it from mledoze/countries). It is loaded once, on first use.
var centroids = sync.OnceValue(func() map[string]LatLon {
	countries := gountries.New().FindAllCountries()
	out := make(map[string]LatLon, len(countries))
	for _, c := range countries {
		if c.Latitude != 0 || c.Longitude != 0 {
			out[c.Alpha2] = LatLon{Lat: c.Latitude, Lon: c.Longitude}
		}
	}
	return out
})

// CountryCentroid returns the centre of a country by its ISO 3166-1 alpha-2
// code, for impossible travel between sign-ins without city coordinates.
func CountryCentroid(code string) (LatLon, bool) {
	p, ok := centroids()[code]
	return p, ok
}

// countryNames maps the lower-cased common and official names of the
// countries, and their alpha-2 codes, to the codes, from the same data.
var countryNames = sync.OnceValue(func() map[string]string {
	countries := gountries.New().FindAllCountries()
	out := make(map[string]string, 3*len(countries))
	for _, c := range countries {
		if !IsCountryCode(c.Alpha2) {
			continue
		}
		for _, name := range []string{c.Name.Common, c.Name.Official, c.Alpha2} {
			if name != "" {
				out[strings.ToLower(name)] = c.Alpha2
			}
		}
	}
	return out
})

// CountryCodeOf returns the ISO 3166-1 alpha-2 code of a country given by
// its code or its English common or official name, as Okta names
// countries ("United States"); false when it knows no such country.
func CountryCodeOf(name string) (string, bool) {
	code, ok := countryNames()[strings.ToLower(strings.TrimSpace(name))]
	return code, ok
}
