package ssf

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSubjectFormats(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []Candidate
	}{
		{"email", `{"format":"email","email":"dana@vendor.example"}`,
			[]Candidate{{Format: FormatEmail, ID: "dana@vendor.example"}}},
		{"iss_sub", `{"format":"iss_sub","iss":"https://idp.vendor.example/","sub":"248289761001"}`,
			[]Candidate{{Format: FormatIssSub, ID: "248289761001", Issuer: "https://idp.vendor.example/"}}},
		{"opaque", `{"format":"opaque","id":"u_7Fq2xK9"}`,
			[]Candidate{{Format: FormatOpaque, ID: "u_7Fq2xK9"}}},
		{"phone_number", `{"format":"phone_number","phone_number":"+14155550123"}`,
			[]Candidate{{Format: FormatPhoneNumber, ID: "+14155550123"}}},
		{"account", `{"format":"account","uri":"acct:dana@vendor.example"}`,
			[]Candidate{{Format: FormatAccount, ID: "dana@vendor.example"}}},
		{"did", `{"format":"did","uri":"did:example:9b1deb4d3b7d"}`,
			[]Candidate{{Format: FormatDID, ID: "did:example:9b1deb4d3b7d"}}},
		{"uri", `{"format":"uri","uri":"https://vendor.example/users/dana"}`,
			[]Candidate{{Format: FormatURI, ID: "https://vendor.example/users/dana"}}},
		{"aliases", `{"format":"aliases","identifiers":[
			{"format":"email","email":"dana@vendor.example"},
			{"format":"opaque","id":"u_7Fq2xK9"},
			{"format":"email","email":"dana@vendor.example"}]}`,
			[]Candidate{{Format: FormatEmail, ID: "dana@vendor.example"}, {Format: FormatOpaque, ID: "u_7Fq2xK9"}}},
		{"complex reduced to user", `{"format":"complex",
			"user":{"format":"iss_sub","iss":"https://idp.vendor.example/","sub":"248289761001"},
			"device":{"format":"opaque","id":"dev-42"},
			"session":{"format":"opaque","id":"sess-1"}}`,
			[]Candidate{{Format: FormatIssSub, ID: "248289761001", Issuer: "https://idp.vendor.example/"}}},
		{"complex with aliases user", `{"format":"complex","user":{"format":"aliases","identifiers":[{"format":"opaque","id":"x"}]}}`,
			[]Candidate{{Format: FormatOpaque, ID: "x"}}},
		{"complex device only", `{"format":"complex","device":{"format":"opaque","id":"dev-42"}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s SubjectID
			if err := json.Unmarshal([]byte(tt.json), &s); err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got := s.Candidates(); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Candidates = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSubjectInvalid(t *testing.T) {
	many := make([]string, maxIdentities+1)
	for i := range many {
		many[i] = `{"format":"opaque","id":"x"}`
	}
	tests := map[string]string{
		"unknown format":         `{"format":"username","username":"dana"}`,
		"no format":              `{"email":"dana@vendor.example"}`,
		"email missing":          `{"format":"email"}`,
		"email not an address":   `{"format":"email","email":"dana"}`,
		"email with name":        `{"format":"email","email":"Dana <dana@vendor.example>"}`,
		"email too long":         `{"format":"email","email":"` + strings.Repeat("a", 320) + `@x.example"}`,
		"email with extra sub":   `{"format":"email","email":"dana@vendor.example","sub":"1"}`,
		"iss_sub without iss":    `{"format":"iss_sub","sub":"1"}`,
		"iss_sub without sub":    `{"format":"iss_sub","iss":"https://idp.example/"}`,
		"sub too long":           `{"format":"iss_sub","iss":"https://idp.example/","sub":"` + strings.Repeat("s", 1025) + `"}`,
		"opaque empty":           `{"format":"opaque","id":""}`,
		"phone without plus":     `{"format":"phone_number","phone_number":"14155550123"}`,
		"phone with letters":     `{"format":"phone_number","phone_number":"+1415CALLME"}`,
		"phone too long":         `{"format":"phone_number","phone_number":"+1234567890123456"}`,
		"account not acct":       `{"format":"account","uri":"mailto:dana@vendor.example"}`,
		"account without host":   `{"format":"account","uri":"acct:dana"}`,
		"did not did":            `{"format":"did","uri":"https://example/"}`,
		"uri relative":           `{"format":"uri","uri":"/users/dana"}`,
		"uri too long":           `{"format":"uri","uri":"https://x.example/` + strings.Repeat("p", 2048) + `"}`,
		"aliases empty":          `{"format":"aliases","identifiers":[]}`,
		"aliases nested":         `{"format":"aliases","identifiers":[{"format":"aliases","identifiers":[{"format":"opaque","id":"x"}]}]}`,
		"aliases with complex":   `{"format":"aliases","identifiers":[{"format":"complex","user":{"format":"opaque","id":"x"}}]}`,
		"aliases too many":       `{"format":"aliases","identifiers":[` + strings.Join(many, ",") + `]}`,
		"aliases invalid member": `{"format":"aliases","identifiers":[{"format":"email","email":"nope"}]}`,
		"aliases with email":     `{"format":"aliases","email":"dana@vendor.example","identifiers":[{"format":"opaque","id":"x"}]}`,
		"complex empty":          `{"format":"complex"}`,
		"complex nested":         `{"format":"complex","user":{"format":"complex","user":{"format":"opaque","id":"x"}}}`,
		"complex invalid user":   `{"format":"complex","user":{"format":"opaque"}}`,
		"complex with a tenant":  `{"format":"complex","user":{"format":"opaque","id":"u"},"tenant":{"format":"opaque","id":"t-9"}}`,
		"opaque with user":       `{"format":"opaque","id":"x","user":{"format":"opaque","id":"y"}}`,
	}
	for name, js := range tests {
		t.Run(name, func(t *testing.T) {
			var s SubjectID
			if err := json.Unmarshal([]byte(js), &s); err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); !errors.Is(err, ErrInvalidSubject) {
				t.Fatalf("Validate = %v, want ErrInvalidSubject", err)
			}
		})
	}
	var nilSubject *SubjectID
	if nilSubject.Validate() == nil || nilSubject.Candidates() != nil {
		t.Fatal("nil subject")
	}
}
