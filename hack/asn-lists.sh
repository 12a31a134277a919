#!/usr/bin/env bash
# Regenerate policies/portcullis/networks.yaml (hosting_asns, mobile_asns) from
# ip-location-db's ASN data on the npm registry, with the reviewed tables of
# hack/asnlists. Run by `make asn-lists`; review the diff before committing.
# Tests never run this: they read the committed file.
set -euo pipefail

out="${1:-policies/portcullis/networks.yaml}"
# The same data release as hack/fetch-geoip.sh, so that the lists and the
# ASN database of `make run` agree.
version="${GEOIP_VERSION:-2.3.2026061719}"

if ! command -v npm >/dev/null; then
	echo "asn-lists: npm is needed to fetch the ASN data from the npm registry (apt-get install npm)" >&2
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "Fetching @ip-location-db/asn $version from the npm registry..."
(cd "$work" && npm pack --silent "@ip-location-db/asn@$version" >/dev/null)
tar -xzf "$work/ip-location-db-asn-$version.tgz" -C "$work"
go run ./hack/asnlists -data-version "$version" -out "$out" \
	"$work/package/asn-ipv4.csv" "$work/package/asn-ipv6.csv"
