package signals

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// signInID identifies a sign-in for duplicate detection: its time to the
// second (the precision the status keeps), address and device.
type signInID struct {
	unix       int64
	ip, device string
}

// newSignIns drops the sign-ins already in the contractor's recent list or
// repeated in the batch, and counts them as duplicates.
func newSignIns(c *accessv1alpha1.Contractor, signIns []SignIn, duplicates int) ([]SignIn, int) {
	var recent []accessv1alpha1.SignInRecord
	if c.Status.SignIns != nil {
		recent = c.Status.SignIns.Recent
	}
	seen := make(map[signInID]bool, len(recent)+len(signIns))
	for _, r := range recent {
		seen[signInID{r.Time.Unix(), r.IP, r.DeviceID}] = true
	}
	fresh := make([]SignIn, 0, len(signIns))
	for _, s := range signIns {
		id := signInID{s.Time.Unix(), s.IP.String(), s.DeviceID}
		if seen[id] {
			duplicates++
			continue
		}
		seen[id] = true
		fresh = append(fresh, s)
	}
	return fresh, duplicates
}

// history turns the contractor's recent sign-ins back into SignIns: all of
// them when all is set (the off-hours check and the index need them), else
// only those the impossible-travel check pairs with a new sign-in. Those —
// the nearest located sign-in before and after each new one — are looked
// up again for their anonymizer and coordinates; the others are marked
// unlocated.
func (in *Ingester) history(c *accessv1alpha1.Contractor, fresh []SignIn, all bool) []SignIn {
	s := c.Status.SignIns
	if s == nil || len(s.Recent) == 0 {
		return nil
	}
	// The list is kept newest first; record(i) reads it oldest first.
	recent := s.Recent
	newestFirst := func(a, b accessv1alpha1.SignInRecord) int { return b.Time.Compare(a.Time.Time) }
	if !slices.IsSortedFunc(recent, newestFirst) {
		recent = slices.Clone(recent)
		slices.SortStableFunc(recent, newestFirst)
	}
	n := len(recent)
	record := func(i int) *accessv1alpha1.SignInRecord { return &recent[n-1-i] }
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}.String()
	convert := func(i int) SignIn {
		r := record(i)
		addr, _ := netip.ParseAddr(r.IP)
		return SignIn{Contractor: key, Time: r.Time.Time, IP: addr, Country: string(r.Country), ASN: uint32(r.ASN),
			DeviceID: r.DeviceID, Timezone: r.Timezone, Locale: r.Locale, unlocated: true}
	}
	// picked holds the located neighbours of the new sign-ins by index;
	// checked the indexes looked up already.
	picked := map[int]SignIn{}
	checked := map[int]bool{}
	for _, f := range fresh {
		next := sort.Search(n, func(i int) bool { return !record(i).Time.Time.Before(f.Time) })
		for _, dir := range []int{-1, 1} {
			i := next
			if dir < 0 {
				i = next - 1
			}
			for ; i >= 0 && i < n && !checked[i]; i += dir {
				checked[i] = true
				if si := convert(i); in.locate(&si) {
					picked[i] = si
					break
				}
			}
		}
	}
	out := make([]SignIn, 0, len(picked))
	for i := range n {
		if si, ok := picked[i]; ok {
			out = append(out, si)
		} else if all {
			out = append(out, convert(i))
		}
	}
	return out
}

// locate looks a history sign-in up again and reports whether it places
// the contractor: it has a country and no anonymizer hides its origin.
func (in *Ingester) locate(s *SignIn) bool {
	if !s.IP.IsValid() || s.Country == "" {
		return false
	}
	g := in.enricher.Enrich(s.IP)
	s.Anonymizer = g.Anonymizer
	if g.HasLocation && g.Country == s.Country {
		s.Lat, s.Lon, s.HasLocation = g.Lat, g.Lon, true
	}
	if anonymizer(*s, in.opts.Lists) != "" {
		return false
	}
	s.unlocated = false
	return true
}

func profileOf(c *accessv1alpha1.Contractor) Profile {
	return Profile{ClaimedCountry: string(c.Spec.ClaimedLocation.Country), Timezone: c.Spec.ClaimedLocation.Timezone}
}

// ensureIndex rebuilds the shared-infrastructure index from the
// contractors' recent sign-ins the first time it is needed.
func (in *Ingester) ensureIndex(ctx context.Context, now time.Time) error {
	if in.index != nil {
		return nil
	}
	contractors, err := in.store.Contractors(ctx)
	if err != nil {
		return fmt.Errorf("listing contractors to rebuild the shared-infrastructure index: %w", err)
	}
	index := NewInfraIndex(in.opts.SharedWindow)
	for i := range contractors {
		index.Add(in.history(&contractors[i], nil, true))
	}
	index.Prune(now)
	in.index, in.lastPrune = index, now
	return nil
}
