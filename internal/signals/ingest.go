package signals

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
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

// AddCounts folds another batch's counts into r. Rejections are left to the
// caller: their indexes are the other batch's.
func (r *Result) AddCounts(other Result) {
	r.Received += other.Received
	r.Accepted += other.Accepted
	r.Duplicates += other.Duplicates
	r.FindingsCreated += other.FindingsCreated
	r.FindingsUpdated += other.FindingsUpdated
	for k, n := range other.NotEnriched {
		if r.NotEnriched == nil {
			r.NotEnriched = map[string]int{}
		}
		r.NotEnriched[k] += n
	}
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
	for contractor, shared := range in.index.Observe(fresh) {
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
