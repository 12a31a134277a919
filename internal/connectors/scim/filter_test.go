package scim

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	filter "github.com/scim2/filter-parser/v2"
)

// hostileIDs are account ids and names that would change a filter, a path
// or a DN built by pasting them in.
var hostileIDs = []string{
	"sam@contractors.example.com",
	`x" or userName pr "`,
	`x" or userName pr or userName eq "y`,
	`x"] or [value pr`,
	"*)(uid=*",
	"a,cn=admins",
	`\`,
	`\"`,
	`\u0022`,
	"\x00",
	"a\nb\tc\x1f\x7f",
	"\u2028\u00e9",
	"\xff\xfe",
	"../Groups/g1",
	"alice&filter=userName pr",
	"",
}

// decodeLiteral reads a JSON string literal as encoding/json does.
func decodeLiteral(t *testing.T, lit string) string {
	t.Helper()
	var got string
	if err := json.Unmarshal([]byte(lit), &got); err != nil {
		t.Fatalf("the literal %s is not a JSON string: %v", lit, err)
	}
	return got
}

// checkAttrExp checks that a parsed expression is exactly `attr eq "id"`.
// The filter-parser library hands back the literal's text between the
// quotes without decoding its escapes, so it is decoded here.
func checkAttrExp(t *testing.T, built string, e filter.Expression, attr, id string) {
	t.Helper()
	exp, ok := e.(*filter.AttributeExpression)
	if !ok {
		t.Fatalf("%s parses as %T, not one attribute expression", built, e)
	}
	if exp.AttributePath.AttributeName != attr || exp.AttributePath.SubAttribute != nil ||
		exp.AttributePath.URIPrefix != nil || exp.Operator != filter.EQ {
		t.Fatalf("%s parses as %s %s", built, exp.AttributePath, exp.Operator)
	}
	raw, ok := exp.CompareValue.(string)
	if !ok {
		t.Fatalf("%s compares with %T, not a string", built, exp.CompareValue)
	}
	if got := decodeLiteral(t, `"`+raw+`"`); got != id {
		t.Fatalf("%s compares with %q, not %q", built, got, id)
	}
}

// checkFilters is the property: every filter and path built from id is
// one equality on id, read back by encoding/json and by a third-party SCIM
// filter parser; an id that is not UTF-8 is refused.
func checkFilters(t *testing.T, id string) {
	f, err := eqFilter("userName", id)
	path, pathErr := memberPath(id)
	if !utf8.ValidString(id) {
		if err == nil || pathErr == nil {
			t.Fatalf("%q is not UTF-8 and was accepted: %s, %s", id, f, path)
		}
		return
	}
	if err != nil || pathErr != nil {
		t.Fatalf("%q: %v, %v", id, err, pathErr)
	}
	lit, ok := strings.CutPrefix(f, "userName eq ")
	if !ok || decodeLiteral(t, lit) != id {
		t.Fatalf("%s does not compare userName with %q", f, id)
	}
	parsed, err := filter.ParseFilter([]byte(f))
	if err != nil {
		t.Fatalf("the SCIM filter parser refuses %s: %v", f, err)
	}
	checkAttrExp(t, f, parsed, "userName", id)

	p, err := filter.ParsePath([]byte(path))
	if err != nil {
		t.Fatalf("the SCIM path parser refuses %s: %v", path, err)
	}
	if p.AttributePath.AttributeName != "members" || p.SubAttribute != nil {
		t.Fatalf("%s does not select members", path)
	}
	checkAttrExp(t, path, p.ValueExpression, "value", id)
}

func TestHostileIDsInTheFilters(t *testing.T) {
	for _, id := range hostileIDs {
		checkFilters(t, id)
	}
}

// FuzzSCIMFilter checks the filter and PATCH path builders: run with
// go test ./internal/connectors/scim -run '^$' -fuzz FuzzSCIMFilter.
func FuzzSCIMFilter(f *testing.F) {
	for _, id := range hostileIDs {
		f.Add(id)
	}
	f.Fuzz(checkFilters)
}

func TestPathSegments(t *testing.T) {
	for id, want := range map[string]string{
		"u1":           "/Users/u1",
		"../Groups/g1": "/Users/..%2FGroups%2Fg1",
		"a?b#c d%":     "/Users/a%3Fb%23c%20d%25",
	} {
		if got, err := resourcePath("/Users", id); err != nil || got != want {
			t.Errorf("resourcePath(%q) = %q, %v; want %q", id, got, err, want)
		}
	}
	for _, id := range []string{"", ".", ".."} {
		if got, err := resourcePath("/Users", id); err == nil {
			t.Errorf("resourcePath(%q) = %q, want an error", id, got)
		}
	}
	if got := listPath("/Users", `userName eq "a&count=1000"`); got != "/Users?filter=userName+eq+%22a%26count%3D1000%22" {
		t.Errorf("listPath = %s", got)
	}
}
