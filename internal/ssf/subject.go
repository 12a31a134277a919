package ssf

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Subject identifier formats (RFC 9493 §3.2, SSF 1.0 §3.2).
const (
	// FormatEmail identifies a subject by an email address (RFC 9493 §3.2.2).
	FormatEmail = "email"
	// FormatIssSub identifies a subject by an issuer and a subject (RFC 9493 §3.2.5).
	FormatIssSub = "iss_sub"
	// FormatOpaque identifies a subject by a string with no semantics (RFC 9493 §3.2.6).
	FormatOpaque = "opaque"
	// FormatPhoneNumber identifies a subject by an E.164 telephone number (RFC 9493 §3.2.7).
	FormatPhoneNumber = "phone_number"
	// FormatAccount identifies a subject by an acct: URI (RFC 9493 §3.2.1, RFC 7565).
	FormatAccount = "account"
	// FormatDID identifies a subject by a decentralized identifier (RFC 9493 §3.2.4).
	FormatDID = "did"
	// FormatURI identifies a subject by an absolute URI (RFC 9493 §3.2.8).
	FormatURI = "uri"
	// FormatAliases lists several identifiers for one subject (RFC 9493 §3.2.3).
	FormatAliases = "aliases"
	// FormatComplex combines identifiers of related principals (SSF 1.0 §3.2).
	FormatComplex = "complex"
)

// Bounds on subject identifiers. They are generous for honest transmitters
// and keep a hostile one from making the receiver hold or compare megabytes.
const (
	maxEmailLen   = 320
	maxPhoneLen   = 16 // "+" and at most 15 digits (E.164)
	maxURILen     = 2048
	maxStringLen  = 1024
	maxIdentities = 16
)

// ErrInvalidSubject is wrapped by every error from SubjectID.Validate.
var ErrInvalidSubject = errors.New("invalid subject identifier")

// SubjectID is a Subject Identifier (RFC 9493): a JSON object whose "format"
// member says which other members are present. One struct holds every
// supported format; Validate checks that exactly the members of its format
// are set.
type SubjectID struct {
	// Format is the "format" member: one of the Format constants.
	Format string `json:"format"`
	// Email is the "email" member of the email format.
	Email string `json:"email,omitempty"`
	// Iss is the "iss" member of the iss_sub format.
	Iss string `json:"iss,omitempty"`
	// Sub is the "sub" member of the iss_sub format.
	Sub string `json:"sub,omitempty"`
	// ID is the "id" member of the opaque format.
	ID string `json:"id,omitempty"`
	// PhoneNumber is the "phone_number" member of the phone_number format.
	PhoneNumber string `json:"phone_number,omitempty"`
	// URI is the "uri" member of the account, did and uri formats.
	URI string `json:"uri,omitempty"`
	// Identifiers is the "identifiers" member of the aliases format; at most
	// 16, none of them aliases or complex.
	Identifiers []SubjectID `json:"identifiers,omitempty"`
	// User is the "user" member of the complex format.
	User *SubjectID `json:"user,omitempty"`
	// Device is the "device" member of the complex format.
	Device *SubjectID `json:"device,omitempty"`
	// Session is the "session" member of the complex format.
	Session *SubjectID `json:"session,omitempty"`
	// Tenant is the "tenant" member of the complex format.
	Tenant *SubjectID `json:"tenant,omitempty"`
}

// Candidate is one account identity that a subject names: the value to match
// against a Contractor's accounts, the format it came from and, for iss_sub,
// the issuer that scopes it.
type Candidate struct {
	// Format is the identifier format the value came from.
	Format string
	// ID is the account identifier: an email address, a subject, an opaque
	// id, a phone number, the user part of an acct: URI, a DID or a URI.
	ID string
	// Issuer is set for iss_sub: the issuer within which ID is unique.
	Issuer string
}

