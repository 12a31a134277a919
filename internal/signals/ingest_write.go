package signals

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// write stores each contractor's evidence, Workers contractors at a time:
// the Findings first, then the sign-in summary, so a failure in between
// leaves the sign-ins to be sent again rather than Findings missing.
func (in *Ingester) write(ctx context.Context, order []types.NamespacedName, batches map[types.NamespacedName]*batch,
	signals map[types.NamespacedName][]Signal, now time.Time, res *Result) error {
	var mu sync.Mutex
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(in.opts.Workers)
	for _, key := range order {
		g.Go(func() error {
			var counts Result
			err := in.writeFindings(ctx, key, signals[key], now, &counts)
			mu.Lock()
			res.FindingsCreated += counts.FindingsCreated
			res.FindingsUpdated += counts.FindingsUpdated
			mu.Unlock()
			if err != nil {
				return err
			}
			if b := batches[key]; b != nil && len(b.fresh) > 0 {
				return in.saveSignIns(ctx, b)
			}
			return nil
		})
	}
	return g.Wait()
}

// maxAttempts bounds the retries of a write that lost a race.
const maxAttempts = 5

// writeFindings creates or updates one Finding per signal of a contractor.
func (in *Ingester) writeFindings(ctx context.Context, key types.NamespacedName, signals []Signal, now time.Time, res *Result) error {
	if len(signals) == 0 {
		return nil
	}
	owned := -1
	for _, sig := range signals {
		created, updated, err := in.writeFinding(ctx, key, sig, now, &owned)
		if err != nil {
			return fmt.Errorf("writing the %s finding of contractor %s: %w", sig.Type, key, err)
		}
		if created {
			res.FindingsCreated++
		}
		if updated {
			res.FindingsUpdated++
		}
	}
	return nil
}

// writeFinding creates the signal's Finding, or merges the signal into it.
// owned counts the contractor's ingester Findings (-1 until counted), for
// the cap.
func (in *Ingester) writeFinding(ctx context.Context, key types.NamespacedName, sig Signal, now time.Time, owned *int) (created, updated bool, err error) {
	for attempt := 1; ; attempt++ {
		name := types.NamespacedName{Namespace: key.Namespace, Name: FindingName(key.Name, sig.Type, sig.Key)}
		existing, err := in.store.Finding(ctx, name, attempt > 1)
		if err != nil {
			return false, false, err
		}
		if existing == nil {
			over, err := in.overCap(ctx, key, sig, owned)
			if err != nil {
				return false, false, err
			}
			if over {
				sig = Overflow(sig, in.opts.MaxFindings)
				continue
			}
			err = in.store.CreateFinding(ctx, NewFinding(key.Namespace, key.Name, sig, now, in.opts.FindingTTL))
			if apierrors.IsAlreadyExists(err) && attempt < maxAttempts {
				continue
			}
			if err == nil && sig.Key != OverflowKey {
				*owned++
			}
			return err == nil, false, err
		}
		if existing.Spec.Source != sig.source() || existing.Spec.Type != sig.Type {
			return false, false, fmt.Errorf("finding %s exists and is not the ingester's %s finding: delete or rename it", name, sig.Type)
		}
		if !MergeFinding(existing, sig, now, in.opts.FindingTTL) {
			return false, false, nil
		}
		err = in.store.UpdateFinding(ctx, existing)
		if apierrors.IsConflict(err) && attempt < maxAttempts {
			continue
		}
		return false, err == nil, err
	}
}

// overCap reports whether a new Finding for sig would pass the contractor's
// cap; overflow Findings are outside it.
func (in *Ingester) overCap(ctx context.Context, key types.NamespacedName, sig Signal, owned *int) (bool, error) {
	if sig.Key == OverflowKey {
		return false, nil
	}
	if *owned < 0 {
		n, err := in.store.CountFindings(ctx, key)
		if err != nil {
			return false, err
		}
		*owned = n
	}
	return *owned >= in.opts.MaxFindings, nil
}

