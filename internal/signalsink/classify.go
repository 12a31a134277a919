package signalsink

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/ssf"
)

// Bounds on what a transmitter's text may take of a Finding.
const (
	maxReasonRunes = 200
	maxDetailRunes = 256
	maxSummary     = 1024
	maxClaimNames  = 8
)

// Keys of a Finding's evidence.details that the sink writes.
const (
	DetailEventType = "eventType"
	DetailJTI       = "jti"
	DetailIssuer    = "issuer"
	DetailTxn       = "txn"
)

// action is what one event does: record a Finding of its type, lift
// (delete) the Finding of its type, or nothing.
type action struct {
	// typ is the Finding type recorded or lifted; empty: ignored.
	typ accessv1alpha1.FindingType
	// lift deletes the Finding instead of recording one.
	lift bool
	// severity of the recorded Finding.
	severity accessv1alpha1.Severity
	// expires: the Finding expires FindingTTL after it was last seen;
	// otherwise it stays until lifted or deleted.
	expires bool
	// what is the event's short description for the summary, e.g.
	// "account-disabled (reason hijacking)".
	what string
	// details are the event's own facts for evidence.details.
	details map[string]string
	// common is the event's CAEP common members.
	common *ssf.EventCommon
}

// classify maps one decoded event to its action. It is pure: the sink's
// whole mapping from CAEP and RISC to Findings is here.
func classify(ev ssf.Event) action {
	short := shortType(ev.Type)
	a := action{what: short, details: map[string]string{}}
	switch b := ev.Body.(type) {
	case *ssf.AccountDisabled:
		a.typ, a.severity, a.common = accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityHigh, &b.EventCommon
		if b.Reason == ssf.ReasonHijacking {
			a.severity = accessv1alpha1.SeverityCritical
		}
		a.setDetail("reason", b.Reason)
	case *ssf.AccountPurged:
		a.typ, a.severity, a.common = accessv1alpha1.FindingAccountDisabled, accessv1alpha1.SeverityHigh, &b.EventCommon
	case *ssf.AccountEnabled:
		a.typ, a.lift, a.common = accessv1alpha1.FindingAccountDisabled, true, &b.EventCommon
	case *ssf.CredentialCompromise:
		a.typ, a.severity, a.expires, a.common = accessv1alpha1.FindingCredentialCompromise, accessv1alpha1.SeverityHigh, true, &b.EventCommon
		a.setDetail("credentialType", b.CredentialType)
	case *ssf.DeviceComplianceChange:
		a.typ, a.common = accessv1alpha1.FindingDeviceNonCompliant, &b.EventCommon
		a.setDetail("currentStatus", b.CurrentStatus)
		a.setDetail("previousStatus", b.PreviousStatus)
		switch b.CurrentStatus {
		case ssf.StatusNotCompliant:
			a.severity, a.expires = accessv1alpha1.SeverityMedium, true
		case ssf.StatusCompliant:
			a.lift = true
		default:
			return action{}
		}
	case *ssf.SessionRevoked:
		a.typ, a.severity, a.expires, a.common = accessv1alpha1.FindingSessionRevoked, accessv1alpha1.SeverityInfo, true, &b.EventCommon
	default:
		return classifySecurityEvent(a, ev)
	}
	a.what = describe(short, a.details)
	return a
}

// classifySecurityEvent maps the events recorded as security-event
// Findings, and ignores the rest.
func classifySecurityEvent(a action, ev ssf.Event) action {
	a.typ, a.severity, a.expires = accessv1alpha1.FindingSecurityEvent, accessv1alpha1.SeverityInfo, true
	switch b := ev.Body.(type) {
	case *ssf.CredentialChange:
		a.common, a.severity = &b.EventCommon, accessv1alpha1.SeverityLow
		a.setDetail("credentialType", b.CredentialType)
		a.setDetail("changeType", b.ChangeType)
	case *ssf.AssuranceLevelChange:
		if b.ChangeDirection != "decrease" {
			return action{}
		}
		a.common, a.severity = &b.EventCommon, accessv1alpha1.SeverityLow
		a.setDetail("namespace", b.Namespace)
		a.setDetail("currentLevel", b.CurrentLevel)
		a.setDetail("previousLevel", b.PreviousLevel)
	case *ssf.TokenClaimsChange:
		a.common = &b.EventCommon
		a.setDetail("claims", claimNames(b.Claims))
	case *ssf.IdentifierChanged:
		a.common = &b.EventCommon
		a.setDetail("newValue", b.NewValue)
	case *ssf.IdentifierRecycled:
		a.common, a.severity = &b.EventCommon, accessv1alpha1.SeverityLow
	default:
		return action{}
	}
	a.what = describe(a.what, a.details)
	return a
}

