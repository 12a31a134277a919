package ldap

import (
	"errors"
	"fmt"
	"strings"

	goldap "github.com/go-ldap/ldap/v3"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/connectors"
)

// The member attributes that spec.ldap.memberAttribute may name.
const (
	attrMember       = "member"
	attrUniqueMember = "uniqueMember"
	attrMemberUID    = "memberUid"
)

// checkSettings refuses, before anything is sent, a url with user info or
// of another scheme, and an ldap:// url without startTLS unless
// spec.insecure is set: the bind password would cross the network in
// clear text.
func checkSettings(system *accessv1alpha1.ConnectedSystem) error {
	s := system.Spec.LDAP
	if s == nil {
		return errors.New("the system has no ldap settings")
	}
	u, err := connectors.ParseSystemURL("spec.ldap.url", s.URL)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "ldaps":
		return nil
	case "ldap":
		if s.StartTLS || system.Spec.Insecure {
			return nil
		}
		return fmt.Errorf("%w: spec.ldap.url is ldap:// without startTLS, so the bind password would cross the network in clear text: "+
			"use ldaps:// or startTLS: true, or set spec.insecure: true to accept that", connectors.ErrInsecure)
	}
	return fmt.Errorf("spec.ldap.url %s is neither ldaps:// nor ldap://", connectors.RedactURL(s.URL))
}

// names are what a grant's enforcement reads and writes, each DN parsed
// and written back in RFC 4514 form before anything is sent.
type names struct {
	// attr is the member attribute.
	attr string
	// accountDN is the account's entry, or "" for an account given as a
	// uid (memberUid only).
	accountDN string
	// member is the value in attr: the account's DN, or its uid.
	member string
	// group and quarantine are group DNs; quarantine may be "".
	group, quarantine string
}

// namesOf checks the grant's account, group and quarantine group.
func namesOf(t connectors.Target) (names, error) {
	s := t.System.Spec.LDAP
	n := names{attr: string(s.MemberAttribute)}
	switch n.attr {
	case "":
		n.attr = attrMember
	case attrMember, attrUniqueMember, attrMemberUID:
	default:
		return names{}, fmt.Errorf("spec.ldap.memberAttribute %q is none of member, uniqueMember and memberUid", s.MemberAttribute)
	}
	var err error
	if n.group, err = canonicalDN("spec.entitlement.name", t.Grant.Spec.Entitlement.Name); err != nil {
		return names{}, fmt.Errorf("%w: an ldap grant names its group by DN, e.g. cn=payments,ou=groups,dc=example,dc=com", err)
	}
	if s.QuarantineGroupDN != "" {
		if n.quarantine, err = canonicalDN("spec.ldap.quarantineGroupDN", s.QuarantineGroupDN); err != nil {
			return names{}, err
		}
	}
	dn, dnErr := parseDN(t.Account)
	if dnErr == nil {
		n.accountDN = formatDN(dn)
	}
	switch {
	case n.attr != attrMemberUID && dnErr != nil:
		return names{}, fmt.Errorf("the account %q is not a DN, which %s needs: %w", t.Account, n.attr, dnErr)
	case n.attr != attrMemberUID:
		n.member = n.accountDN
	case dnErr != nil:
		// Not a DN: the account is the uid itself, written as a value.
		n.member = t.Account
	default:
		n.member, err = rdnUID(dn)
	}
	return n, err
}

// rdnUID is the uid in the first RDN of an account's DN.
func rdnUID(dn *goldap.DN) (string, error) {
	for _, a := range dn.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "uid") || a.Type == "0.9.2342.19200300.100.1.1" {
			if a.Value == "" {
				break
			}
			return a.Value, nil
		}
	}
	return "", fmt.Errorf("the account %s has no uid in its first RDN, which memberUid needs", formatDN(dn))
}
