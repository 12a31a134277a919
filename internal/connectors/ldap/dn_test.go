package ldap

import (
	"bytes"
	"testing"
	"unicode/utf8"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/portcullis-dev/portcullis/test/ldapserver"
)

// hostileIDs are uids and names that would change a DN or a filter built
// by pasting them in.
var hostileIDs = []string{
	"sam",
	`sam,o'neil`,
	"*)(uid=*",
	"*",
	"bob)(memberUid=alice",
	"a,cn=admins",
	"bob,ou=admins",
	"a+cn=admins",
	"a;cn=admins",
	`\`,
	`\2a`,
	`"quoted"`,
	"#04036a6f65",
	" padded ",
	"  ",
	"<>=",
	"\x00",
	"a\x00b",
	"\n\r\t\x1f\x7f",
	"é\u2028",
	"\xff\xfe",
	`x" or userName pr "`,
	"",
}

// checkDN is FuzzLDAPDN's property: the DN that formatDN writes with id as
// the value of its first RDN parses back to exactly that RDN, with the
// parent's RDNs after it.
func checkDN(t *testing.T, id string) {
	parent, err := goldap.ParseDN(ldapserver.PeopleBase)
	if err != nil {
		t.Fatal(err)
	}
	built := formatDN(&goldap.DN{RDNs: append([]*goldap.RelativeDN{{Attributes: []*goldap.AttributeTypeAndValue{{Type: "uid", Value: id}}}},
		parent.RDNs...)})
	if !utf8.ValidString(id) {
		// goldap.EscapeDN, like LDAP, carries UTF-8 only: parseDN refuses
		// a value that is not, so formatDN never gets one.
		return
	}
	dn, err := goldap.ParseDN(built)
	if err != nil {
		t.Fatalf("%q: the built DN %s does not parse: %v", id, built, err)
	}
	if len(dn.RDNs) != 1+len(parent.RDNs) || len(dn.RDNs[0].Attributes) != 1 {
		t.Fatalf("%q: the built DN %s has other RDNs", id, built)
	}
	if a := dn.RDNs[0].Attributes[0]; a.Type != "uid" || a.Value != id {
		t.Fatalf("%q: the built DN %s starts with %s=%q", id, built, a.Type, a.Value)
	}
	if !(&goldap.DN{RDNs: dn.RDNs[1:]}).Equal(parent) {
		t.Fatalf("%q: the built DN %s is not below %s", id, built, ldapserver.PeopleBase)
	}
	if _, err := parseDN(built); err != nil && id != "" {
		t.Fatalf("%q: parseDN refuses the built DN %s: %v", id, built, err)
	}
}

// checkCanonical is the second property: a DN that parseDN accepts is
// written back as a DN that parses to the same RDNs, and writing it again
// changes nothing.
func checkCanonical(t *testing.T, s string) {
	dn, err := parseDN(s)
	if err != nil {
		return
	}
	out := formatDN(dn)
	again, err := parseDN(out)
	if err != nil {
		t.Fatalf("%q: its canonical form %q does not parse: %v", s, out, err)
	}
	if !sameRDNs(dn, again) {
		t.Fatalf("%q: its canonical form %q names another entry", s, out)
	}
	if formatDN(again) != out {
		t.Fatalf("%q: writing %q again gives %q", s, out, formatDN(again))
	}
}

// sameRDNs compares exactly: types, values and order.
func sameRDNs(a, b *goldap.DN) bool {
	if len(a.RDNs) != len(b.RDNs) {
		return false
	}
	for i := range a.RDNs {
		x, y := a.RDNs[i].Attributes, b.RDNs[i].Attributes
		if len(x) != len(y) {
			return false
		}
		for j := range x {
			if x[j].Type != y[j].Type || x[j].Value != y[j].Value {
				return false
			}
		}
	}
	return true
}

// FuzzLDAPDN checks the DN builder: run with
// go test ./internal/connectors/ldap -run '^$' -fuzz FuzzLDAPDN.
func FuzzLDAPDN(f *testing.F) {
	for _, id := range hostileIDs {
		f.Add(id)
	}
	for _, dn := range []string{
		"uid=sam,ou=people,dc=example,dc=com", `uid=bob\,ou=admins,ou=people,dc=example,dc=com`,
		`uid=bob\2Cou=admins,dc=example,dc=com`, "cn=a+cn=b,dc=x", "cn=x;cn=admins,dc=x", "uid=#04036a6f65,dc=x",
		" uid = bob , dc=x", `cn=\ a\ ,dc=x`, `cn=\ff,dc=x`, "*)(uid=*", "uid=,dc=x",
	} {
		f.Add(dn)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkDN(t, s)
		checkCanonical(t, s)
	})
}

// checkFilter is FuzzLDAPFilter's property: the built filter compiles to
// one equality match on the attribute with exactly the value's bytes, and
// decompiles to itself.
func checkFilter(t *testing.T, value string) {
	built := equalityFilter("memberUid", value)
	packet, err := goldap.CompileFilter(built)
	if err != nil {
		t.Fatalf("%q: %s does not compile: %v", value, built, err)
	}
	if packet.Tag != goldap.FilterEqualityMatch || len(packet.Children) != 2 {
		t.Fatalf("%q: %s is a %s, not one equality match", value, built, goldap.FilterMap[uint64(packet.Tag)])
	}
	if attr := packet.Children[0].Data.String(); attr != "memberUid" {
		t.Fatalf("%q: %s matches %q", value, built, attr)
	}
	if got := packet.Children[1].Data.Bytes(); !bytes.Equal(got, []byte(value)) {
		t.Fatalf("%q: %s matches %q", value, built, got)
	}
	back, err := goldap.DecompileFilter(packet)
	if err != nil || back != built {
		t.Fatalf("%q: %s decompiles to %q, %v", value, built, back, err)
	}
}

// FuzzLDAPFilter checks the filter builder: run with
// go test ./internal/connectors/ldap -run '^$' -fuzz FuzzLDAPFilter.
func FuzzLDAPFilter(f *testing.F) {
	for _, id := range hostileIDs {
		f.Add(id)
	}
	f.Fuzz(checkFilter)
}

func TestHostileIDsInTheBuilders(t *testing.T) {
	for _, id := range hostileIDs {
		checkDN(t, id)
		checkCanonical(t, "uid="+goldap.EscapeDN(id)+",dc=example,dc=com")
		checkFilter(t, id)
	}
}

func TestParseDNRefusesWhatDirectoriesReadOtherwise(t *testing.T) {
	for _, s := range []string{
		"", "payments", "*", "*)(uid=*", "bob,ou=admins",
		"cn=x;cn=admins,ou=groups,dc=example,dc=com", "cn=x,ou=groups,dc=example,dc=com;",
		`cn="admins",dc=x`, `cn=\ff,dc=x`, "cn=a\xff,dc=x", "c n=x,dc=x", "cn=x,,dc=x",
	} {
		if dn, err := parseDN(s); err == nil {
			t.Errorf("parseDN(%q) = %s, want an error", s, formatDN(dn))
		}
	}
	for s, want := range map[string]string{
		"uid=sam,ou=people,dc=example,dc=com":             "uid=sam,ou=people,dc=example,dc=com",
		`uid=bob\2Cou=admins,ou=people,dc=example,dc=com`: `uid=bob\,ou=admins,ou=people,dc=example,dc=com`,
		" uid = sam , ou=people,dc=example,dc=com":        "uid=sam,ou=people,dc=example,dc=com",
		"cn=a+cn=b,dc=x":                     "cn=a+cn=b,dc=x",
		`cn=x\;cn=admins,dc=x`:               `cn=x\;cn=admins,dc=x`,
		"2.5.4.3=payments,dc=example,dc=com": "2.5.4.3=payments,dc=example,dc=com",
		`uid=\00,dc=x`:                       `uid=\00,dc=x`,
		`cn=\#hash\ ,dc=x`:                   `cn=\#hash\ ,dc=x`,
		"cn=Payments Engineers,ou=Groups,dc=Example,dc=com":   "cn=Payments Engineers,ou=Groups,dc=Example,dc=com",
		"CN=payments,OU=groups,DC=example,DC=com":             "CN=payments,OU=groups,DC=example,DC=com",
		"uid=sam@contractors.example.com,ou=people,dc=x,dc=y": "uid=sam@contractors.example.com,ou=people,dc=x,dc=y",
	} {
		if got, err := canonicalDN("dn", s); err != nil || got != want {
			t.Errorf("canonicalDN(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
}
