package signals

import (
	"fmt"
	"net/netip"
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
	// uses maps an address or device to contractor to last use.
	uses map[infraKey]map[string]time.Time
}

// infraKey is an address (device empty) or a device (addr invalid).
type infraKey struct {
	addr   netip.Addr
	device string
}

// String is the key as Findings show it: "ip:<addr>" or "device:<id>".
func (k infraKey) String() string {
	if k.device != "" {
		return "device:" + k.device
	}
	return "ip:" + k.addr.String()
}

// NewInfraIndex returns an empty index that pairs uses at most window apart.
func NewInfraIndex(window time.Duration) *InfraIndex {
	return &InfraIndex{window: window, uses: map[infraKey]map[string]time.Time{}}
}

// Len is the number of addresses and devices in the index.
func (x *InfraIndex) Len() int { return len(x.uses) }

// infraKeys are the index keys of a sign-in: its address and its device.
// Addresses shared by design (the company's egress, carrier-grade NAT)
// are observed all the same; the policies set them aside.
func infraKeys(s SignIn) []infraKey {
	keys := make([]infraKey, 0, 2)
	if s.IP.IsValid() {
		keys = append(keys, infraKey{addr: s.IP})
	}
	if s.DeviceID != "" {
		keys = append(keys, infraKey{device: s.DeviceID})
	}
	return keys
}

// Add records sign-ins without correlating them, as when the index is
// rebuilt.
func (x *InfraIndex) Add(signIns []SignIn) {
	for _, s := range signIns {
		for _, k := range infraKeys(s) {
			x.record(k, s)
		}
	}
}

func (x *InfraIndex) record(key infraKey, s SignIn) {
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
// their new sign-ins on it; when they are new to the address or device,
// each other contractor gets one naming them, with a count of 0. So an
// address shared by many (a NAT that is no listed corporate egress) costs
// one signal per sign-in, not one per contractor behind it, and a newcomer
// is announced to at most maxRelated of the others.
func (x *InfraIndex) Observe(fresh []SignIn) map[string][]Signal {
	found := sharedFound{}
	for _, s := range fresh {
		for _, key := range infraKeys(s) {
			x.observe(found, key, s)
			x.record(key, s)
		}
	}
	return found.signals()
}

// observe pairs a new sign-in on key with the other contractors who used
// key within the window.
func (x *InfraIndex) observe(found sharedFound, key infraKey, s SignIn) {
	users := x.uses[key]
	last, seen := users[s.Contractor]
	announce := !seen || absDuration(s.Time.Sub(last)) > x.window
	var others []string
	for other, last := range users {
		if other == s.Contractor || absDuration(s.Time.Sub(last)) > x.window {
			continue
		}
		if len(others) == maxRelated {
			break
		}
		others = append(others, other)
		if announce {
			found.add(other, key, s, []string{s.Contractor}, 0)
		}
	}
	if len(others) > 0 {
		found.add(s.Contractor, key, s, others, 1)
	}
}

// sharedFound accumulates shared-infrastructure signals by contractor and key.
type sharedFound map[string]map[infraKey]*sharedAcc

type sharedAcc struct {
	sig    Signal
	others map[string]bool
}

func (found sharedFound) add(contractor string, key infraKey, s SignIn, others []string, count int64) {
	byKey := found[contractor]
	if byKey == nil {
		byKey = map[infraKey]*sharedAcc{}
		found[contractor] = byKey
	}
	a := byKey[key]
	if a == nil {
		a = &sharedAcc{sig: sharedSignal(key, s), others: map[string]bool{}}
		byKey[key] = a
	}
	for _, o := range others {
		if len(a.others) < maxRelated {
			a.others[o] = true
		}
	}
	if count > 0 {
		a.sig.FirstSeen = earliest(a.sig.FirstSeen, s.Time)
		a.sig.Count += count
	}
	if s.Time.After(a.sig.SeenAt) {
		a.sig.SeenAt = s.Time
	}
}

// signals renders the accumulated signals, each contractor's by key.
func (found sharedFound) signals() map[string][]Signal {
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

// relatedNames names the other contractors (at most maxRelated, as add
// collects them) as a Finding of contractor's
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
	return names
}

func sharedSignal(key infraKey, s SignIn) Signal {
	ev := accessv1alpha1.Evidence{DeviceID: key.device}
	if key.device == "" {
		ev.IP, ev.Country, ev.ASN = key.addr.String(), accessv1alpha1.CountryCode(s.Country), int64(s.ASN)
	}
	return Signal{Type: accessv1alpha1.FindingSharedInfrastructure, Severity: Observed, Key: key.String(),
		Evidence: ev, SeenAt: s.Time}
}
