package signals

import (
	"fmt"
	"sort"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// InfraIndex remembers which contractors used each IP address and device,
// and when they last did: the state of the shared-infrastructure correlator.
// It is rebuilt from the contractors' recent sign-ins after a restart. It is
// not safe for concurrent use.
type InfraIndex struct {
	window time.Duration
	// uses maps "ip:<addr>" and "device:<id>" to contractor to last use.
	uses map[string]map[string]time.Time
}

// NewInfraIndex returns an empty index that pairs uses at most window apart.
func NewInfraIndex(window time.Duration) *InfraIndex {
	return &InfraIndex{window: window, uses: map[string]map[string]time.Time{}}
}

// Len is the number of addresses and devices in the index.
func (x *InfraIndex) Len() int { return len(x.uses) }

// infraKeys are the index keys of a sign-in: its address, unless it is a
// corporate egress (shared by design), and its device.
func infraKeys(s SignIn, lists Lists) []string {
	keys := make([]string, 0, 2)
	if s.IP.IsValid() && (s.ASN == 0 || !lists.CorporateASNs[s.ASN]) {
		keys = append(keys, "ip:"+s.IP.String())
	}
	if s.DeviceID != "" {
		keys = append(keys, "device:"+s.DeviceID)
	}
	return keys
}

// Add records sign-ins without correlating them, as when the index is
// rebuilt.
func (x *InfraIndex) Add(signIns []SignIn, lists Lists) {
	for _, s := range signIns {
		for _, k := range infraKeys(s, lists) {
			x.record(k, s)
		}
	}
}

func (x *InfraIndex) record(key string, s SignIn) {
	users := x.uses[key]
	if users == nil {
		users = map[string]time.Time{}
		x.uses[key] = users
	}
	if s.Time.After(users[s.Contractor]) {
		users[s.Contractor] = s.Time
	}
}

// Observe records new sign-ins and returns, per contractor ("namespace/
// name"), a shared-infrastructure signal for every address or device that
// another contractor used within the window of a new sign-in — the
// laptop-farm signal. The contractor who signed in gets a signal counting
// their new sign-ins on it; each other contractor gets one naming the
// newcomer, with a count of 0.
func (x *InfraIndex) Observe(fresh []SignIn, lists Lists) map[string][]Signal {
	type acc struct {
		sig    Signal
		others map[string]bool
	}
	found := map[string]map[string]*acc{} // contractor -> key -> signal
	add := func(contractor, key string, s SignIn, other string, count int64) {
		byKey := found[contractor]
		if byKey == nil {
			byKey = map[string]*acc{}
			found[contractor] = byKey
		}
		a := byKey[key]
		if a == nil {
			a = &acc{sig: sharedSignal(key, s), others: map[string]bool{}}
			byKey[key] = a
		}
		a.others[other] = true
		if count > 0 {
			a.sig.FirstSeen = earliest(a.sig.FirstSeen, s.Time)
			a.sig.Count += count
		}
		if s.Time.After(a.sig.SeenAt) {
			a.sig.SeenAt = s.Time
		}
	}
	for _, s := range fresh {
		for _, key := range infraKeys(s, lists) {
			counted := false
			for other, last := range x.uses[key] {
				if other == s.Contractor || absDuration(s.Time.Sub(last)) > x.window {
					continue
				}
				var count int64
				if !counted {
					count, counted = 1, true
				}
				add(s.Contractor, key, s, other, count)
				add(other, key, s, s.Contractor, 0)
			}
			x.record(key, s)
		}
	}
	out := map[string][]Signal{}
	for contractor, byKey := range found {
		for _, a := range byKey {
			sig := a.sig
			sig.Evidence.RelatedContractors = relatedNames(contractor, a.others)
			sig.Summary = fmt.Sprintf("%s is also used by %s", strings.Replace(sig.Key, ":", " ", 1),
				strings.Join(sig.Evidence.RelatedContractors, ", "))
			out[contractor] = append(out[contractor], sig)
		}
		sort.Slice(out[contractor], func(i, j int) bool { return out[contractor][i].Key < out[contractor][j].Key })
	}
	return out
}

// Prune forgets uses older than the window before now.
func (x *InfraIndex) Prune(now time.Time) {
	for key, users := range x.uses {
		for c, last := range users {
			if now.Sub(last) > x.window {
				delete(users, c)
			}
		}
		if len(users) == 0 {
			delete(x.uses, key)
		}
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// maxRelated is how many other contractors a finding names (the API's limit).
const maxRelated = 32

// relatedNames names the other contractors as a Finding of contractor's
// namespace refers to them: by name in the same namespace, as
// "namespace/name" in another.
func relatedNames(contractor string, others map[string]bool) []string {
	ns, _, _ := strings.Cut(contractor, "/")
	names := make([]string, 0, len(others))
	for o := range others {
		if ons, name, _ := strings.Cut(o, "/"); ons == ns {
			names = append(names, name)
		} else {
			names = append(names, o)
		}
	}
	sort.Strings(names)
	if len(names) > maxRelated {
		names = names[:maxRelated]
	}
	return names
}

func sharedSignal(key string, s SignIn) Signal {
	ev := accessv1alpha1.Evidence{}
	if what, value, _ := strings.Cut(key, ":"); what == "ip" {
		ev.IP, ev.Country, ev.ASN = value, accessv1alpha1.CountryCode(s.Country), int64(s.ASN)
	} else {
		ev.DeviceID = value
	}
	return Signal{Type: accessv1alpha1.FindingSharedInfrastructure, Severity: accessv1alpha1.SeverityHigh, Key: key,
		Evidence: ev, SeenAt: s.Time}
}