// Validate checks the identifier against its format: required members
// present, no members of other formats, lengths bounded, aliases not nested
// and complex members simple.
func (s *SubjectID) Validate() error {
	if s == nil {
		return fmt.Errorf("%w: missing", ErrInvalidSubject)
	}
	return s.validate(true, true)
}

func (s *SubjectID) validate(allowAliases, allowComplex bool) error {
	switch s.Format {
	case FormatAliases:
		if !allowAliases {
			return fmt.Errorf("%w: aliases may not be nested", ErrInvalidSubject)
		}
		return s.validateAliases()
	case FormatComplex:
		if !allowComplex {
			return fmt.Errorf("%w: complex subjects may not be nested", ErrInvalidSubject)
		}
		return s.validateComplex()
	}
	if len(s.Identifiers) != 0 || s.User != nil || s.Device != nil || s.Session != nil || s.Tenant != nil {
		return fmt.Errorf("%w: format %q with members of aliases or complex", ErrInvalidSubject, truncate(s.Format))
	}
	return s.validateSimple()
}

func (s *SubjectID) validateSimple() error {
	want, ok := requiredMembers(s.Format)
	if !ok {
		return fmt.Errorf("%w: unsupported format %q", ErrInvalidSubject, truncate(s.Format))
	}
	for name, value := range s.simpleValues() {
		if (value != "") != want[name] {
			return fmt.Errorf("%w: format %q requires exactly its own members (member %q)", ErrInvalidSubject, s.Format, name)
		}
	}
	return checkSimpleValue(s)
}

// requiredMembers says, per simple format, which members it requires; ok is
// false for a format this package does not support.
func requiredMembers(format string) (members map[string]bool, ok bool) {
	switch format {
	case FormatEmail:
		return map[string]bool{"email": true}, true
	case FormatIssSub:
		return map[string]bool{"iss": true, "sub": true}, true
	case FormatOpaque:
		return map[string]bool{"id": true}, true
	case FormatPhoneNumber:
		return map[string]bool{"phone_number": true}, true
	case FormatAccount, FormatDID, FormatURI:
		return map[string]bool{"uri": true}, true
	}
	return nil, false
}

func (s *SubjectID) simpleValues() map[string]string {
	return map[string]string{
		"email": s.Email, "iss": s.Iss, "sub": s.Sub, "id": s.ID,
		"phone_number": s.PhoneNumber, "uri": s.URI,
	}
}

func checkSimpleValue(s *SubjectID) error {
	switch s.Format {
	case FormatEmail:
		return checkEmail(s.Email)
	case FormatIssSub:
		return errors.Join(checkLen("iss", s.Iss, maxURILen), checkLen("sub", s.Sub, maxStringLen))
	case FormatOpaque:
		return checkLen("id", s.ID, maxStringLen)
	case FormatPhoneNumber:
		return checkPhone(s.PhoneNumber)
	case FormatAccount:
		return checkURI(s.URI, "acct")
	case FormatDID:
		return checkURI(s.URI, "did")
	default:
		return checkURI(s.URI, "")
	}
}

func (s *SubjectID) validateAliases() error {
	if s.Email != "" || s.Iss != "" || s.Sub != "" || s.ID != "" || s.PhoneNumber != "" || s.URI != "" ||
		s.User != nil || s.Device != nil || s.Session != nil || s.Tenant != nil {
		return fmt.Errorf("%w: aliases carries only identifiers", ErrInvalidSubject)
	}
	if len(s.Identifiers) == 0 || len(s.Identifiers) > maxIdentities {
		return fmt.Errorf("%w: aliases needs 1 to %d identifiers", ErrInvalidSubject, maxIdentities)
	}
	for i := range s.Identifiers {
		if err := s.Identifiers[i].validate(false, false); err != nil {
			return fmt.Errorf("identifier %d: %w", i, err)
		}
	}
	return nil
}

