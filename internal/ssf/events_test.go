package ssf

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Event bodies shaped like the examples of CAEP 1.0, RISC 1.0 and SSF 1.0,
// with values of our own.
func TestDecodeSpecExamples(t *testing.T) {
	ts := time.Unix(1772617500, 0).UTC()
	tests := []struct {
		uri  string
		body string
		want any
	}{
		{EventSessionRevoked,
			`{"initiating_entity":"policy","reason_admin":{"en":"Sign-in from a sanctioned region"},
			  "reason_user":{"en":"Your session ended.","de":"Ihre Sitzung wurde beendet."},"event_timestamp":1772617500}`,
			&SessionRevoked{EventCommon{InitiatingEntity: "policy", EventTimestamp: &NumericDate{ts},
				ReasonAdmin: map[string]string{"en": "Sign-in from a sanctioned region"},
				ReasonUser:  map[string]string{"en": "Your session ended.", "de": "Ihre Sitzung wurde beendet."}}}},
		{EventSessionRevoked, `{"event_timestamp":1772617500000}`, // milliseconds, as in one published example
			&SessionRevoked{EventCommon{EventTimestamp: &NumericDate{ts}}}},
		{EventCredentialChange,
			`{"credential_type":"fido2-roaming","change_type":"create","fido2_aaguid":"accced6a-63f5-490a-9eea-e59bc1896cfc",
			  "friendly_name":"Work key","initiating_entity":"user","event_timestamp":1772617500}`,
			&CredentialChange{EventCommon: EventCommon{InitiatingEntity: "user", EventTimestamp: &NumericDate{ts}},
				CredentialType: "fido2-roaming", ChangeType: "create", FriendlyName: "Work key",
				FIDO2AAGUID: "accced6a-63f5-490a-9eea-e59bc1896cfc"}},
		{EventAssuranceLevelChange,
			`{"namespace":"NIST-AAL","current_level":"nist-aal1","previous_level":"nist-aal2","change_direction":"decrease","initiating_entity":"system"}`,
			&AssuranceLevelChange{EventCommon: EventCommon{InitiatingEntity: "system"}, Namespace: "NIST-AAL",
				CurrentLevel: "nist-aal1", PreviousLevel: "nist-aal2", ChangeDirection: "decrease"}},
		{EventDeviceComplianceChange,
			`{"current_status":"not-compliant","previous_status":"compliant","initiating_entity":"policy",
			  "reason_admin":{"en":"Disk encryption off"}}`,
			&DeviceComplianceChange{EventCommon: EventCommon{InitiatingEntity: "policy",
				ReasonAdmin: map[string]string{"en": "Disk encryption off"}},
				CurrentStatus: StatusNotCompliant, PreviousStatus: StatusCompliant}},
		{EventTokenClaimsChange, `{"claims":{"role":"ro-admin"}}`,
			&TokenClaimsChange{Claims: map[string]json.RawMessage{"role": json.RawMessage(`"ro-admin"`)}}},
		{EventAccountDisabled,
			`{"subject":{"format":"iss_sub","iss":"https://idp.vendor.example/","sub":"7f3a"},"reason":"hijacking"}`,
			&AccountDisabled{EventCommon: EventCommon{Subject: &SubjectID{Format: FormatIssSub, Iss: "https://idp.vendor.example/", Sub: "7f3a"}},
				Reason: ReasonHijacking}},
		{EventAccountDisabled, `{"reason":"bulk-account"}`, &AccountDisabled{Reason: ReasonBulkAccount}},
		{EventAccountEnabled, `{}`, &AccountEnabled{}},
		{EventAccountPurged, `{}`, &AccountPurged{}},
		{EventCredentialCompromise,
			`{"credential_type":"password","event_timestamp":1772617500,"reason_admin":{"en":"Found in a breach corpus"}}`,
			&CredentialCompromise{EventCommon: EventCommon{EventTimestamp: &NumericDate{ts},
				ReasonAdmin: map[string]string{"en": "Found in a breach corpus"}}, CredentialType: "password"}},
		{EventIdentifierChanged, `{"new-value":"dana.k@vendor.example"}`, &IdentifierChanged{NewValue: "dana.k@vendor.example"}},
		{EventIdentifierRecycled, `{}`, &IdentifierRecycled{}},
		{EventSessionsRevoked, `{}`, &SessionRevoked{}},
		{EventVerification, `{"state":"VGhpcyBpcyBhIHN0YXRl"}`, &Verification{State: "VGhpcyBpcyBhIHN0YXRl"}},
	}
	top := &SubjectID{Format: FormatEmail, Email: "dana@vendor.example"}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			st := top
			if strings.Contains(tt.body, `"subject"`) {
				st = nil // the event names its subject, CAEP-style, without sub_id
			}
			set := &SET{Subject: st, Events: map[string]json.RawMessage{tt.uri: json.RawMessage(tt.body)}}
			evs, err := set.DecodeEvents()
			if err != nil {
				t.Fatalf("DecodeEvents: %v", err)
			}
			if !reflect.DeepEqual(evs[0].Body, tt.want) {
				t.Fatalf("body = %#v, want %#v", evs[0].Body, tt.want)
			}
			wantSub := top
			if c, ok := tt.want.(commoner); ok && c.common().Subject != nil {
				wantSub = c.common().Subject
			}
			if !reflect.DeepEqual(evs[0].Subject, wantSub) {
				t.Fatalf("subject = %+v, want %+v", evs[0].Subject, wantSub)
			}
		})
	}
}

