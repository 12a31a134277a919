package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiWrites counts the API server's mutating requests by verb and resource
// (apiserver_request_total), from every client.
func (b *bench) apiWrites(ctx context.Context) (map[string]float64, error) {
	raw, err := b.cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	label := func(line, name string) string {
		_, rest, ok := strings.Cut(line, name+`="`)
		if !ok {
			return ""
		}
		v, _, _ := strings.Cut(rest, `"`)
		return v
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if !strings.HasPrefix(line, "apiserver_request_total{") {
			continue
		}
		verb := label(line, "verb")
		if verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE" && verb != "APPLY" {
			continue
		}
		key := verb + " " + label(line, "resource")
		if sub := label(line, "subresource"); sub != "" {
			key += "/" + sub
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			out[key] += v
		}
	}
	return out, nil
}

// writeCount is, at one moment, the manager's writes and the API server's
// writes by verb and resource.
type writeCount struct {
	manager  float64
	resource map[string]float64
}

// countWrites reads both counts; settled waits first for the manager's
// writes to stop growing (settledWrites).
func (b *bench) countWrites(ctx context.Context, settled bool) (writeCount, error) {
	read := b.writes
	if settled {
		read = b.settledWrites
	}
	manager, err := read(ctx)
	if err != nil {
		return writeCount{}, err
	}
	resource, err := b.apiWrites(ctx)
	return writeCount{manager, resource}, err
}

// perGrant lists the growth of each count from before to after, per grant,
// largest first.
func perGrant(before, after map[string]float64, grants int) string {
	type share struct {
		key string
		n   float64
	}
	var shares []share
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			shares = append(shares, share{k, d / float64(grants)})
		}
	}
	slices.SortFunc(shares, func(a, b share) int { return cmp.Compare(b.n, a.n) })
	parts := make([]string, 0, len(shares))
	for _, s := range shares {
		if s.n >= 0.01 {
			parts = append(parts, fmt.Sprintf("%s %.2f", s.key, s.n))
		}
	}
	return strings.Join(parts, ", ")
}

// settledWrites waits until the manager's writes stop growing for two
// seconds (the contractors' statuses follow the grants') and returns them.
func (b *bench) settledWrites(ctx context.Context) (float64, error) {
	last, err := b.writes(ctx)
	for err == nil {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(2 * time.Second):
		}
		var n float64
		if n, err = b.writes(ctx); err == nil && n == last {
			return n, nil
		}
		last = n
	}
	return 0, err
}

// writes sums the manager's mutating API requests from its metrics.
func (b *bench) writes(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, "rest_client_requests_total{", `method="POST"`, `method="PUT"`, `method="PATCH"`, `method="DELETE"`)
}

// decisions is how many grant decisions the manager made.
func (b *bench) decisions(ctx context.Context) (float64, error) {
	return b.metricSum(ctx, "portcullis_decisions_total{", "")
}

// metricSum adds the samples of a metric whose lines contain any of labels.
func (b *bench) metricSum(ctx context.Context, prefix string, labels ...string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.dev.metrics+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var total float64
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		for _, l := range labels {
			if strings.Contains(line, l) {
				v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
				if err == nil {
					total += v
				}
				break
			}
		}
	}
	return total, scanner.Err()
}
