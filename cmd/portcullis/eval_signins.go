package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/internal/policy"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// signInsFormatFlags are --signins-format and --signins-system.
type signInsFormatFlags struct{ format, system string }

func bindSignInFlags(f *pflag.FlagSet, opts *evalOptions) {
	f.StringArrayVar(&opts.signIns, "signins", nil,
		"File of recorded sign-in events, a JSON array or NDJSON as POST /v1/signins takes them (repeatable); - reads standard input. Their Findings join the resources.")
	f.StringVar(&opts.enricher.CountryDB, "geoip-country-db", "",
		"MaxMind-format country database for --signins, as the manager's flag.")
	f.StringVar(&opts.enricher.ASNDB, "geoip-asn-db", "",
		"MaxMind-format ASN database (GeoLite2-ASN layout) for --signins, as the manager's flag.")
	f.StringVar(&opts.enricher.AnonymousDB, "geoip-anonymous-db", "",
		"MaxMind GeoIP2 Anonymous IP database for --signins, as the manager's flag.")
	f.StringVar(&opts.enricher.TorExitList, "tor-exit-list", "",
		"File of Tor exit addresses, one a line (# comments), for --signins, as the manager's flag.")
	bindFormatFlags(f, &opts.format.format, &opts.format.system, "signins-format", "signins-system", "--signins")
	f.BoolVar(&opts.replay, "replay", false,
		"Move the --signins events by whole weeks so the latest lies in the week before the decision time, as portcullis ingest --replay does: recorded sign-ins keep their weekday and time of day and stay within the ingester's 30 days.")
}

// ingestSignIns runs the --signins files through the manager's ingester
// over res at now, and reports what it refused on errOut. The correlators'
// lists come from the default policy data under the eval's own, as the
// manager reads them from the defaults under --policy-data.
func (o evalOptions) ingestSignIns(ctx context.Context, stdin io.Reader, errOut io.Writer,
	res *offline.Resources, data map[string]any, now time.Time) error {
	if len(o.signIns) == 0 {
		return nil
	}
	files, err := readSignInFiles(stdin, o.signIns, o.format, errOut)
	if err != nil {
		return err
	}
	if o.replay {
		replayFiles(files, now)
	}
	defaults, err := policy.DefaultData()
	if err != nil {
		return err
	}
	lists, err := signals.ListsFromData(policy.MergeData(defaults, data))
	if err != nil {
		return fmt.Errorf("reading the correlators' lists from the policy data: %w", err)
	}
	if o.enricher == (signals.EnricherOptions{}) {
		fmt.Fprintln(errOut, "Warning: sign-ins are not enriched: no --geoip-country-db, --geoip-asn-db, --geoip-anonymous-db or --tor-exit-list, so they have no country, network or anonymizer")
	}
	enricher, err := signals.OpenEnricher(o.enricher)
	if err != nil {
		return err
	}
	defer func() { _ = enricher.Close() }()
	report, err := res.IngestSignIns(ctx, files, offline.SignInOptions{Enricher: enricher, Lists: lists, Now: now})
	if err != nil {
		return err
	}
	reportSignIns(errOut, report)
	return nil
}

// readSignInFiles reads the --signins files, converting providers' exports
// to events and saying on errOut how many records were skipped.
func readSignInFiles(stdin io.Reader, names []string, sf signInsFormatFlags, errOut io.Writer) ([]offline.SignInFile, error) {
	if err := checkFormat(sf.format, sf.system, "signins-format", "signins-system"); err != nil {
		return nil, err
	}
	files := make([]offline.SignInFile, 0, len(names))
	for _, name := range names {
		body, err := readSignInFile(stdin, name, sf, errOut)
		if err != nil {
			return nil, fmt.Errorf("--signins: %w", err)
		}
		if name == "-" {
			name = stdinName
		}
		files = append(files, offline.SignInFile{Name: name, Body: body})
	}
	return files, nil
}

// readSignInFile reads one --signins file as a JSON array of events.
func readSignInFile(stdin io.Reader, name string, sf signInsFormatFlags, errOut io.Writer) ([]byte, error) {
	if sf.format == formatPortcullis {
		return readInput(name, stdin)
	}
	events, skipped, err := convertInput(sf.format, sf.system, name, stdin)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(errOut, "%s: %d sign-ins from the %s export; skipped %d other records (failed sign-ins, other events).\n",
		name, len(events), sf.format, skipped)
	if events == nil {
		events = []signals.Event{}
	}
	return json.Marshal(events)
}

// reportSignIns prints what became of the sign-ins, the refused events by
// file and index as portcullis ingest prints them.
func reportSignIns(errOut io.Writer, r offline.SignInReport) {
	fmt.Fprintf(errOut, "Sign-ins: %d events, %d accepted, %d duplicates, %d rejected; Findings: %d created, %d updated.\n",
		r.Received, r.Accepted, r.Duplicates, len(r.Rejections), r.FindingsCreated, r.FindingsUpdated)
	for _, rej := range r.Rejections {
		fmt.Fprintf(errOut, "  %s: event %d: %s\n", rej.File, rej.Index, rej.Error)
	}
}

// replayFiles moves the events of every file by the same whole number of
// weeks (see replay), rewriting each file as NDJSON. A file that is not a
// batch of events is left for the ingester to refuse.
func replayFiles(files []offline.SignInFile, now time.Time) {
	var all []json.RawMessage
	split := make([][]json.RawMessage, len(files))
	for i, f := range files {
		events, err := signals.Split(f.Body)
		if err != nil {
			continue
		}
		split[i] = events
		all = append(all, events...)
	}
	replay(all, now)
	for i, events := range split {
		if events == nil {
			continue
		}
		var body bytes.Buffer
		for _, e := range all[:len(events)] {
			body.Write(e)
			body.WriteByte('\n')
		}
		all = all[len(events):]
		files[i].Body = body.Bytes()
	}
}