// setDetail records a transmitter's value, cleaned and bounded; empty
// values are left out.
func (a *action) setDetail(key, value string) {
	if v := clean(value, maxDetailRunes); v != "" {
		a.details[key] = v
	}
}

// describe is the event's short type with the facts a person reads first.
func describe(short string, details map[string]string) string {
	var facts []string
	for _, k := range []string{"reason", "credentialType", "changeType", "currentStatus", "currentLevel", "claims"} {
		if v := details[k]; v != "" {
			facts = append(facts, k+" "+clean(v, 64))
		}
	}
	if len(facts) == 0 {
		return short
	}
	return short + " (" + strings.Join(facts, ", ") + ")"
}

// claimNames lists the names of the changed claims, never their values
// (a claim may carry a token), sorted and bounded.
func claimNames(claims map[string]json.RawMessage) string {
	names := make([]string, 0, len(claims))
	for k := range claims {
		names = append(names, clean(k, 32))
	}
	slices.Sort(names)
	if len(names) > maxClaimNames {
		names = append(names[:maxClaimNames], "…")
	}
	return strings.Join(names, " ")
}

// shortType is the last path segment of an event type URI, bounded.
func shortType(uri string) string {
	return clean(uri[strings.LastIndexByte(uri, '/')+1:], 64)
}

// summary says what the transmitter reported: the stream, the event, who
// initiated it and the administrator's reason in English.
func summary(stream string, a action) string {
	var b strings.Builder
	b.WriteString(clean(stream, 253))
	b.WriteString(" reported ")
	b.WriteString(a.what)
	if a.common != nil {
		if who := clean(a.common.InitiatingEntity, 32); who != "" {
			b.WriteString(", initiated by ")
			b.WriteString(who)
		}
		if why := englishReason(a.common.ReasonAdmin); why != "" {
			b.WriteString(": ")
			b.WriteString(why)
		}
	}
	return truncate(b.String(), maxSummary)
}

// englishReason is reason_admin's "en" text, or the first "en-*" one,
// cleaned and bounded.
func englishReason(texts map[string]string) string {
	if t, ok := texts["en"]; ok {
		return clean(t, maxReasonRunes)
	}
	tags := make([]string, 0, len(texts))
	for tag := range texts {
		if strings.HasPrefix(strings.ToLower(tag), "en-") {
			tags = append(tags, tag)
		}
	}
	if len(tags) == 0 {
		return ""
	}
	slices.Sort(tags)
	return clean(texts[tags[0]], maxReasonRunes)
}

// eventTime is when the event happened: its event_timestamp, else the
// SET's issue time, never later than now (a transmitter's clock ahead of
// ours must not keep a Finding from being lifted).
func eventTime(a action, set *ssf.SET, now time.Time) time.Time {
	t := set.IssuedAt
	if a.common != nil && a.common.EventTimestamp != nil && !a.common.EventTimestamp.Time.IsZero() {
		t = a.common.EventTimestamp.Time
	}
	if t.IsZero() || t.After(now) {
		t = now
	}
	return t.UTC().Truncate(time.Second)
}

// clean makes a transmitter's text safe to show: valid UTF-8, no control
// or format characters (bidirectional overrides included), runs of white
// space as one space, trimmed, and cut after maxRunes runes with an
// ellipsis.
func clean(s string, maxRunes int) string {
	var b strings.Builder
	n, space := 0, false
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		if unicode.IsSpace(r) {
			space = n > 0
			continue
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if n+need > maxRunes {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			n, space = n+1, false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// evidenceDetails are the details of a Finding: the event's own facts and
// the SET's type, jti, issuer and txn, each bounded; at most 32.
func evidenceDetails(a action, set *ssf.SET, eventType string) map[string]string {
	d := make(map[string]string, len(a.details)+4)
	for k, v := range a.details {
		d[k] = v
	}
	d[DetailEventType] = clean(eventType, maxDetailRunes)
	d[DetailJTI] = clean(set.JTI, maxDetailRunes)
	d[DetailIssuer] = clean(set.Issuer, maxDetailRunes)
	if txn := clean(set.TxnID, maxDetailRunes); txn != "" {
		d[DetailTxn] = txn
	}
	if a.common != nil {
		if who := clean(a.common.InitiatingEntity, 32); who != "" {
			d["initiatingEntity"] = who
		}
	}
	if !set.IssuedAt.IsZero() {
		d["issuedAt"] = strconv.FormatInt(set.IssuedAt.Unix(), 10)
	}
	return d
}
