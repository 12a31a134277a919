package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/signals"
)

// ingest sends sign-ins through the endpoint in batches of 1,000, in two
// shapes: spread (every event of a batch from another contractor, the worst
// case, one status write per event) and grouped (ten events per contractor
// in a batch, as a SIEM forwarding a minute of sign-ins sends them). Each
// contractor has an address and a laptop of their own, except a farm of 1 %
// of the contractors that share one address.
func (b *bench) ingest(ctx context.Context) ([]result, error) {
	token, err := os.ReadFile(filepath.Join(filepath.Dir(b.dev.kubeconfig), "ingest-token"))
	if err != nil {
		return nil, fmt.Errorf("reading the dev ingest token: %w", err)
	}
	half := b.opts.signIns / 2
	start := time.Now().Add(-24 * time.Hour)
	spread := b.signInBodies(0, half, start, func(i int) int { return i % b.opts.grants })
	grouped := b.signInBodies(half, b.opts.signIns, start, func(i int) int { return (i - half) / 10 % b.opts.grants })
	var results []result
	for _, run := range []struct {
		name   string
		bodies [][]byte
	}{{"spread", spread}, {"grouped by contractor", grouped}} {
		r, err := b.sendSignIns(ctx, strings.TrimSpace(string(token)), run.name, run.bodies)
		if err != nil {
			return nil, err
		}
		results = append(results, r...)
	}
	return results, nil
}

// signInBodies renders events from to to in NDJSON batches of 1,000;
// contractor maps an event's number to its contractor's.
func (b *bench) signInBodies(from, to int, start time.Time, contractor func(int) int) [][]byte {
	const batch = 1000
	farm := max(2, b.opts.grants/100)
	var bodies [][]byte
	for first := from; first < to; first += batch {
		var body bytes.Buffer
		for i := first; i < min(first+batch, to); i++ {
			c := contractor(i)
			ip := fmt.Sprintf("10.%d.%d.%d", c/65536, c/256%256, c%256)
			if c < farm {
				ip = "192.0.2.10"
			}
			at := start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(b.opts.signIns))
			fmt.Fprintf(&body, `{"contractor":"%s/%s","ip":"%s","time":"%s","deviceID":"laptop-%d"}`+"\n",
				b.ns, b.contractorName(c), ip, at.UTC().Format(time.RFC3339Nano), c)
		}
		bodies = append(bodies, body.Bytes())
	}
	return bodies
}

func (b *bench) sendSignIns(ctx context.Context, token, name string, bodies [][]byte) ([]result, error) {
	writesBefore, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	began := time.Now()
	accepted, findings := 0, 0
	for _, body := range bodies {
		res, err := b.postSignIns(ctx, token, body)
		if err != nil {
			return nil, err
		}
		accepted += res.Accepted
		findings += res.FindingsCreated + res.FindingsUpdated
	}
	took := time.Since(began)
	writesAfter, err := b.writes(ctx)
	if err != nil {
		return nil, err
	}
	return []result{
		{fmt.Sprintf("sign-ins, %s: %d through the endpoint", name, accepted),
			fmt.Sprintf("%.0f events/s (%s)", float64(accepted)/took.Seconds(), took.Round(time.Millisecond))},
		{fmt.Sprintf("sign-ins, %s: Finding writes / API writes", name), fmt.Sprintf("%d / %.0f", findings, writesAfter-writesBefore)},
	}, nil
}

// postSignIns posts one batch, again after a 429 or 503 as long as the
// server's Retry-After asks.
func (b *bench) postSignIns(ctx context.Context, token string, body []byte) (signals.Result, error) {
	for attempt := 0; ; attempt++ {
		res, wait, err := b.postOnce(ctx, token, body)
		if wait == 0 || attempt == 10 {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// postOnce posts a batch; wait is how long to wait before trying again,
// zero when the answer is final.
func (b *bench) postOnce(ctx context.Context, token string, body []byte) (signals.Result, time.Duration, error) {
	var res signals.Result
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.dev.ingest+"/v1/signins", bytes.NewReader(body))
	if err != nil {
		return res, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		seconds, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return res, time.Duration(max(seconds, 1)) * time.Second, fmt.Errorf("sign-ins: %s", resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return res, 0, fmt.Errorf("sign-ins: %s: %s", resp.Status, raw)
	}
	return res, 0, json.NewDecoder(resp.Body).Decode(&res)
}
