package offline

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/kube"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// SignInStore is a signals.Store over Resources, so that the manager's
// ingester runs unchanged without a cluster: sign-in summaries go to the
// contractors' status, Findings are created and updated among the
// resources' Findings. Writes carry resource versions, as in the API
// server, so a stale copy fails with a Conflict.
type SignInStore struct {
	mu          sync.Mutex
	res         *Resources
	contractors map[types.NamespacedName]int
	accounts    map[string][]types.NamespacedName
	// folded holds the accounts by foldKey.
	folded   map[string][]types.NamespacedName
	findings map[types.NamespacedName]int
	version  int
}

var _ signals.Store = (*SignInStore)(nil)

var (
	contractorsResource = schema.GroupResource{Group: accessv1alpha1.GroupVersion.Group, Resource: "contractors"}
	findingsResource    = schema.GroupResource{Group: accessv1alpha1.GroupVersion.Group, Resource: "findings"}
)

// NewSignInStore returns a store over res. Nothing may add contractors to
// res while the store is in use.
func NewSignInStore(res *Resources) *SignInStore {
	s := &SignInStore{res: res, contractors: map[types.NamespacedName]int{},
		accounts: map[string][]types.NamespacedName{}, folded: map[string][]types.NamespacedName{}, findings: map[types.NamespacedName]int{}}
	for i, c := range res.Contractors {
		key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
		s.contractors[key] = i
		for _, a := range c.Spec.Accounts {
			s.accounts[accountKey(a.System, a.ID)] = append(s.accounts[accountKey(a.System, a.ID)], key)
			s.folded[foldKey(a.System, a.ID)] = append(s.folded[foldKey(a.System, a.ID)], key)
		}
	}
	for i, f := range res.Findings {
		s.findings[types.NamespacedName{Namespace: f.Namespace, Name: f.Name}] = i
	}
	return s
}

func accountKey(system, id string) string { return system + "/" + id }

func foldKey(system, id string) string { return system + "/" + kube.FoldID(id) }

func (s *SignInStore) bump() string { s.version++; return "offline-" + strconv.Itoa(s.version) }

// ContractorsByAccount returns the contractors that hold the account: in
// any case when the system in the files is an identity provider, whose
// account ids ignore case (two contractors listing one login in two cases
// are both returned), else as written.
func (s *SignInStore) ContractorsByAccount(_ context.Context, system, id string) ([]types.NamespacedName, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sys := range s.res.Systems {
		if sys.Name == system && sys.Spec.Type.AccountsIgnoreCase() {
			return slices.Clone(s.folded[foldKey(system, id)]), nil
		}
	}
	return slices.Clone(s.accounts[accountKey(system, id)]), nil
}

// Contractor returns a copy of a contractor; nil when there is none.
func (s *SignInStore) Contractor(_ context.Context, key types.NamespacedName) (*accessv1alpha1.Contractor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.contractors[key]
	if !ok {
		return nil, nil
	}
	return s.res.Contractors[i].DeepCopy(), nil
}

// SaveSignIns sets the contractor's status.signIns, failing with a Conflict
// when the contractor changed since c was read.
func (s *SignInStore) SaveSignIns(_ context.Context, c *accessv1alpha1.Contractor, summary *accessv1alpha1.SignInSummary) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.contractors[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}]
	if !ok {
		return apierrors.NewNotFound(contractorsResource, c.Name)
	}
	cur := &s.res.Contractors[i]
	if cur.ResourceVersion != c.ResourceVersion {
		return apierrors.NewConflict(contractorsResource, c.Name, fmt.Errorf("the contractor changed"))
	}
	cur.Status.SignIns = summary.DeepCopy()
	cur.ResourceVersion = s.bump()
	c.Status.SignIns = summary
	c.ResourceVersion = cur.ResourceVersion
	return nil
}

// Finding returns a copy of a Finding; nil when there is none.
func (s *SignInStore) Finding(_ context.Context, key types.NamespacedName, _ bool) (*accessv1alpha1.Finding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findings[key]
	if !ok {
		return nil, nil
	}
	return s.res.Findings[i].DeepCopy(), nil
}

// CountFindings counts the ingester's Findings of a contractor, overflow
// Findings aside.
func (s *SignInStore) CountFindings(_ context.Context, contractor types.NamespacedName) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.res.Findings {
		if f.Namespace == contractor.Namespace && f.Spec.ContractorRef.Name == contractor.Name &&
			f.Labels[signals.LabelSource] == signals.SourceValue && f.Spec.Key != signals.OverflowKey {
			n++
		}
	}
	return n, nil
}

// CreateFinding adds a Finding, failing with AlreadyExists when one of the
// name exists.
func (s *SignInStore) CreateFinding(_ context.Context, f *accessv1alpha1.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := types.NamespacedName{Namespace: f.Namespace, Name: f.Name}
	if _, ok := s.findings[key]; ok {
		return apierrors.NewAlreadyExists(findingsResource, f.Name)
	}
	f.APIVersion, f.Kind = accessv1alpha1.GroupVersion.String(), "Finding"
	f.ResourceVersion = s.bump()
	s.findings[key] = len(s.res.Findings)
	s.res.Findings = append(s.res.Findings, *f.DeepCopy())
	return nil
}