func (s *SubjectID) validateComplex() error {
	if s.Email != "" || s.Iss != "" || s.Sub != "" || s.ID != "" || s.PhoneNumber != "" || s.URI != "" ||
		len(s.Identifiers) != 0 {
		return fmt.Errorf("%w: complex carries only principal members", ErrInvalidSubject)
	}
	members := map[string]*SubjectID{"user": s.User, "device": s.Device, "session": s.Session, "tenant": s.Tenant}
	n := 0
	for name, m := range members {
		if m == nil {
			continue
		}
		n++
		if err := m.validate(true, false); err != nil {
			return fmt.Errorf("complex member %q: %w", name, err)
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: complex subject without members", ErrInvalidSubject)
	}
	if s.Tenant != nil {
		// Candidates name accounts without a tenant: acting on a
		// tenant-scoped subject would reach the same id in every tenant.
		return fmt.Errorf("%w: tenant-scoped complex subjects are not supported", ErrInvalidSubject)
	}
	return nil
}

// Candidates returns the account identities the subject names, without
// duplicates: the address of an email, the sub (scoped by iss) of an
// iss_sub, the id of an opaque identifier, each identifier of aliases, and
// for a complex subject those of its user member only (a device, session or
// tenant names no account). It does not validate; call Validate first.
func (s *SubjectID) Candidates() []Candidate {
	if s == nil {
		return nil
	}
	var out []Candidate
	seen := map[Candidate]bool{}
	add := func(c Candidate) {
		if c.ID != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	switch s.Format {
	case FormatAliases:
		for i := range s.Identifiers {
			for _, c := range s.Identifiers[i].Candidates() {
				add(c)
			}
		}
	case FormatComplex:
		for _, c := range s.User.Candidates() {
			add(c)
		}
	default:
		add(s.simpleCandidate())
	}
	return out
}

func (s *SubjectID) simpleCandidate() Candidate {
	c := Candidate{Format: s.Format}
	switch s.Format {
	case FormatEmail:
		c.ID = s.Email
	case FormatIssSub:
		c.ID, c.Issuer = s.Sub, s.Iss
	case FormatOpaque:
		c.ID = s.ID
	case FormatPhoneNumber:
		c.ID = s.PhoneNumber
	case FormatAccount:
		c.ID = strings.TrimPrefix(s.URI, "acct:")
	case FormatDID, FormatURI:
		c.ID = s.URI
	}
	return c
}

func checkLen(member, v string, maxLen int) error {
	if len(v) > maxLen {
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalidSubject, member, maxLen)
	}
	return nil
}

func checkEmail(v string) error {
	if err := checkLen("email", v, maxEmailLen); err != nil {
		return err
	}
	addr, err := mail.ParseAddress(v)
	if err != nil || addr.Address != v || addr.Name != "" {
		return fmt.Errorf("%w: email is not an addr-spec", ErrInvalidSubject)
	}
	return nil
}

func checkPhone(v string) error {
	if len(v) < 3 || len(v) > maxPhoneLen || v[0] != '+' || v[1] == '0' {
		return fmt.Errorf("%w: phone_number is not E.164", ErrInvalidSubject)
	}
	for _, r := range v[1:] {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w: phone_number is not E.164", ErrInvalidSubject)
		}
	}
	return nil
}

// checkURI requires an absolute URI, with the given scheme when one is named.
func checkURI(v, scheme string) error {
	if err := checkLen("uri", v, maxURILen); err != nil {
		return err
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || (u.Opaque == "" && u.Host == "" && u.Path == "") {
		return fmt.Errorf("%w: uri is not an absolute URI", ErrInvalidSubject)
	}
	if scheme != "" && !strings.EqualFold(u.Scheme, scheme) {
		return fmt.Errorf("%w: uri must use the %s: scheme", ErrInvalidSubject, scheme)
	}
	if scheme == "acct" && !strings.Contains(u.Opaque, "@") {
		return fmt.Errorf("%w: acct: uri needs user@host", ErrInvalidSubject)
	}
	return nil
}

// truncate bounds a value quoted in an error message.
func truncate(v string) string {
	const limit = 64
	if len(v) <= limit {
		return v
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut] + "…"
}
