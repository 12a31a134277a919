package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portcullis-dev/portcullis/internal/offline"
)

// The kinds and outcomes of a case of portcullis test.
const (
	kindRego     = "rego"
	kindScenario = "scenario"

	statusPass = "pass"
	statusFail = "fail"
	statusSkip = "skip"
)

// caseResult is one Rego unit test or one scenario.
type caseResult struct {
	Kind string `json:"kind"`
	// Suite groups cases: the Rego file of a test, the file of a scenario.
	Suite string `json:"suite"`
	Name  string `json:"name"`
	File  string `json:"file,omitempty"`
	Line  int    `json:"line,omitempty"`
	// Source is where a scenario is: its file and index.
	Source   string        `json:"source,omitempty"`
	Status   string        `json:"status"`
	Failures []string      `json:"failures,omitempty"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
}

// testReport is everything portcullis test found.
type testReport struct {
	Dir       string           `json:"dir"`
	Passed    int              `json:"passed"`
	Failed    int              `json:"failed"`
	Skipped   int              `json:"skipped"`
	Cases     []caseResult     `json:"cases"`
	Detection *detectionReport `json:"detection,omitempty"`
}

// detectionReport is the --detection measurement: counts, the scenarios
// that went wrong, whether the targets are met, and the text summary.
type detectionReport struct {
	Hostile           int      `json:"hostile"`
	Honest            int      `json:"honest"`
	HostileActioned   int      `json:"hostileActioned"`
	HostileMissed     []string `json:"hostileMissed"`
	HonestRevoked     []string `json:"honestRevoked"`
	HonestQuarantined []string `json:"honestQuarantined"`
	MeetsTargets      bool     `json:"meetsTargets"`
	Summary           string   `json:"summary"`
}

func newDetectionReport(d offline.Detection) *detectionReport {
	var summary bytes.Buffer
	d.Print(&summary, offline.DefaultTargets)
	return &detectionReport{
		Hostile:           d.Hostile,
		Honest:            d.Honest,
		HostileActioned:   len(d.Actioned),
		HostileMissed:     scenarioNames(d.Missed),
		HonestRevoked:     scenarioNames(d.Revoked),
		HonestQuarantined: scenarioNames(d.Quarantined),
		MeetsTargets:      d.Meets(offline.DefaultTargets),
		Summary:           summary.String(),
	}
}

// scenarioNames names scenarios as "name (source)", never null in JSON.
func scenarioNames(results []offline.ScenarioResult) []string {
	out := make([]string, 0, len(results))
	for _, r := range results {
		out = append(out, fmt.Sprintf("%s (%s)", r.Name, r.Source))
	}
	return out
}

// count fills in the totals and each case's seconds.
func (r *testReport) count() {
	for i := range r.Cases {
		c := &r.Cases[i]
		c.Seconds = c.Duration.Seconds()
		switch c.Status {
		case statusPass:
			r.Passed++
		case statusFail:
			r.Failed++
		case statusSkip:
			r.Skipped++
		}
	}
}

func (r *testReport) write(out io.Writer, format string, verbose bool) error {
	switch format {
	case "json":
		return writeJSON(out, r)
	case "junit":
		return r.writeJUnit(out)
	}
	r.writeText(out, verbose)
	return nil
}

// writeText prints like go test: failures and skips always, passes with
// verbose, then the totals and the detection measurement.
func (r *testReport) writeText(out io.Writer, verbose bool) {
	for _, c := range r.Cases {
		name := c.Name
		if c.Kind == kindScenario {
			name = fmt.Sprintf("scenario %q", c.Name)
		}
		switch c.Status {
		case statusFail:
			if c.Kind == kindScenario {
				fmt.Fprintf(out, "--- FAIL: %s (%s) (%s)\n", name, c.Source, seconds(c.Duration))
			} else {
				fmt.Fprintf(out, "--- FAIL: %s (%s)\n", name, seconds(c.Duration))
			}
			for _, f := range c.Failures {
				fmt.Fprintf(out, "    %s\n", f)
			}
		case statusSkip:
			fmt.Fprintf(out, "--- SKIP: %s\n", name)
		default:
			if verbose {
				fmt.Fprintf(out, "--- PASS: %s (%s)\n", name, seconds(c.Duration))
			}
		}
	}
	fmt.Fprintf(out, "%d passed, %d failed\n", r.Passed, r.Failed)
	if r.Detection != nil {
		fmt.Fprint(out, r.Detection.Summary)
	}
}

// The JUnit XML elements, in the form CI systems (Jenkins, GitLab, GitHub
// test reporters) read.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *struct{}     `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func junitTime(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

// writeJUnit writes one testsuite per Rego test file and per scenario file,
// in the order they ran, and one named detection with --detection.
func (r *testReport) writeJUnit(out io.Writer) error {
	doc := junitSuites{Name: "portcullis test " + r.Dir}
	index := map[string]int{}
	durations := map[string]time.Duration{}
	var total time.Duration
	for _, c := range r.Cases {
		i, ok := index[c.Suite]
		if !ok {
			i = len(doc.Suites)
			index[c.Suite] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: c.Suite})
		}
		s := &doc.Suites[i]
		jc := junitCase{Name: c.Name, Classname: c.Suite, File: c.File, Line: c.Line, Time: junitTime(c.Duration)}
		switch c.Status {
		case statusFail:
			jc.Failure = &junitFailure{Message: firstLine(c.Failures), Text: strings.Join(c.Failures, "\n")}
			s.Failures++
		case statusSkip:
			jc.Skipped = &struct{}{}
			s.Skipped++
		}
		s.Tests++
		s.Cases = append(s.Cases, jc)
		durations[c.Suite] += c.Duration
		total += c.Duration
	}
	for i := range doc.Suites {
		doc.Suites[i].Time = junitTime(durations[doc.Suites[i].Name])
	}
	if d := r.Detection; d != nil {
		jc := junitCase{Name: "targets", Classname: "detection", Time: junitTime(0)}
		s := junitSuite{Name: "detection", Tests: 1, Time: junitTime(0)}
		if !d.MeetsTargets {
			jc.Failure = &junitFailure{Message: "the detection targets are missed", Text: d.Summary}
			s.Failures = 1
		}
		s.Cases = []junitCase{jc}
		doc.Suites = append(doc.Suites, s)
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Skipped += s.Skipped
	}
	doc.Time = junitTime(total)
	if _, err := io.WriteString(out, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(out)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(out, "\n")
	return err
}

func firstLine(lines []string) string {
	if len(lines) == 0 {
		return "failed"
	}
	first, _, _ := strings.Cut(lines[0], "\n")
	return first
}