// saveSignIns adds the batch's new sign-ins to the contractor's summary,
// reading the contractor again when another writer changed it meanwhile.
func (in *Ingester) saveSignIns(ctx context.Context, b *batch) error {
	c := b.contractor
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	for attempt := 1; ; attempt++ {
		err := in.store.SaveSignIns(ctx, c, MergeSummary(c.Status.SignIns, b.fresh))
		if !apierrors.IsConflict(err) || attempt == maxAttempts {
			if err != nil {
				return fmt.Errorf("saving the sign-ins of contractor %s: %w", key, err)
			}
			return nil
		}
		if c, err = in.store.Contractor(ctx, key); err != nil {
			return fmt.Errorf("reading contractor %s again: %w", key, err)
		}
		if c == nil {
			return fmt.Errorf("contractor %s was deleted while its sign-ins were saved", key)
		}
		// Sign-ins stored by the other writer are not added twice.
		b.fresh, _ = newSignIns(c, b.fresh, 0)
		if len(b.fresh) == 0 {
			return nil
		}
	}
}

// Summary bounds.
const (
	maxRecent    = 50
	maxCountries = 64
)

// MergeSummary returns the summary with the new sign-ins added: the total,
// the latest time, the per-country counts (at most 64 countries: the least
// seen make room) and the 50 latest sign-ins, newest first.
func MergeSummary(old *accessv1alpha1.SignInSummary, fresh []SignIn) *accessv1alpha1.SignInSummary {
	s := &accessv1alpha1.SignInSummary{}
	var prior []accessv1alpha1.SignInRecord
	if old != nil {
		s.Total, s.LastSignInAt, s.Countries, prior = old.Total, old.LastSignInAt, old.Countries, old.Recent
	}
	s.Total += int64(len(fresh))
	added := make([]accessv1alpha1.SignInRecord, 0, len(fresh))
	for _, f := range fresh {
		if s.LastSignInAt == nil || f.Time.After(s.LastSignInAt.Time) {
			s.LastSignInAt = &metav1.Time{Time: f.Time}
		}
		added = append(added, accessv1alpha1.SignInRecord{Time: metav1.Time{Time: f.Time}, IP: f.IP.String(),
			Country: accessv1alpha1.CountryCode(f.Country), ASN: int64(f.ASN), DeviceID: f.DeviceID,
			Timezone: f.Timezone, Locale: f.Locale})
	}
	s.Countries = countCountries(s.Countries, added)
	s.Recent = latest(prior, added)
	return s
}

// countCountries adds the records' countries to the counts, keeping the
// most seen.
func countCountries(counts []accessv1alpha1.CountryCount, added []accessv1alpha1.SignInRecord) []accessv1alpha1.CountryCount {
	byCountry := make(map[accessv1alpha1.CountryCode]int64, len(counts)+1)
	for _, c := range counts {
		byCountry[c.Country] = c.Count
	}
	for _, r := range added {
		if r.Country != "" {
			byCountry[r.Country]++
		}
	}
	out := make([]accessv1alpha1.CountryCount, 0, len(byCountry))
	for c, n := range byCountry {
		out = append(out, accessv1alpha1.CountryCount{Country: c, Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Country < out[j].Country
	})
	return out[:min(len(out), maxCountries)]
}

// latest merges the prior recent sign-ins with the added ones and keeps
// the 50 newest, newest first.
func latest(prior, added []accessv1alpha1.SignInRecord) []accessv1alpha1.SignInRecord {
	newestFirst := func(a, b accessv1alpha1.SignInRecord) int { return b.Time.Compare(a.Time.Time) }
	slices.SortStableFunc(added, newestFirst)
	if !slices.IsSortedFunc(prior, newestFirst) {
		prior = slices.Clone(prior)
		slices.SortStableFunc(prior, newestFirst)
	}
	out := make([]accessv1alpha1.SignInRecord, 0, min(len(prior)+len(added), maxRecent))
	for i, j := 0, 0; len(out) < maxRecent && (i < len(prior) || j < len(added)); {
		if j == len(added) || (i < len(prior) && newestFirst(prior[i], added[j]) <= 0) {
			out = append(out, prior[i])
			i++
		} else {
			out = append(out, added[j])
			j++
		}
	}
	return out
}
