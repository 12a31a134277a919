package signals

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/clock"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// Store is where the ingester reads contractors and writes evidence. The
// Kubernetes store is in internal/ingest; benchmarks use one in memory.
type Store interface {
	// ContractorsByAccount returns the contractors that hold account id on
	// the named system.
	ContractorsByAccount(ctx context.Context, system, id string) ([]types.NamespacedName, error)
	// Contractor reads a contractor, never older than the store's own last
	// write to it; nil when it does not exist.
	Contractor(ctx context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error)
	// SaveSignIns writes a contractor's sign-in summary, failing with a
	// Conflict when the contractor changed since c was read.
	SaveSignIns(ctx context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error
	// Finding reads a Finding, from the API server itself when fresh; nil
	// when it does not exist.
	Finding(ctx context.Context, key types.NamespacedName, fresh bool) (*accessv1alpha1.Finding, error)
	// CountFindings counts the ingester's Findings of a contractor.
	CountFindings(ctx context.Context, contractor types.NamespacedName) (int, error)
	// CreateFinding and UpdateFinding write a Finding; they fail with
	// AlreadyExists and Conflict when another writer came first.
	CreateFinding(ctx context.Context, f *accessv1alpha1.Finding) error
	UpdateFinding(ctx context.Context, f *accessv1alpha1.Finding) error
	// Contractors lists every contractor with its status, to rebuild the
	// shared-infrastructure index after a restart.
	Contractors(ctx context.Context) ([]accessv1alpha1.Contractor, error)
}

// IngesterOptions are the ingester's settings.
type IngesterOptions struct {
	// Limits bound a request.
	Limits Limits
	// Lists are the correlators' reference lists.
	Lists Lists
	// FindingTTL is how long a Finding lives after its latest evidence;
	// default 30 days.
	FindingTTL time.Duration
	// MaxFindings caps the ingester's Findings per contractor; signals
	// beyond it go to one overflow Finding per type. Default 100.
	MaxFindings int
	// SharedWindow is how far apart two contractors' uses of an address or
	// device may be to count as shared; default 24 hours.
	SharedWindow time.Duration
	// Workers is how many contractors' evidence is written at once;
	// default 8.
	Workers int
	Clock   clock.PassiveClock
}

// DefaultIngesterOptions returns the defaults: the default limits, 30-day
// Findings, 100 a contractor, a 24-hour window, 8 workers, the real clock.
func DefaultIngesterOptions() IngesterOptions {
	return IngesterOptions{Limits: DefaultLimits(), FindingTTL: 30 * 24 * time.Hour, MaxFindings: 100,
		SharedWindow: 24 * time.Hour, Workers: 8, Clock: clock.RealClock{}}
}

func (o IngesterOptions) withDefaults() IngesterOptions {
	d := DefaultIngesterOptions()
	if o.Limits == (Limits{}) {
		o.Limits = d.Limits
	}
	if o.FindingTTL == 0 {
		o.FindingTTL = d.FindingTTL
	}
	if o.MaxFindings <= 0 {
		o.MaxFindings = d.MaxFindings
	}
	if o.SharedWindow <= 0 {
		o.SharedWindow = d.SharedWindow
	}
	if o.Workers <= 0 {
		o.Workers = d.Workers
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	o.Lists = o.Lists.withDefaults()
	return o
}

// Ingester turns batches of sign-in events into the contractors' sign-in
// summaries and deduplicated Findings. One batch is processed at a time;
// its contractors' writes run in parallel.
type Ingester struct {
	store    Store
	enricher *Enricher
	opts     IngesterOptions

	mu        sync.Mutex
	index     *InfraIndex
	lastPrune time.Time
}

// NewIngester returns an ingester over store. The enricher may be one
// without databases.
func NewIngester(store Store, enricher *Enricher, opts IngesterOptions) *Ingester {
	opts = opts.withDefaults()
	return &Ingester{store: store, enricher: enricher, opts: opts}
}

// Result says what became of a batch.
type Result struct {
	// Received is the number of events in the request.
	Received int `json:"received"`
	// Accepted events were stored; Duplicates were accepted before and are
	// not counted again.
	Accepted   int `json:"accepted"`
	Duplicates int `json:"duplicates"`
	// Rejected lists the refused events with their index and the reason.
	Rejected []Rejection `json:"rejected"`
	// NotEnriched counts the accepted events by fact that no database
	// could provide (country, asn, anonymizer).
	NotEnriched map[string]int `json:"notEnriched,omitempty"`
	// FindingsCreated and FindingsUpdated count the Finding writes.
	FindingsCreated int `json:"findingsCreated"`
	FindingsUpdated int `json:"findingsUpdated"`
}

// ErrBadRequest wraps a request that is not a batch of events at all.
var ErrBadRequest = errors.New("bad request")

// Ingest parses, validates, enriches and correlates a batch, and writes the
// Findings and sign-in summaries. Bad events are rejected one by one and
// the others kept. An error wrapping ErrBadRequest means the body was not
// a batch of events; any other error means a write failed part way, and
// sending the same batch again is safe: events already stored are
// recognised and nothing is counted twice.
func (in *Ingester) Ingest(ctx context.Context, body []byte) (Result, error) {
	return in.IngestFrom(ctx, bytes.NewReader(body))
}

// IngestFrom is Ingest over a stream: the events are decoded one at a time
// (see Decode), before the batch waits for the ingester, so a body is
// never held whole. An error reading r, such as *http.MaxBytesError, is
// returned wrapped in ErrBadRequest.
func (in *Ingester) IngestFrom(ctx context.Context, r io.Reader) (Result, error) {
	now := in.opts.Clock.Now()
	valid, rejected, err := Decode(r, now, in.opts.Limits)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	res := Result{Received: len(valid) + len(rejected), Rejected: append([]Rejection{}, rejected...)}
	in.mu.Lock()
	defer in.mu.Unlock()
	if err := in.ensureIndex(ctx, now); err != nil {
		return res, err
	}
	batches, order, err := in.resolve(ctx, valid, &res)
	if err != nil {
		return res, err
	}
	sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Index < res.Rejected[j].Index })

	signals := map[types.NamespacedName][]Signal{}
	var fresh []SignIn
	for _, key := range order {
		b := batches[key]
		b.fresh, res.Duplicates = newSignIns(b.contractor, b.signIns, res.Duplicates)
		res.Accepted += len(b.fresh)
		profile := profileOf(b.contractor)
		history := in.history(b.contractor, b.fresh, profile.Timezone != "")
		signals[key] = Correlate(profile, history, b.fresh, in.opts.Lists)
		fresh = append(fresh, b.fresh...)
	}
	for contractor, shared := range in.index.Observe(fresh, in.opts.Lists) {
		key, _ := ParseKey(contractor) // the index holds the keys of SignIns
		if _, ok := signals[key]; !ok {
			order = append(order, key)
		}
		signals[key] = append(signals[key], shared...)
	}
	if err := in.write(ctx, order, batches, signals, now, &res); err != nil {
		return res, err
	}
	if now.Sub(in.lastPrune) > in.opts.SharedWindow/24 {
		in.index.Prune(now)
		in.lastPrune = now
	}
	return res, nil
}

