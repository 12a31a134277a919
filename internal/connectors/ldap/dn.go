package ldap

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"
)

// What the connector sends the directory is built here: DNs are parsed and
// written back in RFC 4514 form, each value escaped, so the DN that the
// directory reads is the one checked here; filters take values escaped as
// RFC 4515 requires. No DN or filter is built by pasting a string in.

// attributeType is an attribute type as RFC 4512 §1.4 writes it: a
// descriptor or a numeric OID.
var attributeType = regexp.MustCompile(`^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$`)

// parseDN parses s as an RFC 4514 DN, refusing what directories could read
// otherwise: RDNs separated by ";" (RFC 1779 and 2253 allowed it, so
// "cn=x;cn=admins" names an entry below cn=admins), attribute types that
// are not types, values that are not UTF-8, and the empty DN.
func parseDN(s string) (*goldap.DN, error) {
	if !utf8.ValidString(s) {
		return nil, errors.New("it is not valid UTF-8")
	}
	if hasUnescaped(s, ';') {
		return nil, errors.New(`it separates RDNs with ";": use ","`)
	}
	dn, err := goldap.ParseDN(s)
	if err != nil {
		return nil, err
	}
	if len(dn.RDNs) == 0 {
		return nil, errors.New("it is empty")
	}
	for _, rdn := range dn.RDNs {
		for _, a := range rdn.Attributes {
			if !attributeType.MatchString(a.Type) {
				return nil, fmt.Errorf("%q is not an attribute type", a.Type)
			}
			if !utf8.ValidString(a.Value) {
				return nil, fmt.Errorf("the value of %s is not valid UTF-8", a.Type)
			}
		}
	}
	return dn, nil
}

// hasUnescaped reports whether s holds c outside a backslash escape.
func hasUnescaped(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case c:
			return true
		}
	}
	return false
}

// formatDN writes dn in RFC 4514 form, each value escaped by
// goldap.EscapeDN, attribute types and RDN order as given.
func formatDN(dn *goldap.DN) string {
	rdns := make([]string, len(dn.RDNs))
	for i, rdn := range dn.RDNs {
		avas := make([]string, len(rdn.Attributes))
		for j, a := range rdn.Attributes {
			avas[j] = a.Type + "=" + goldap.EscapeDN(a.Value)
		}
		rdns[i] = strings.Join(avas, "+")
	}
	return strings.Join(rdns, ",")
}

// canonicalDN is s parsed by parseDN and written back by formatDN. field
// names s in errors, e.g. "spec.entitlement.name".
func canonicalDN(field, s string) (string, error) {
	dn, err := parseDN(s)
	if err != nil {
		return "", fmt.Errorf("%s %q is not a DN: %w", field, s, err)
	}
	return formatDN(dn), nil
}

// equalityFilter is the filter (attr=value), value escaped as RFC 4515
// requires: "*", "(", ")", "\", NUL and every byte above 0x7f become \XX.
// attr is one of the connector's constants, never a user's string.
func equalityFilter(attr, value string) string {
	return "(" + attr + "=" + goldap.EscapeFilter(value) + ")"
}