func TestDecodeRejectsMalformedEvents(t *testing.T) {
	tests := map[string]struct{ uri, body string }{
		"device status unknown":       {EventDeviceComplianceChange, `{"current_status":"unknown","previous_status":"compliant"}`},
		"device status missing":       {EventDeviceComplianceChange, `{"current_status":"compliant"}`},
		"credential change no type":   {EventCredentialChange, `{"change_type":"create"}`},
		"credential change bad kind":  {EventCredentialChange, `{"credential_type":"password","change_type":"explode"}`},
		"compromise no type":          {EventCredentialCompromise, `{}`},
		"assurance no level":          {EventAssuranceLevelChange, `{"namespace":"RFC8176"}`},
		"bad initiating entity":       {EventSessionRevoked, `{"initiating_entity":"martian"}`},
		"reason_admin not a lang map": {EventSessionRevoked, `{"reason_admin":"text"}`},
		"bad timestamp":               {EventSessionRevoked, `{"event_timestamp":"yesterday"}`},
		"negative timestamp":          {EventSessionRevoked, `{"event_timestamp":-5}`},
		"invalid event subject":       {EventAccountPurged, `{"subject":{"format":"email"}}`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			set := &SET{Events: map[string]json.RawMessage{tt.uri: json.RawMessage(tt.body)}}
			if _, err := set.DecodeEvents(); err == nil {
				t.Fatal("malformed event accepted")
			}
		})
	}
}

// A whole SET in the shape of the SSF/CAEP examples (sub_id top-level,
// complex subject) round-trips through Signer and Verifier.
func TestSignVerifyComplexSubject(t *testing.T) {
	f := newFixture(t, "PS256")
	sub := &SubjectID{Format: FormatComplex,
		User:   &SubjectID{Format: FormatIssSub, Iss: "https://idp.vendor.example/", Sub: "248289761001"},
		Device: &SubjectID{Format: FormatOpaque, ID: "dev-42"}}
	tok := f.sign(t, withSubject(sub), withEvent(EventDeviceComplianceChange,
		`{"current_status":"not-compliant","previous_status":"compliant","event_timestamp":1772617500}`))
	set, err := f.verifier.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(set.Subject, sub) {
		t.Fatalf("subject %+v", set.Subject)
	}
	if c := set.Subject.Candidates(); len(c) != 1 || c[0].ID != "248289761001" {
		t.Fatalf("candidates %+v", c)
	}
}