// batch is one contractor's events in a request.
type batch struct {
	contractor *accessv1alpha1.Contractor
	signIns    []SignIn
	fresh      []SignIn
}

// resolve maps each valid event to its contractor, read once per
// contractor, and enriches it; events naming no contractor are rejected.
// Only a failing store fails the batch, never what an event says.
func (in *Ingester) resolve(ctx context.Context, valid []Valid, res *Result) (map[types.NamespacedName]*batch, []types.NamespacedName, error) {
	batches := map[types.NamespacedName]*batch{}
	refused := map[types.NamespacedName]string{}
	accounts := map[AccountRef]owner{}
	var order []types.NamespacedName
	for _, v := range valid {
		key, reason, err := in.subject(ctx, v.Event, accounts)
		if err != nil {
			return nil, nil, err
		}
		b := batches[key]
		if reason == "" && b == nil {
			if reason = refused[key]; reason == "" {
				var c *accessv1alpha1.Contractor
				if c, reason, err = in.contractor(ctx, key); err != nil {
					return nil, nil, err
				}
				if reason != "" {
					refused[key] = reason
				} else {
					b = &batch{contractor: c}
					batches[key] = b
					order = append(order, key)
				}
			}
		}
		if reason != "" {
			res.Rejected = append(res.Rejected, Rejection{Index: v.Index, Error: reason})
			continue
		}
		b.signIns = append(b.signIns, in.enrich(key, v, res))
	}
	return batches, order, nil
}

