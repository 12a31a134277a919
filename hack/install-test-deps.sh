#!/usr/bin/env bash
# Installs the Debian packages that the test suites run real servers from:
# PostgreSQL (the postgres connector) and OpenLDAP's slapd with ldap-utils
# (the ldap connector). Runs apt-get only for what is missing, and only as
# root; otherwise it says what to install.
set -euo pipefail

missing=()
if ! command -v pg_ctl >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
	missing+=(postgresql)
fi
if ! command -v slapd >/dev/null 2>&1 && [[ ! -x /usr/sbin/slapd ]]; then
	missing+=(slapd)
fi
if ! command -v ldapadd >/dev/null 2>&1; then
	missing+=(ldap-utils)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	echo "The tests need these Debian packages: ${missing[*]}. Install them (sudo apt-get install ${missing[*]}) and run again." >&2
	exit 1
fi
echo "Installing ${missing[*]} for the test suites..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# slapd's post-install configuration asks questions; the tests write their
# own configuration, so the defaults do.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a system slapd; the tests run their own.
if command -v service >/dev/null 2>&1; then service slapd stop >/dev/null 2>&1 || true; fi
