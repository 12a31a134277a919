package v1alpha1

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var predicateNow = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func findingExpiring(at *time.Time, deleting bool) *Finding {
	f := &Finding{}
	if at != nil {
		f.Spec.ExpiresAt = &metav1.Time{Time: *at}
	}
	if deleting {
		f.DeletionTimestamp = &metav1.Time{Time: predicateNow.Add(-time.Minute)}
	}
	return f
}

func TestFindingExpiredAtAndActiveAt(t *testing.T) {
	before, at, after := predicateNow.Add(-time.Nanosecond), predicateNow, predicateNow.Add(time.Nanosecond)
	for _, c := range []struct {
		name        string
		f           *Finding
		expired     bool
		active      bool
		description string
	}{
		{"no expiry", findingExpiring(nil, false), false, true, "a finding without expiresAt stays until deleted"},
		{"expires a nanosecond later", findingExpiring(&after, false), false, true, "still counts just before its expiry"},
		{"expires exactly now", findingExpiring(&at, false), true, false, "stops counting at its expiry, not after"},
		{"expired a nanosecond ago", findingExpiring(&before, false), true, false, "past its expiry"},
		{"no expiry, being deleted", findingExpiring(nil, true), false, false, "being deleted is not active, though not expired"},
		{"unexpired, being deleted", findingExpiring(&after, true), false, false, "being deleted is not active, though not expired"},
		{"expired, being deleted", findingExpiring(&before, true), true, false, "both"},
	} {
		if got := c.f.ExpiredAt(predicateNow); got != c.expired {
			t.Errorf("%s: ExpiredAt = %v, want %v (%s)", c.name, got, c.expired, c.description)
		}
		if got := c.f.ActiveAt(predicateNow); got != c.active {
			t.Errorf("%s: ActiveAt = %v, want %v (%s)", c.name, got, c.active, c.description)
		}
	}
}

func TestPolicyExceptionBoundaries(t *testing.T) {
	created := predicateNow.Add(-10 * 24 * time.Hour)
	exception := func(expires time.Time) *PolicyException {
		return &PolicyException{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
			Spec: PolicyExceptionSpec{ExpiresAt: metav1.NewTime(expires)}}
	}
	lasts := 30 * 24 * time.Hour
	e := exception(created.Add(lasts))
	expiry := e.Spec.ExpiresAt.Time

	if e.ExpiredAt(expiry.Add(-time.Nanosecond)) || !e.ActiveAt(expiry.Add(-time.Nanosecond), lasts) {
		t.Error("an exception must be in force until the instant of its expiry")
	}
	if !e.ExpiredAt(expiry) || e.ActiveAt(expiry, 0) {
		t.Error("an exception must stop applying exactly at its expiry")
	}
	if got := e.Lifetime(predicateNow); got != lasts {
		t.Errorf("Lifetime = %v, want %v: it runs from creation, whatever now is", got, lasts)
	}
	if !e.ActiveAt(predicateNow, lasts) {
		t.Error("an exception lasting exactly the limit applies")
	}
	if e.ActiveAt(predicateNow, lasts-time.Nanosecond) {
		t.Error("an exception lasting a nanosecond over the limit applies nowhere")
	}
	if !e.ActiveAt(predicateNow, 0) || !e.ActiveAt(predicateNow, -time.Hour) {
		t.Error("a zero or negative limit means no limit")
	}

	// Read from a file for offline evaluation: no creation time, so the
	// lifetime runs from now and shrinks as now approaches the expiry.
	uncreated := &PolicyException{Spec: PolicyExceptionSpec{ExpiresAt: metav1.NewTime(predicateNow.Add(lasts))}}
	if got := uncreated.Lifetime(predicateNow); got != lasts {
		t.Errorf("uncreated Lifetime = %v, want %v", got, lasts)
	}
	if uncreated.ActiveAt(predicateNow, lasts-time.Second) || !uncreated.ActiveAt(predicateNow.Add(time.Second), lasts-time.Second) {
		t.Error("an uncreated exception is measured from now")
	}
}

func TestAccessGrantExpiredAt(t *testing.T) {
	g := &AccessGrant{}
	if g.ExpiredAt(predicateNow) {
		t.Error("a grant without expiresAt expired")
	}
	for at, want := range map[time.Time]bool{
		predicateNow.Add(time.Nanosecond): false, predicateNow: true, predicateNow.Add(-time.Nanosecond): true,
	} {
		g.Spec.ExpiresAt = &metav1.Time{Time: at}
		if got := g.ExpiredAt(predicateNow); got != want {
			t.Errorf("expiresAt %s: ExpiredAt = %v, want %v", at, got, want)
		}
	}
}