// contractor reads the contractor an event names; reason says why there
// is none to take the event.
func (in *Ingester) contractor(ctx context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, string, error) {
	c, err := in.store.Contractor(ctx, key)
	switch {
	case refusedKey(err):
		return nil, fmt.Sprintf("contractor %s cannot be read: %v", key, err), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading contractor %s: %w", key, err)
	case c == nil:
		return nil, fmt.Sprintf("contractor %s does not exist", key), nil
	}
	return c, "", nil
}

// refusedKey reports whether the API server refused a read as malformed:
// the fault of the event that named the object, not of the store.
func refusedKey(err error) bool { return apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) }

// owner is the contractor an account resolved to, or why it resolved to
// none.
type owner struct {
	key    types.NamespacedName
	reason string
}

// subject finds the contractor an event is about; reason says why it
// names none. accounts remembers the batch's account lookups, so a batch
// of one account's events looks it up once.
func (in *Ingester) subject(ctx context.Context, e Event, accounts map[AccountRef]owner) (types.NamespacedName, string, error) {
	if e.Account == nil {
		key, _ := ParseKey(e.Contractor) // Parse checked it
		return key, "", nil
	}
	if o, ok := accounts[*e.Account]; ok {
		return o.key, o.reason, nil
	}
	keys, err := in.store.ContractorsByAccount(ctx, e.Account.System, e.Account.ID)
	if err != nil && !refusedKey(err) {
		return types.NamespacedName{}, "", fmt.Errorf("looking up account %q on %q: %w", e.Account.ID, e.Account.System, err)
	}
	var o owner
	switch {
	case err != nil:
		o.reason = fmt.Sprintf("account %q on system %q cannot be looked up: %v", e.Account.ID, e.Account.System, err)
	case len(keys) == 0:
		o.reason = fmt.Sprintf("no contractor has account %q on system %q", e.Account.ID, e.Account.System)
	case len(keys) == 1:
		o.key = keys[0]
	default:
		names := make([]string, len(keys))
		for i, k := range keys {
			names[i] = k.String()
		}
		slices.Sort(names)
		o.reason = fmt.Sprintf("account %q on system %q belongs to %d contractors (%s): name the contractor instead",
			e.Account.ID, e.Account.System, len(keys), strings.Join(names, ", "))
	}
	accounts[*e.Account] = o
	return o.key, o.reason, nil
}

func (in *Ingester) enrich(key types.NamespacedName, v Valid, res *Result) SignIn {
	g := in.enricher.Enrich(v.Addr)
	for _, m := range g.Missing {
		if res.NotEnriched == nil {
			res.NotEnriched = map[string]int{}
		}
		res.NotEnriched[m]++
	}
	return SignIn{Contractor: key.String(), Time: v.Event.Time, IP: v.Addr, Country: g.Country, City: g.City,
		ASN: g.ASN, ASOrg: g.ASOrg, Lat: g.Lat, Lon: g.Lon, HasLocation: g.HasLocation, Anonymizer: g.Anonymizer,
		DeviceID: v.Event.DeviceID, UserAgent: v.Event.UserAgent, Locale: v.Event.Locale, Timezone: v.Event.Timezone}
}

// ParseKey parses "namespace/name"; false when CheckKey finds it wrong.
func ParseKey(s string) (types.NamespacedName, bool) {
	key, err := CheckKey(s)
	return key, err == nil
}

// CheckKey parses "namespace/name" and says what is wrong with it: a
// missing part, or a namespace that is no DNS-1123 label or a name that is
// no DNS-1123 subdomain, which no namespaced object can have. So a key
// such as "../etc" never reaches a cache or the API server.
func CheckKey(s string) (types.NamespacedName, error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, errors.New("want two parts separated by a slash")
	}
	if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("the namespace is not a valid namespace name: %s", strings.Join(msgs, "; "))
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return types.NamespacedName{}, fmt.Errorf("the name is not a valid object name: %s", strings.Join(msgs, "; "))
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

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
			DeviceID: r.DeviceID, unlocated: true}
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
	return Profile{ClaimedCountry: string(c.Spec.ClaimedLocation.Country), Timezone: c.Spec.ClaimedLocation.Timezone,
		TravelNotices: c.Spec.TravelNotices}
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
		index.Add(in.history(&contractors[i], nil, true), in.opts.Lists)
	}
	index.Prune(now)
	in.index, in.lastPrune = index, now
	return nil
}

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
		if existing.Spec.Source != Source || existing.Spec.Type != sig.Type {
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
			Country: accessv1alpha1.CountryCode(f.Country), ASN: int64(f.ASN), DeviceID: f.DeviceID})
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
