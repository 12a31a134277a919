package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/portcullis-dev/portcullis/internal/idplogs"
	"github.com/portcullis-dev/portcullis/internal/ingest"
	"github.com/portcullis-dev/portcullis/internal/signals"
	"github.com/portcullis-dev/portcullis/internal/tlsclient"
)

// errRejected is returned when the server refused some events; main exits
// with 2.
var errRejected = errors.New("events were rejected")

type ingestOptions struct {
	file, url, tokenFile, caFile string
	batch                        int
	timeout                      time.Duration
	retries                      int
	replay                       bool
	format, system               string
}

func newIngestCommand() *cobra.Command {
	opts := ingestOptions{batch: 1000, timeout: 30 * time.Second, retries: 3}
	cmd := &cobra.Command{
		Use:   "ingest -f FILE --url URL --token-file FILE",
		Short: "Send a file of sign-in events to the manager's sign-in endpoint",
		Long: `Send sign-in events, a JSON array or NDJSON, to POST /v1/signins in batches,
and print what the server did with them: accepted, duplicates, rejected (with
the event's index in the file and the reason) and the Findings written. A batch
that failed part way or found the endpoint busy (HTTP 503), or went over the
token's rate (HTTP 429), is sent again after the server's Retry-After: the
server does not count what it already stored. Exits 2 when any event was
rejected.

--format okta, entra or google reads an identity provider's export instead
(Okta's System Log, Microsoft Graph's signIns, Google's Admin SDK login
activities) and sends its successful sign-ins as events of accounts on the
ConnectedSystem --system; failed sign-ins and other records are skipped and
counted. Rejected events' indexes count the sent events, not the export's
records.`,
		Example: `  portcullis ingest -f config/samples/signins.ndjson --url http://127.0.0.1:8082 --token-file bin/dev/ingest-token
  portcullis ingest -f okta-logs.json --format okta --system okta --url http://127.0.0.1:8082 --token-file bin/dev/ingest-token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIngest(cmd.Context(), cmd.OutOrStdout(), cmd.InOrStdin(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.file, "file", "f", "", "File of events, a JSON array or NDJSON; - reads standard input.")
	f.StringVar(&opts.url, "url", "", "Address of the manager's sign-in endpoint, e.g. http://127.0.0.1:8082 ("+ingest.Path+" is added when the URL has no path).")
	f.StringVar(&opts.tokenFile, "token-file", "", "File holding the bearer token, one of the values of the manager's --ingest-token-secret.")
	f.StringVar(&opts.caFile, "ca-file", "", "PEM bundle of the CAs that sign the endpoint's certificate, for https URLs with a private CA.")
	f.IntVar(&opts.batch, "batch-size", opts.batch, "Events per request; at most the server's --ingest-max-events.")
	f.DurationVar(&opts.timeout, "timeout", opts.timeout, "Deadline of one request.")
	f.IntVar(&opts.retries, "retries", opts.retries, "How often a batch is sent again after HTTP 503, HTTP 429 or a connection error, waiting at least the server's Retry-After.")
	f.BoolVar(&opts.replay, "replay", false,
		"Move every event's time by the same whole number of weeks, so that the latest falls within the last week and each keeps its weekday and time of day: for samples and recorded incidents older than the server's 30-day window.")
	bindFormatFlags(f, &opts.format, &opts.system, "format", "system", "--file")
	for _, name := range []string{"file", "url", "token-file"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runIngest(ctx context.Context, out io.Writer, stdin io.Reader, opts ingestOptions) error {
	if opts.batch < 1 {
		return errors.New("--batch-size must be at least 1")
	}
	endpoint, err := endpointURL(opts.url)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(opts.tokenFile)
	if err != nil {
		return fmt.Errorf("reading --token-file: %w", err)
	}
	if len(bytes.TrimSpace(token)) == 0 {
		return fmt.Errorf("--token-file %s is empty", opts.tokenFile)
	}
	events, skipped, err := readEvents(opts, stdin)
	if err != nil {
		return err
	}
	if opts.format != formatPortcullis {
		fmt.Fprintf(out, "Read %d sign-ins from the %s export %s; skipped %d other records (failed sign-ins, other events).\n",
			len(events), opts.format, opts.file, skipped)
	}
	if opts.replay {
		replay(events, time.Now())
	}
	httpClient, err := ingestHTTPClient(opts)
	if err != nil {
		return err
	}
	defer httpClient.CloseIdleConnections()
	client := ingest.Client{HTTP: httpClient, URL: endpoint, Token: string(bytes.TrimSpace(token)),
		BatchSize: opts.batch, Retries: opts.retries}
	total, err := client.Send(ctx, events)
	if err != nil {
		return err
	}
	report(out, endpoint, total)
	if len(total.Rejected) > 0 {
		return fmt.Errorf("%w: %d of %d", errRejected, len(total.Rejected), total.Received)
	}
	return nil
}

// formatPortcullis is the events as POST /v1/signins takes them.
const formatPortcullis = "portcullis"

// bindFormatFlags binds the flags that name an export's format and its
// system, as --format and --system of ingest or --signins-format and
// --signins-system of eval; fileFlag names the flag of the files.
func bindFormatFlags(f *pflag.FlagSet, format, system *string, formatName, systemName, fileFlag string) {
	f.StringVar(format, formatName, formatPortcullis, "Format of "+fileFlag+": portcullis (events as POST "+ingest.Path+
		" takes them), or an identity provider's export: okta (System Log events), entra (Microsoft Graph signIns) or google (Admin SDK login activities).")
	f.StringVar(system, systemName, "", "With a provider's --"+formatName+": the ConnectedSystem whose accounts (Contractor.spec.accounts[].system) signed in.")
}

// checkFormat checks a --format and its --system.
func checkFormat(format, system, formatName, systemName string) error {
	switch {
	case format == formatPortcullis:
		if system != "" {
			return fmt.Errorf("--%s applies only to an identity provider's --%s", systemName, formatName)
		}
		return nil
	case !slices.Contains(idplogs.Formats, format):
		return fmt.Errorf("--%s %q must be %s or one of %s", formatName, format, formatPortcullis, strings.Join(idplogs.Formats, ", "))
	case system == "":
		return fmt.Errorf("--%s %s needs --%s, the ConnectedSystem whose accounts signed in", formatName, format, systemName)
	}
	return nil
}

// readEvents reads --file as the events to send, converting a provider's
// export; skipped is the number of its records that are no sign-in.
func readEvents(opts ingestOptions, stdin io.Reader) (events []json.RawMessage, skipped int, err error) {
	if err := checkFormat(opts.format, opts.system, "format", "system"); err != nil {
		return nil, 0, err
	}
	if opts.format == formatPortcullis {
		body, err := readInput(opts.file, stdin)
		if err != nil {
			return nil, 0, err
		}
		events, err = signals.Split(body)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", opts.file, err)
		}
		return events, 0, nil
	}
	converted, skipped, err := convertInput(opts.format, opts.system, opts.file, stdin)
	if err != nil {
		return nil, 0, err
	}
	events = make([]json.RawMessage, len(converted))
	for i, e := range converted {
		if events[i], err = json.Marshal(e); err != nil {
			return nil, 0, err
		}
	}
	return events, skipped, nil
}

// convertInput converts the provider's export in file (- for stdin).
func convertInput(format, system, file string, stdin io.Reader) ([]signals.Event, int, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, 0, fmt.Errorf("reading events: %w", err)
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	events, skipped, err := idplogs.Convert(format, system, r, idplogs.DefaultMaxBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	return events, skipped, nil
}

func endpointURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q must be an http:// or https:// address, e.g. http://127.0.0.1:8082", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = ingest.Path
	}
	return u.String(), nil
}

func readInput(file string, stdin io.Reader) ([]byte, error) {
	if file == "-" {
		return io.ReadAll(stdin)
	}
	body, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading events: %w", err)
	}
	return body, nil
}

// ingestHTTPClient is the client for --url: TLS as internal/tlsclient sets
// it, trusting only the CAs of --ca-file when it is given.
func ingestHTTPClient(opts ingestOptions) (*http.Client, error) {
	var cas []byte
	if opts.caFile != "" {
		var err error
		if cas, err = os.ReadFile(opts.caFile); err != nil {
			return nil, fmt.Errorf("reading --ca-file: %w", err)
		}
		if len(bytes.TrimSpace(cas)) == 0 {
			return nil, fmt.Errorf("--ca-file %s %w", opts.caFile, tlsclient.ErrNoCertificate)
		}
	}
	client, err := tlsclient.New(tlsclient.Options{CAs: cas, OnlyCAs: true, Timeout: opts.timeout})
	if err != nil {
		return nil, fmt.Errorf("--ca-file %s %w", opts.caFile, err)
	}
	return client, nil
}

func report(out io.Writer, endpoint string, r signals.Result) {
	fmt.Fprintf(out, "Sent %d events to %s: %d accepted, %d duplicates, %d rejected.\n",
		r.Received, endpoint, r.Accepted, r.Duplicates, len(r.Rejected))
	fmt.Fprintf(out, "Findings: %d created, %d updated.\n", r.FindingsCreated, r.FindingsUpdated)
	if len(r.NotEnriched) > 0 {
		var parts []string
		for k, n := range r.NotEnriched {
			parts = append(parts, fmt.Sprintf("%s for %d events", k, n))
		}
		sort.Strings(parts)
		fmt.Fprintf(out, "Facts no database had (see the manager's --geoip-*-db flags): %s.\n", strings.Join(parts, ", "))
	}
	for _, rej := range r.Rejected {
		fmt.Fprintf(out, "  event %d: %s\n", rej.Index, rej.Error)
	}
}

// week is the unit --replay moves events by: whole weeks keep each event's
// weekday and time of day.
const week = 7 * 24 * time.Hour

// replayWeeks is the whole number of weeks that puts latest within the week
// before now: later than now minus 7 days, and not after now. It is 0 when
// latest already is, and negative when latest is after now.
func replayWeeks(latest, now time.Time) int64 {
	seconds := now.Unix() - latest.Unix()
	if now.Nanosecond() < latest.Nanosecond() {
		seconds-- // now - latest is a little less than the whole seconds
	}
	perWeek := int64(week / time.Second)
	n := seconds / perWeek
	if seconds < 0 && seconds%perWeek != 0 {
		n-- // round towards minus infinity, so latest lands at or before now
	}
	return n
}

// replay moves every event's time by the same whole number of weeks
// (replayWeeks), so that the latest lies within the last week and each
// event keeps its weekday and time of day in UTC and in its own offset.
// Only the exact key "time" is read and written, as the server reads it;
// events without a readable time are left for the server to reject.
func replay(events []json.RawMessage, now time.Time) {
	times := make([]time.Time, len(events))
	var latest time.Time
	for i, e := range events {
		times[i] = eventTime(e)
		if times[i].After(latest) {
			latest = times[i]
		}
	}
	if latest.IsZero() {
		return
	}
	days := int(replayWeeks(latest, now) * 7)
	if days == 0 {
		return
	}
	for i, e := range events {
		if times[i].IsZero() {
			continue
		}
		// Calendar days in UTC are 24 hours long, and AddDate does not
		// overflow as a Duration of centuries would.
		_, offset := times[i].Zone()
		shifted := times[i].UTC().AddDate(0, 0, days).In(time.FixedZone("", offset))
		if moved, ok := withTime(e, shifted); ok {
			events[i] = moved
		}
	}
}

// eventTime is the time of an event, zero when it has none the server could
// read.
func eventTime(e json.RawMessage) time.Time {
	var fields map[string]json.RawMessage
	var t time.Time
	if json.Unmarshal(e, &fields) != nil || json.Unmarshal(fields["time"], &t) != nil {
		return time.Time{}
	}
	return t
}

// withTime returns the event with its "time" set to t, its other fields as
// they were.
func withTime(e json.RawMessage, t time.Time) (json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(e, &fields) != nil {
		return nil, false
	}
	raw, err := json.Marshal(t.Format(time.RFC3339Nano))
	if err != nil {
		return nil, false
	}
	fields["time"] = raw
	moved, err := json.Marshal(fields)
	return moved, err == nil
}
