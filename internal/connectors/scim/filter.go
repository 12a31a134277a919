package scim

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// What the connector builds from account ids, group names and the ids the
// service provider returns. Each value goes in as data: a filter's string
// literal, a URL path segment, or a JSON value in a PATCH body.

// stringLiteral encodes s as a SCIM filter string literal, which is a JSON
// string (RFC 7644 §3.4.2.2, RFC 8259 §7): the quotation mark, the reverse
// solidus and the control characters are escaped, \u escapes in upper-case
// hex (which every parser reads); everything else goes as UTF-8. JSON
// carries only valid UTF-8, so any other s is refused.
func stringLiteral(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%q is not valid UTF-8, which SCIM cannot carry", s)
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04X`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// eqFilter builds the filter `attr eq "value"`. attr is one of the
// connector's constants, never a user's string.
func eqFilter(attr, value string) (string, error) {
	lit, err := stringLiteral(value)
	if err != nil {
		return "", err
	}
	return attr + " eq " + lit, nil
}

// memberPath is the PATCH path that selects one member of a group:
// `members[value eq "id"]`.
func memberPath(id string) (string, error) {
	filter, err := eqFilter("value", id)
	if err != nil {
		return "", err
	}
	return "members[" + filter + "]", nil
}

// pathSegment is id as one URL path segment, when it can be one.
func pathSegment(id string) (string, error) {
	if !canBeID(id) {
		return "", fmt.Errorf("%q cannot be a SCIM resource id", id)
	}
	return url.PathEscape(id), nil
}

// canBeID is false for "" and for "." and "..", which would name another
// resource once a server cleans the path.
func canBeID(id string) bool {
	return id != "" && id != "." && id != ".."
}

// resourcePath is endpoint/id, e.g. /Users/2819c223.
func resourcePath(endpoint, id string) (string, error) {
	seg, err := pathSegment(id)
	if err != nil {
		return "", err
	}
	return endpoint + "/" + seg, nil
}

// listPath is endpoint?filter=..., the query built by url.Values.
func listPath(endpoint, filter string) string {
	return endpoint + "?" + url.Values{"filter": {filter}}.Encode()
}
