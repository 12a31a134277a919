package manager

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/portcullis-dev/portcullis/internal/ingest"
	"github.com/portcullis-dev/portcullis/internal/metrics"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// IngestOptions configure the sign-in endpoint, the enrichment databases
// and the Findings the ingester writes.
type IngestOptions struct {
	// Addr is the endpoint's listen address; "0" or "" turns it off.
	Addr string
	// TokenSecret is "namespace/name" of the Secret whose values are the
	// accepted bearer tokens.
	TokenSecret string
	// TLSCertFile and TLSKeyFile serve the endpoint over TLS.
	TLSCertFile, TLSKeyFile string
	// MaxBodyBytes and MaxEvents bound one request.
	MaxBodyBytes int64
	MaxEvents    int
	// MaxConcurrentRequests and MaxInflightBytes bound the requests served
	// at once; Rate (0: no limit) and Burst bound each token's requests.
	// See ingest.Server.
	MaxConcurrentRequests int
	MaxInflightBytes      int64
	Rate                  float64
	Burst                 int
	// BodyTimeout bounds the reading of an admitted request's body.
	BodyTimeout time.Duration
	// Enricher names the GeoIP databases and the Tor exit list.
	Enricher signals.EnricherOptions
	// FindingTTL, MaxFindings and SharedWindow: see signals.IngesterOptions.
	FindingTTL   time.Duration
	MaxFindings  int
	SharedWindow time.Duration
}

// DefaultIngestOptions returns the endpoint turned off and the pipeline's
// defaults.
func DefaultIngestOptions() IngestOptions {
	d := signals.DefaultIngesterOptions()
	return IngestOptions{
		Addr:                  "0",
		MaxBodyBytes:          ingest.DefaultMaxBodyBytes,
		MaxEvents:             d.Limits.MaxEvents,
		MaxConcurrentRequests: ingest.DefaultMaxConcurrentRequests,
		MaxInflightBytes:      ingest.DefaultMaxInflightBytes,
		Rate:                  ingest.DefaultRate,
		Burst:                 ingest.DefaultBurst,
		BodyTimeout:           ingest.DefaultBodyTimeout,
		FindingTTL:            d.FindingTTL,
		MaxFindings:           d.MaxFindings,
		SharedWindow:          d.SharedWindow,
	}
}