// UpdateFinding replaces a Finding, failing with a Conflict when it changed
// since f was read.
func (s *SignInStore) UpdateFinding(_ context.Context, f *accessv1alpha1.Finding) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.findings[types.NamespacedName{Namespace: f.Namespace, Name: f.Name}]
	if !ok {
		return apierrors.NewNotFound(findingsResource, f.Name)
	}
	if s.res.Findings[i].ResourceVersion != f.ResourceVersion {
		return apierrors.NewConflict(findingsResource, f.Name, fmt.Errorf("the finding changed"))
	}
	f.ResourceVersion = s.bump()
	s.res.Findings[i] = *f.DeepCopy()
	return nil
}

// Contractors returns copies of every contractor.
func (s *SignInStore) Contractors(context.Context) ([]accessv1alpha1.Contractor, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]accessv1alpha1.Contractor, len(s.res.Contractors))
	for i := range s.res.Contractors {
		s.res.Contractors[i].DeepCopyInto(&out[i])
	}
	return out, nil
}

// SignInFile is a file of sign-in events, a JSON array or NDJSON, as POST
// /v1/signins takes it.
type SignInFile struct {
	Name string
	Body []byte
}

// SignInOptions configure IngestSignIns.
type SignInOptions struct {
	// Enricher adds countries, networks and anonymizers; one without
	// databases, or nil, adds nothing.
	Enricher *signals.Enricher
	// Lists are the correlators' reference lists, from the policy data.
	Lists signals.Lists
	// Now is the ingester's clock for every batch.
	Now time.Time
}

// SignInRejection is an event the ingester refused, by file and index.
type SignInRejection struct {
	File  string
	Index int
	Error string
	file  int // the file's place among the files, to sort by
}

// SignInReport sums up the ingestion of the files.
type SignInReport struct {
	// Result totals the batches; its Rejected is empty, see Rejections.
	signals.Result
	// Rejections are the refused events, by file and index in the file.
	Rejections []SignInRejection
}

// eventRef is one event of a file, where it came from and its time.
type eventRef struct {
	file, index int
	time        time.Time
	raw         []byte
}

// IngestSignIns runs the events of the files through the manager's ingester
// over the resources, which gain the Findings and the contractors' sign-in
// summaries. The ingester's clock stands still at opts.Now, which is what a
// manager running at that time would see when the files were sent to it:
// events more than 30 days before it or 5 minutes after are rejected, and
// Findings expire 30 days after it. The events of all files go in order of
// their time (events without a readable time first, for the parser to
// reject), in batches of the endpoint's largest request, so a file split
// over several batches is correlated as one. Rejected events are reported
// and the others kept; an error means a file is not a batch of events.
func (r *Resources) IngestSignIns(ctx context.Context, files []SignInFile, opts SignInOptions) (SignInReport, error) {
	events, err := splitSignIns(files)
	if err != nil {
		return SignInReport{}, err
	}
	if opts.Enricher == nil {
		if opts.Enricher, err = signals.OpenEnricher(signals.EnricherOptions{}); err != nil {
			return SignInReport{}, err
		}
	}
	iopts := signals.DefaultIngesterOptions()
	iopts.Lists, iopts.Clock = opts.Lists, fixedClock(opts.Now)
	in := signals.NewIngester(NewSignInStore(r), opts.Enricher, iopts)
	var report SignInReport
	for start := 0; start < len(events); start += iopts.Limits.MaxEvents {
		batch := events[start:min(start+iopts.Limits.MaxEvents, len(events))]
		res, err := in.Ingest(ctx, ndjson(batch))
		if err != nil {
			return report, fmt.Errorf("ingesting sign-ins: %w", err)
		}
		report.add(res, batch, files)
	}
	slices.SortFunc(report.Rejections, func(a, b SignInRejection) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.Index, b.Index))
	})
	return report, nil
}

// splitSignIns cuts every file into events and sorts them by time, stably.
func splitSignIns(files []SignInFile) ([]eventRef, error) {
	var events []eventRef
	for fi, f := range files {
		raw, err := signals.Split(f.Body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		for i, e := range raw {
			events = append(events, eventRef{file: fi, index: i, time: eventTime(e), raw: compact(e)})
		}
	}
	slices.SortStableFunc(events, func(a, b eventRef) int { return a.time.Compare(b.time) })
	return events, nil
}

// eventTime is an event's time, zero when it has none that can be read.
func eventTime(raw []byte) time.Time {
	var e struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(raw, &e) != nil {
		return time.Time{}
	}
	return e.Time
}

// compact puts an event on one line, as NDJSON needs; an event that is not
// JSON is already one line of an NDJSON file.
func compact(raw []byte) []byte {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}

func ndjson(events []eventRef) []byte {
	var b bytes.Buffer
	for _, e := range events {
		b.Write(e.raw)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// add folds a batch's result into the report, with the rejections named
// by file and index in the file.
func (r *SignInReport) add(res signals.Result, batch []eventRef, files []SignInFile) {
	r.AddCounts(res)
	for _, rej := range res.Rejected {
		e := batch[rej.Index]
		r.Rejections = append(r.Rejections, SignInRejection{File: files[e.file].Name, Index: e.index, Error: rej.Error, file: e.file})
	}
}

// fixedClock is a clock that stands still.
type fixedClock time.Time

func (c fixedClock) Now() time.Time                  { return time.Time(c) }
func (c fixedClock) Since(t time.Time) time.Duration { return time.Time(c).Sub(t) }
