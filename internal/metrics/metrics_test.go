package metrics

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Every metric registers once, and a second registration on the same
// registry is an error rather than a panic.
func TestNewRegistersOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.Decisions.WithLabelValues("Allow").Inc()
	m.SignIns.WithLabelValues("accepted").Add(3)
	if _, err := New(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}

// Every metric the manager serves is documented, with its labels, in the
// configuration reference.
func TestEveryMetricIsDocumented(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors export nothing until a child exists.
	m.PolicyCompileErrors.WithLabelValues("p")
	m.Decisions.WithLabelValues("Allow")
	m.Enforcements.WithLabelValues("kubernetes", "success")
	m.IngestRequests.WithLabelValues("200")
	m.SignIns.WithLabelValues("accepted")
	m.FindingWrites.WithLabelValues("created")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 12 {
		t.Errorf("gathered %d metric families, want 12: add the new one to this test and to docs/configuration.md", len(families))
	}
	for _, f := range families {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		if got, ok := documentedLabels(string(doc), f.GetName()); !ok || !slices.Equal(got, labels) {
			t.Errorf("docs/configuration.md documents %s with labels %v (found: %v), want %v", f.GetName(), got, ok, labels)
		}
	}
}

// documentedLabels finds "`name`" or "`name{a,b}`" in doc and returns the
// labels, sorted.
func documentedLabels(doc, name string) ([]string, bool) {
	_, rest, found := strings.Cut(doc, "`"+name)
	if !found {
		return nil, false
	}
	token, _, _ := strings.Cut(rest, "`")
	if token == "" {
		return nil, true
	}
	inner, ok := strings.CutPrefix(token, "{")
	inner, ok2 := strings.CutSuffix(inner, "}")
	if !ok || !ok2 {
		return nil, false
	}
	labels := strings.Split(inner, ",")
	slices.Sort(labels)
	return labels, true
}

func TestBuildInfoNamesTheRunningBuild(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "portcullis_build_info" {
			continue
		}
		m := f.GetMetric()[0]
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if m.GetGauge().GetValue() != 1 || labels["version"] == "" || labels["goversion"] == "" {
			t.Errorf("portcullis_build_info = %v %v", m.GetGauge().GetValue(), labels)
		}
		return
	}
	t.Error("no portcullis_build_info")
}