// BindFlags registers the options as flags on fs.
func (o *IngestOptions) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Addr, "ingest-bind-address", o.Addr,
		"Address of the sign-in endpoint (POST /v1/signins); every replica listens, the leader ingests, the others answer 503 to retry. \"0\" turns it off. Needs --ingest-token-secret.")
	fs.StringVar(&o.TokenSecret, "ingest-token-secret", o.TokenSecret,
		"namespace/name of the Secret whose values are the bearer tokens the sign-in endpoint accepts (read again every 10 s).")
	fs.StringVar(&o.TLSCertFile, "ingest-tls-cert-file", o.TLSCertFile,
		"PEM certificate of the sign-in endpoint; with --ingest-tls-key-file it serves HTTPS.")
	fs.StringVar(&o.TLSKeyFile, "ingest-tls-key-file", o.TLSKeyFile,
		"PEM private key of the sign-in endpoint's certificate.")
	fs.Int64Var(&o.MaxBodyBytes, "ingest-max-body-bytes", o.MaxBodyBytes,
		"Largest request body the sign-in endpoint reads; larger ones get 413.")
	fs.IntVar(&o.MaxEvents, "ingest-max-events", o.MaxEvents,
		"Most events in one sign-in request; more get 413.")
	fs.IntVar(&o.MaxConcurrentRequests, "ingest-max-concurrent-requests", o.MaxConcurrentRequests, fmt.Sprintf(
		"Most sign-in requests read or ingested at once; one token holds at most a quarter of them (at least one). Others wait up to %s for a slot, the smallest body of the least busy token first, then get 503 with Retry-After.", ingest.DefaultAdmissionWait))
	fs.Int64Var(&o.MaxInflightBytes, "ingest-max-inflight-bytes", o.MaxInflightBytes, fmt.Sprintf(
		"Most request-body bytes the sign-in endpoint holds at once, across requests (a request counts its Content-Length, or --ingest-max-body-bytes without one); at least --ingest-max-body-bytes. Requests beyond it wait up to %s, then get 503 with Retry-After.", ingest.DefaultAdmissionWait))
	fs.Float64Var(&o.Rate, "ingest-rate", o.Rate,
		"Sign-in requests per second that each bearer token may send on average; more get 429 with Retry-After. 0 turns the limit off.")
	fs.DurationVar(&o.BodyTimeout, "ingest-body-timeout", o.BodyTimeout,
		"How long an admitted sign-in request may take to send its body; a slower one gets 408 and gives its slot back.")
	fs.IntVar(&o.Burst, "ingest-burst", o.Burst,
		"Sign-in requests that each bearer token may send at once, above --ingest-rate.")
	fs.StringVar(&o.Enricher.CountryDB, "geoip-country-db", o.Enricher.CountryDB,
		"MaxMind-format country database (GeoIP2/GeoLite2 Country or City, or ip-location-db's country mmdb); without it sign-ins have no country.")
	fs.StringVar(&o.Enricher.ASNDB, "geoip-asn-db", o.Enricher.ASNDB,
		"MaxMind-format ASN database (GeoLite2-ASN layout); without it sign-ins have no ASN.")
	fs.StringVar(&o.Enricher.AnonymousDB, "geoip-anonymous-db", o.Enricher.AnonymousDB,
		"MaxMind GeoIP2 Anonymous IP database: VPN, hosting, public and residential proxy and Tor flags.")
	fs.StringVar(&o.Enricher.TorExitList, "tor-exit-list", o.Enricher.TorExitList,
		"File of Tor exit addresses, one a line (# comments), e.g. https://check.torproject.org/torbulkexitlist.")
	fs.DurationVar(&o.FindingTTL, "finding-ttl", o.FindingTTL,
		"How long an ingested Finding lives after its latest evidence; each repeat extends it.")
	fs.IntVar(&o.MaxFindings, "findings-per-contractor", o.MaxFindings,
		"Most ingested Findings per contractor; evidence beyond it goes to one overflow Finding per type.")
	fs.DurationVar(&o.SharedWindow, "shared-infrastructure-window", o.SharedWindow,
		"How far apart two contractors' uses of one IP address or device may be to count as shared infrastructure.")
}

func (o IngestOptions) enabled() bool { return o.Addr != "" && o.Addr != "0" }

// checkLimits validates the endpoint's limits.
func (o IngestOptions) checkLimits() error {
	switch {
	case o.MaxBodyBytes < 1:
		return fmt.Errorf("--ingest-max-body-bytes %d must be at least 1", o.MaxBodyBytes)
	case o.MaxConcurrentRequests < 1:
		return fmt.Errorf("--ingest-max-concurrent-requests %d must be at least 1", o.MaxConcurrentRequests)
	case o.MaxInflightBytes < o.MaxBodyBytes:
		return fmt.Errorf("--ingest-max-inflight-bytes %d must be at least --ingest-max-body-bytes %d", o.MaxInflightBytes, o.MaxBodyBytes)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return fmt.Errorf("--ingest-rate %g must be a number of requests a second, or 0 for no limit", o.Rate)
	case o.Burst < 1:
		return fmt.Errorf("--ingest-burst %d must be at least 1", o.Burst)
	case o.BodyTimeout <= 0:
		return fmt.Errorf("--ingest-body-timeout %s must be positive", o.BodyTimeout)
	}
	return nil
}

// serverRate is Rate as ingest.Server takes it: negative for no limit.
func (o IngestOptions) serverRate() float64 {
	if o.Rate == 0 {
		return -1
	}
	return o.Rate
}

// secret parses TokenSecret.
func (o IngestOptions) secret() (types.NamespacedName, error) {
	key, ok := signals.ParseKey(o.TokenSecret)
	if !ok {
		return key, fmt.Errorf("--ingest-token-secret %q must be namespace/name", o.TokenSecret)
	}
	return key, nil
}

