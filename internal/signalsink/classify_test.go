package signalsink

import (
	"strings"
	"testing"
	"time"

	"github.com/portcullis-dev/portcullis/internal/ssf"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 64, "plain text"},
		{"  a\r\n\tb  ", 64, "a b"},
		{"evil\u202egnp.exe\x1b[31m\x00", 64, "evilgnp.exe[31m"},
		{"bad \xff utf8", 64, "bad utf8"},
		{"abcdef", 3, "abc…"},
		{"ab cd", 3, "ab…"},
	} {
		if got := clean(tc.in, tc.max); got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestSummary(t *testing.T) {
	ev := ssf.Event{Type: ssf.EventAccountDisabled, Body: &ssf.AccountDisabled{Reason: "hijacking",
		EventCommon: ssf.EventCommon{InitiatingEntity: "admin",
			ReasonAdmin: map[string]string{"de": "Konto übernommen", "en-US": "Account\ntaken over " + strings.Repeat("x", 500)}}}}
	got := summary("okta-signals", classify(ev))
	want := "okta-signals reported account-disabled (reason hijacking), initiated by admin: Account taken over x"
	if !strings.HasPrefix(got, want) || len([]rune(got)) > len([]rune(want))+maxReasonRunes {
		t.Errorf("summary %q", got)
	}
}

func TestEventTimeNeverInTheFuture(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	a := classify(ssf.Event{Type: ssf.EventSessionRevoked, Body: &ssf.SessionRevoked{EventCommon: ssf.EventCommon{
		EventTimestamp: &ssf.NumericDate{Time: now.Add(time.Hour)}}}})
	if got := eventTime(a, &ssf.SET{IssuedAt: now}, now); !got.Equal(now) {
		t.Errorf("eventTime = %v", got)
	}
	set := &ssf.SET{IssuedAt: now.Add(-time.Minute)}
	if got := eventTime(classify(ssf.Event{Type: ssf.EventSessionRevoked, Body: &ssf.SessionRevoked{}}), set, now); !got.Equal(set.IssuedAt) {
		t.Errorf("eventTime without event_timestamp = %v", got)
	}
}