// Pipeline is the manager's one sign-in pipeline, which the endpoint and
// the SignInSources share: one ingester, so that its batches never race
// each other and its shared-infrastructure index sees every sign-in.
type Pipeline struct {
	Ingester *signals.Ingester
	Enricher *signals.Enricher
}

// NewPipeline builds the sign-in pipeline over mgr's cache and client,
// with the correlators' lists from the policy data and the enrichment
// databases of opts.Ingest. mgr needs the field indexes of
// kube.SetupIndexes.
func NewPipeline(mgr ctrl.Manager, opts Options, clk clock.PassiveClock) (*Pipeline, error) {
	o := opts.Ingest
	data, err := opts.PolicyData()
	if err != nil {
		return nil, err
	}
	lists, err := signals.ListsFromData(data)
	if err != nil {
		return nil, err
	}
	enricher, err := signals.OpenEnricher(o.Enricher)
	if err != nil {
		return nil, err
	}
	limits := signals.DefaultLimits()
	limits.MaxEvents = o.MaxEvents
	ingester := signals.NewIngester(ingest.NewStore(mgr.GetClient(), mgr.GetAPIReader()), enricher,
		signals.IngesterOptions{Limits: limits, Lists: lists, FindingTTL: o.FindingTTL, MaxFindings: o.MaxFindings,
			SharedWindow: o.SharedWindow, Clock: clk})
	return &Pipeline{Ingester: ingester, Enricher: enricher}, nil
}

// setupIngest adds the sign-in endpoint to mgr when it is configured.
func setupIngest(mgr ctrl.Manager, opts Options, p *Pipeline, ropts ReconcilerOptions) error {
	if !opts.Ingest.enabled() {
		return nil
	}
	srv, err := newIngestServer(mgr, opts, p, ropts.Clock, ropts.Metrics)
	if err != nil {
		return err
	}
	return mgr.Add(srv)
}

// NewIngestServer builds the sign-in endpoint of opts.Ingest over a
// pipeline of its own (see NewPipeline). m may be nil.
func NewIngestServer(mgr ctrl.Manager, opts Options, clk clock.PassiveClock, m *metrics.Metrics) (*ingest.Server, error) {
	p, err := NewPipeline(mgr, opts, clk)
	if err != nil {
		return nil, err
	}
	return newIngestServer(mgr, opts, p, clk, m)
}

// newIngestServer builds the sign-in endpoint of opts.Ingest over p.
func newIngestServer(mgr ctrl.Manager, opts Options, p *Pipeline, clk clock.PassiveClock, m *metrics.Metrics) (*ingest.Server, error) {
	o := opts.Ingest
	if o.TokenSecret == "" {
		return nil, errors.New("--ingest-bind-address needs --ingest-token-secret: the Secret whose values are the accepted tokens")
	}
	secret, err := o.secret()
	if err != nil {
		return nil, err
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return nil, errors.New("set both --ingest-tls-cert-file and --ingest-tls-key-file, or neither")
	}
	if err := o.checkLimits(); err != nil {
		return nil, err
	}
	return &ingest.Server{
		Addr: o.Addr, CertFile: o.TLSCertFile, KeyFile: o.TLSKeyFile, Ingester: p.Ingester, Enricher: p.Enricher,
		MaxBodyBytes: o.MaxBodyBytes, MaxConcurrentRequests: o.MaxConcurrentRequests, MaxInflightBytes: o.MaxInflightBytes,
		Rate: o.serverRate(), Burst: o.Burst, BodyTimeout: o.BodyTimeout, Clock: clk,
		Tokens:      &ingest.Tokens{Reader: mgr.GetAPIReader(), Secret: secret, Refresh: 10 * time.Second, Clock: clk},
		Metrics:     m,
		WaitForSync: mgr.GetCache().WaitForCacheSync,
		Elected:     mgr.Elected(),
	}, nil
}
