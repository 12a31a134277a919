package metrics

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/ssftx"
)

// The alerting rules, the dashboard and the runbooks that ship with the
// manager, relative to this package.
var (
	rulesPath     = filepath.Join("..", "..", "config", "prometheus", "prometheusrule.yaml")
	dashboardPath = filepath.Join("..", "..", "config", "grafana", "portcullis-dashboard.json")
	runbooksPath  = filepath.Join("..", "..", "docs", "observability.md")
)

// metricInfo is what an expression may rely on about one metric.
type metricInfo struct {
	labels    []string
	histogram bool
}

// targetLabels are attached by Prometheus to every scraped series (from the
// scrape target), not by the code.
var targetLabels = []string{"namespace", "pod", "instance", "job", "service", "container", "endpoint"}

// externalMetrics are the controller-runtime metrics the rules and the
// dashboard may use, with their labels (controller-runtime v0.25:
// pkg/internal/controller/metrics, pkg/internal/metrics/workqueue.go,
// pkg/metrics/leaderelection.go).
var externalMetrics = map[string]metricInfo{
	"controller_runtime_reconcile_total":        {labels: []string{"controller", "result"}},
	"controller_runtime_reconcile_errors_total": {labels: []string{"controller"}},
	"controller_runtime_reconcile_time_seconds": {labels: []string{"controller"}, histogram: true},
	"workqueue_depth":                           {labels: []string{"name", "controller", "priority"}},
	"workqueue_adds_total":                      {labels: []string{"name", "controller"}},
	"leader_election_master_status":             {labels: []string{"name"}},
}

// knownValues are the values the code gives some labels (controllers/
// accessgrant_enforce.go, controllers/accessgrant_decide.go with the
// DecisionAction enum, internal/ingest/server.go): a matcher on another
// value never matches anything.
var knownValues = map[string]map[string][]string{
	"portcullis_enforcements_total":          {"result": {"success", "error", "dryrun"}},
	"portcullis_decisions_total":             {"action": {"Allow", "Quarantine", "Revoke"}},
	"portcullis_signins_total":               {"result": {"accepted", "duplicate", "rejected"}},
	"portcullis_ingest_finding_writes_total": {"op": {"created", "updated"}},
	"portcullis_signin_source_polls_total":   {"result": {"success", "error"}},
	"portcullis_signin_source_records_total": {"result": {"accepted", "duplicate", "rejected", "skipped"}},
}

// capturingRegisterer keeps every collector registered through it.
type capturingRegisterer struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (c *capturingRegisterer) Register(col prometheus.Collector) error {
	c.collectors = append(c.collectors, col)
	return c.Registerer.Register(col)
}

func (c *capturingRegisterer) MustRegister(cols ...prometheus.Collector) {
	for _, col := range cols {
		if err := c.Register(col); err != nil {
			panic(err)
		}
	}
}

var descRE = regexp.MustCompile(`^Desc\{fqName: "([^"]+)", .*variableLabels: \{([^}]*)\}\}$`)

// definedMetrics registers the real metrics on a fresh registry, gives every
// vector a child so that it is gathered, and returns every metric family
// by name, with its labels.
func definedMetrics(t *testing.T) map[string]metricInfo {
	t.Helper()
	reg := prometheus.NewRegistry()
	capture := &capturingRegisterer{Registerer: reg}
	if _, err := New(capture); err != nil {
		t.Fatal(err)
	}
	// The Shared Signals transmitter registers its own, in the same registry.
	if _, err := ssftx.NewMetrics(capture); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for _, c := range capture.collectors {
		names, labelCount, err := describe(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			described[n] = true
		}
		if err := populate(c, labelCount); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]metricInfo{}
	for _, f := range families {
		info := metricInfo{histogram: f.GetType().String() == "HISTOGRAM"}
		for _, l := range f.GetMetric()[0].GetLabel() {
			info.labels = append(info.labels, l.GetName())
		}
		defined[f.GetName()] = info
		delete(described, f.GetName())
	}
	for name := range described {
		t.Errorf("metric %s is described but was not gathered", name)
	}
	if len(defined) == 0 {
		t.Fatal("no metrics gathered")
	}
	return defined
}

// describe returns the names c describes and how many variable labels they have.
func describe(c prometheus.Collector) (names []string, labelCount int, err error) {
	ch := make(chan *prometheus.Desc, 16)
	c.Describe(ch)
	close(ch)
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			return nil, 0, fmt.Errorf("cannot read descriptor %s", d)
		}
		names = append(names, m[1])
		labelCount = 0
		if m[2] != "" {
			labelCount = len(strings.Split(m[2], ","))
		}
	}
	return names, labelCount, nil
}

// populate gives a vector one child, so that it is gathered.
func populate(c prometheus.Collector, labelCount int) error {
	values := make([]string, labelCount)
	for i := range values {
		values[i] = "x"
	}
	switch v := c.(type) {
	case *prometheus.CounterVec:
		v.WithLabelValues(values...).Inc()
	case *prometheus.GaugeVec:
		v.WithLabelValues(values...).Set(1)
	case *prometheus.HistogramVec:
		v.WithLabelValues(values...).Observe(1)
	case *prometheus.SummaryVec:
		v.WithLabelValues(values...).Observe(1)
	case prometheus.Metric:
		// A plain metric is gathered as it is.
	default:
		return fmt.Errorf("the test cannot give %T a value: add a case to populate", c)
	}
	return nil
}

// ---------------------------------------------------------------------------
// A small PromQL reader: enough to find the metrics an expression selects,
// their label matchers and the labels of by/without/on/ignoring clauses.

type tokenKind int

const (
	tokIdent tokenKind = iota
	tokString
	tokNumber
	tokVariable // a Grafana variable: $x or ${x}
	tokPunct
)

type token struct {
	kind tokenKind
	text string // a string's value, unquoted
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || c == ':' || isDigit(c) }
func isDigit(c byte) bool      { return c >= '0' && c <= '9' }

// lexer splits a PromQL expression, with Grafana's variables, into tokens.
type lexer struct {
	expr string
	i    int
	toks []token
}

func lex(expr string) ([]token, error) {
	l := &lexer{expr: expr}
	for l.i < len(expr) {
		if err := l.next(); err != nil {
			return nil, err
		}
	}
	return l.toks, nil
}

// next reads one token, or skips blanks or a comment.
func (l *lexer) next() error {
	c := l.expr[l.i]
	switch {
	case strings.IndexByte(" \t\n\r", c) >= 0:
		l.i++
	case c == '#':
		l.while(func(c byte) bool { return c != '\n' })
	case c == '"' || c == '\'' || c == '`':
		return l.str(c)
	case l.atNumber():
		// Numbers and durations: 5m, 1h30m, 1e3, 0x1f.
		l.emit(tokNumber, l.while(func(c byte) bool { return isIdentChar(c) || c == '.' }))
	case isIdentStart(c):
		l.emit(tokIdent, l.while(isIdentChar))
	case c == '$':
		return l.variable()
	default:
		return l.punct()
	}
	return nil
}

// atNumber reports whether a number or a duration starts here.
func (l *lexer) atNumber() bool {
	c := l.expr[l.i]
	return isDigit(c) || c == '.' && l.i+1 < len(l.expr) && isDigit(l.expr[l.i+1])
}

func (l *lexer) emit(kind tokenKind, text string) { l.toks = append(l.toks, token{kind, text}) }

// while consumes the bytes that ok accepts and returns them.
func (l *lexer) while(ok func(byte) bool) string {
	start := l.i
	for l.i < len(l.expr) && ok(l.expr[l.i]) {
		l.i++
	}
	return l.expr[start:l.i]
}

func (l *lexer) str(quote byte) error {
	var b strings.Builder
	start := l.i
	for l.i++; l.i < len(l.expr) && l.expr[l.i] != quote; l.i++ {
		if l.expr[l.i] == '\\' && quote != '`' && l.i+1 < len(l.expr) {
			l.i++
		}
		b.WriteByte(l.expr[l.i])
	}
	if l.i >= len(l.expr) {
		return fmt.Errorf("unterminated string at offset %d", start)
	}
	l.i++
	l.emit(tokString, b.String())
	return nil
}

// variable reads $name or ${name...}.
func (l *lexer) variable() error {
	start := l.i
	l.i++
	if l.i < len(l.expr) && l.expr[l.i] == '{' {
		end := strings.IndexByte(l.expr[l.i:], '}')
		if end < 0 {
			return fmt.Errorf("unterminated ${ at offset %d", start)
		}
		l.i += end + 1
	} else {
		l.while(isIdentChar)
	}
	l.emit(tokVariable, l.expr[start:l.i])
	return nil
}

func (l *lexer) punct() error {
	if l.i+1 < len(l.expr) && slices.Contains([]string{"==", "!=", ">=", "<=", "=~", "!~"}, l.expr[l.i:l.i+2]) {
		l.emit(tokPunct, l.expr[l.i:l.i+2])
		l.i += 2
		return nil
	}
	c := l.expr[l.i]
	if !strings.ContainsRune("(){}[],+-*/%^=<>@", rune(c)) {
		return fmt.Errorf("unexpected %q at offset %d", c, l.i)
	}
	l.emit(tokPunct, string(c))
	l.i++
	return nil
}

var (
	aggregators = []string{"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk",
		"quantile", "count_values", "group", "limitk", "limit_ratio"}
	// keywords are never metric names when they stand between operands.
	keywords = []string{"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "Inf", "NaN"}
	// clauses take a parenthesized list of label names.
	clauses = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
)

type matcher struct{ label, op, value string }

type selector struct {
	name     string // as written, e.g. portcullis_x_bucket; "" when only {__name__=...}
	pos      int    // token index
	matchers []matcher
}

type clause struct {
	keyword    string
	labels     []string
	start, end int // token range of the expression it groups (by/without)
}

type analysis struct {
	selectors []selector
	clauses   []clause
}

// parser walks the tokens of one expression.
type parser struct {
	toks  []token
	match []int
	a     analysis
}

// analyze finds the selectors and clauses of a PromQL expression.
func analyze(expr string) (analysis, error) {
	toks, err := lex(expr)
	if err != nil {
		return analysis{}, err
	}
	match, err := matching(toks)
	if err != nil {
		return analysis{}, err
	}
	p := &parser{toks: toks, match: match}
	for i := 0; i < len(toks); i++ {
		if i, err = p.step(i); err != nil {
			return analysis{}, err
		}
	}
	return p.a, nil
}

// is reports whether token i is the punctuation text.
func (p *parser) is(i int, text string) bool {
	return i >= 0 && i < len(p.toks) && p.toks[i].kind == tokPunct && p.toks[i].text == text
}

// isIdent reports whether token i is an identifier among names.
func (p *parser) isIdent(i int, names ...string) bool {
	return i >= 0 && i < len(p.toks) && p.toks[i].kind == tokIdent && slices.Contains(names, p.toks[i].text)
}

// step reads what starts at token i and returns the index of its last token.
func (p *parser) step(i int) (int, error) {
	tk := p.toks[i]
	switch {
	case p.is(i, "["):
		// A range or subquery: durations only.
		return p.match[i], nil
	case p.is(i, "{"):
		// A selector without a metric name in front.
		return p.selector(i, "")
	case tk.kind != tokIdent, p.isIdent(i, keywords...):
		return i, nil
	case p.isIdent(i, clauses...):
		return p.clause(i)
	case p.is(i+1, "("):
		// A function call, or an aggregation with its clause last.
		return i, nil
	case p.isIdent(i, aggregators...) && p.isIdent(i+1, "by", "without"):
		// An aggregation with its clause first.
		return i, nil
	default:
		if p.is(i+1, "{") {
			return p.selector(i+1, tk.text)
		}
		p.a.selectors = append(p.a.selectors, selector{name: tk.text, pos: i})
		return i, nil
	}
}

// selector reads the label matchers in the braces at open.
func (p *parser) selector(open int, name string) (int, error) {
	ms, err := matchers(p.toks, open, p.match[open])
	if err != nil {
		return 0, err
	}
	p.a.selectors = append(p.a.selectors, selector{name: name, pos: open, matchers: ms})
	return p.match[open], nil
}

// clause reads by, without, on, ignoring, group_left or group_right at i.
func (p *parser) clause(i int) (int, error) {
	keyword := p.toks[i].text
	if !p.is(i+1, "(") {
		if keyword == "group_left" || keyword == "group_right" {
			return i, nil
		}
		return 0, fmt.Errorf("%s without a label list", keyword)
	}
	c := clause{keyword: keyword, start: -1, end: -1}
	closing := p.match[i+1]
	for j := i + 2; j < closing; j++ {
		switch {
		case p.toks[j].kind == tokIdent:
			c.labels = append(c.labels, p.toks[j].text)
		case !p.is(j, ","):
			return 0, fmt.Errorf("unexpected %q in a label list", p.toks[j].text)
		}
	}
	if keyword == "by" || keyword == "without" {
		switch {
		case p.isIdent(i-1, aggregators...) && p.is(closing+1, "("):
			// sum by (x) (expr)
			c.start, c.end = closing+1, p.match[closing+1]
		case p.is(i-1, ")"):
			// sum (expr) by (x)
			c.start, c.end = p.match[i-1], i-1
		default:
			return 0, fmt.Errorf("cannot tell what %s (%s) groups", keyword, strings.Join(c.labels, ", "))
		}
	}
	p.a.clauses = append(p.a.clauses, c)
	return closing, nil
}

// matching maps every bracket's index to its partner's, and -1 elsewhere.
func matching(toks []token) ([]int, error) {
	match := make([]int, len(toks))
	var stack []int
	pairs := map[string]string{")": "(", "]": "[", "}": "{"}
	for i, tk := range toks {
		match[i] = -1
		if tk.kind != tokPunct {
			continue
		}
		switch tk.text {
		case "(", "[", "{":
			stack = append(stack, i)
		case ")", "]", "}":
			if len(stack) == 0 || toks[stack[len(stack)-1]].text != pairs[tk.text] {
				return nil, fmt.Errorf("unbalanced %q", tk.text)
			}
			open := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			match[open], match[i] = i, open
		}
	}
	if len(stack) > 0 {
		return nil, fmt.Errorf("unclosed %q", toks[stack[len(stack)-1]].text)
	}
	return match, nil
}

// matchers reads label="value" pairs between the braces at open and close.
func matchers(toks []token, open, close int) ([]matcher, error) {
	var ms []matcher
	for j := open + 1; j < close; {
		if toks[j].kind == tokPunct && toks[j].text == "," {
			j++
			continue
		}
		if j+2 >= close+1 || toks[j].kind != tokIdent || toks[j+1].kind != tokPunct || toks[j+2].kind != tokString {
			return nil, fmt.Errorf("cannot read the label matcher at %q", toks[j].text)
		}
		if !slices.Contains([]string{"=", "!=", "=~", "!~"}, toks[j+1].text) {
			return nil, fmt.Errorf("unknown matcher operator %q", toks[j+1].text)
		}
		ms = append(ms, matcher{toks[j].text, toks[j+1].text, toks[j+2].text})
		j += 3
	}
	return ms, nil
}

// resolve finds the metric a selector's name refers to: a histogram's
// series are its name with _bucket, _sum or _count.
func resolve(name string, defined map[string]metricInfo) (base string, info metricInfo, bucket, ok bool) {
	if info, ok := defined[name]; ok {
		return name, info, false, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if b, found := strings.CutSuffix(name, suffix); found {
			if info, ok := defined[b]; ok && info.histogram {
				return b, info, suffix == "_bucket", true
			}
		}
	}
	return "", metricInfo{}, false, false
}

var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

// ref is a selector resolved to the metric it selects.
type ref struct {
	base   string
	info   metricInfo
	bucket bool
}

// checkExpr returns what is wrong with expr: metrics the code does not
// define, labels those metrics do not have, values their labels never take.
func checkExpr(expr string, defined map[string]metricInfo) []string {
	a, err := analyze(expr)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	refs := map[int]ref{}
	for _, s := range a.selectors {
		r, err := resolveSelector(s, defined)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		refs[s.pos] = r
		problems = append(problems, checkMatchers(r, s.matchers)...)
	}
	for _, c := range a.clauses {
		problems = append(problems, checkClause(c, refs)...)
	}
	slices.Sort(problems)
	return slices.Compact(problems)
}

// resolveSelector finds the metric, defined by the code or by
// controller-runtime, that s selects.
func resolveSelector(s selector, defined map[string]metricInfo) (ref, error) {
	name := s.name
	for _, m := range s.matchers {
		if name == "" && m.label == "__name__" && m.op == "=" {
			name = m.value
		}
	}
	if name == "" {
		return ref{}, fmt.Errorf("a selector without a metric name")
	}
	for _, known := range []map[string]metricInfo{defined, externalMetrics} {
		if base, info, bucket, ok := resolve(name, known); ok {
			return ref{base, info, bucket}, nil
		}
	}
	return ref{}, fmt.Errorf("metric %s is not defined", name)
}

// checkMatchers checks the labels and known values of r's matchers.
func checkMatchers(r ref, ms []matcher) []string {
	var problems []string
	for _, m := range ms {
		if m.label == "__name__" {
			continue
		}
		if !hasLabel(r.info, r.bucket, m.label) {
			problems = append(problems, fmt.Sprintf("metric %s has no label %s", r.base, m.label))
			continue
		}
		allowed := knownValues[r.base][m.label]
		if allowed == nil || strings.Contains(m.value, "$") {
			continue
		}
		var values []string
		switch {
		case m.op == "=" || m.op == "!=":
			values = []string{m.value}
		case literalAlternatives.MatchString(m.value):
			values = strings.Split(m.value, "|")
		}
		for _, v := range values {
			if !slices.Contains(allowed, v) {
				problems = append(problems, fmt.Sprintf("%s{%s} is never %q: the code sets %v", r.base, m.label, v, allowed))
			}
		}
	}
	return problems
}

// checkClause checks that every metric that a by or without clause groups
// has its labels, and that some metric of the expression has the labels of
// an on, ignoring or group_* clause.
func checkClause(c clause, refs map[int]ref) []string {
	var problems []string
	list := strings.Join(c.labels, ", ")
	for _, l := range c.labels {
		if c.keyword == "by" || c.keyword == "without" {
			for pos, r := range refs {
				if pos > c.start && pos < c.end && !hasLabel(r.info, r.bucket, l) {
					problems = append(problems, fmt.Sprintf("%s (%s): metric %s has no label %s", c.keyword, list, r.base, l))
				}
			}
			continue
		}
		found := slices.Contains(targetLabels, l)
		for _, r := range refs {
			found = found || hasLabel(r.info, r.bucket, l)
		}
		if !found {
			problems = append(problems, fmt.Sprintf("%s (%s): no metric of the expression has label %s", c.keyword, list, l))
		}
	}
	return problems
}

func hasLabel(info metricInfo, bucket bool, label string) bool {
	return slices.Contains(info.labels, label) || slices.Contains(targetLabels, label) || bucket && label == "le"
}

// portcullisMetrics lists the portcullis_ metrics expr refers to, by their
// defined name.
func portcullisMetrics(expr string, defined map[string]metricInfo) []string {
	a, err := analyze(expr)
	if err != nil {
		return nil
	}
	var names []string
	for _, s := range a.selectors {
		if base, _, _, ok := resolve(s.name, defined); ok && strings.HasPrefix(base, "portcullis_") {
			names = append(names, base)
		}
	}
	return names
}

// ---------------------------------------------------------------------------
// The files.

type prometheusRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

type dashboard struct {
	Title         string `json:"title"`
	UID           string `json:"uid"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []dashboardVariable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type dashboardVariable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasourceRef  `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	GridPos    *gridPos       `json:"gridPos"`
	Datasource *datasourceRef `json:"datasource"`
	Targets    []target       `json:"targets"`
	Panels     []panel        `json:"panels"` // a collapsed row's
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

func loadRules(t *testing.T) prometheusRule {
	t.Helper()
	raw, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	var r prometheusRule
	if err := yaml.UnmarshalStrict(raw, &r); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	return r
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// runbookHeadings returns the level-3 headings of docs/observability.md.
func runbookHeadings(t *testing.T) map[string]bool {
	t.Helper()
	runbooks, err := os.ReadFile(runbooksPath)
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for line := range strings.SplitSeq(string(runbooks), "\n") {
		if h, ok := strings.CutPrefix(line, "### "); ok {
			headings[strings.TrimSpace(h)] = true
		}
	}
	return headings
}

// allPanels flattens rows' nested panels.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// ---------------------------------------------------------------------------
// The tests.

// Every alert names only metrics and labels the manager serves, and carries
// what on-call needs: for, severity, summary, description and a runbook
// that exists.
func TestAlertingRules(t *testing.T) {
	defined := definedMetrics(t)
	r := loadRules(t)
	if got := fmt.Sprintf("%s %s %s/%s", r.APIVersion, r.Kind, r.Metadata.Namespace, r.Metadata.Name); got != "monitoring.coreos.com/v1 PrometheusRule system/alerts" {
		t.Errorf("%s is %s, want monitoring.coreos.com/v1 PrometheusRule system/alerts", rulesPath, got)
	}
	headings := runbookHeadings(t)
	seen := map[string]bool{}
	for _, g := range r.Spec.Groups {
		if len(g.Rules) == 0 {
			t.Errorf("group %s has no rules", g.Name)
		}
		for _, rule := range g.Rules {
			name := cmp.Or(rule.Alert, rule.Record)
			for _, p := range checkExpr(rule.Expr, defined) {
				t.Errorf("rule %s: %s", name, p)
			}
			if rule.Alert == "" {
				continue
			}
			if seen[rule.Alert] {
				t.Errorf("alert %s is defined twice", rule.Alert)
			}
			seen[rule.Alert] = true
			for _, p := range checkAlert(rule, headings) {
				t.Errorf("alert %s: %s", rule.Alert, p)
			}
		}
	}
	if len(seen) == 0 {
		t.Error("no alerts")
	}
	for h := range headings {
		if strings.HasPrefix(h, "Portcullis") && !seen[h] {
			t.Errorf("docs/observability.md has a runbook for %s, which is no alert", h)
		}
	}
}

// checkAlert returns what an alert lacks.
func checkAlert(r rule, headings map[string]bool) []string {
	var problems []string
	if d, err := time.ParseDuration(r.For); err != nil || d <= 0 {
		problems = append(problems, fmt.Sprintf("for %q is not a positive duration", r.For))
	}
	if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
		problems = append(problems, fmt.Sprintf("severity %q, want critical, warning or info", s))
	}
	for _, key := range []string{"summary", "description", "runbook"} {
		if strings.TrimSpace(r.Annotations[key]) == "" {
			problems = append(problems, "no "+key+" annotation")
		}
	}
	if want := "docs/observability.md#" + strings.ToLower(r.Alert); r.Annotations["runbook"] != want {
		problems = append(problems, fmt.Sprintf("runbook %q, want %q", r.Annotations["runbook"], want))
	}
	if !headings[r.Alert] {
		problems = append(problems, fmt.Sprintf("no runbook: add a section \"### %s\" to docs/observability.md", r.Alert))
	}
	return problems
}

// The dashboard names only metrics and labels the manager serves, shows
// every portcullis_ metric, and lays out its panels without overlap.
func TestDashboard(t *testing.T) {
	defined := definedMetrics(t)
	d := loadDashboard(t)
	if d.SchemaVersion != 39 {
		t.Errorf("schemaVersion %d, want 39", d.SchemaVersion)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	for _, p := range checkVariables(d.Templating.List, defined) {
		t.Error(p)
	}
	panels := allPanels(d.Panels)
	for _, p := range checkLayout(panels) {
		t.Error(p)
	}
	problems, shown := checkPanels(panels, defined)
	for _, p := range problems {
		t.Error(p)
	}
	for name := range defined {
		if strings.HasPrefix(name, "portcullis_") && !shown[name] {
			t.Errorf("no dashboard panel shows %s", name)
		}
	}
}

var labelValuesRE = regexp.MustCompile(`^label_values\(\s*([^,]+),\s*(\w+)\s*\)$`)

// checkVariables wants a Prometheus datasource variable and a namespace
// variable whose label_values query names a served metric and label.
func checkVariables(vars []dashboardVariable, defined map[string]metricInfo) []string {
	var problems []string
	types := map[string]string{}
	for _, v := range vars {
		types[v.Name] = v.Type
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			problems = append(problems, fmt.Sprintf("variable %s: query %s, want \"prometheus\"", v.Name, v.Query))
		}
		if v.Type != "query" {
			continue
		}
		if v.Datasource == nil || v.Datasource.UID != "${datasource}" {
			problems = append(problems, fmt.Sprintf("variable %s does not use ${datasource}", v.Name))
		}
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil {
			problems = append(problems, fmt.Sprintf("variable %s: cannot read %q", v.Name, v.Definition))
			continue
		}
		for _, p := range checkExpr(fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), defined) {
			problems = append(problems, fmt.Sprintf("variable %s: %s", v.Name, p))
		}
	}
	if types["datasource"] != "datasource" || types["namespace"] != "query" {
		problems = append(problems, fmt.Sprintf("variables %v, want datasource (datasource) and namespace (query)", types))
	}
	return problems
}

// checkLayout wants unique panel ids and panels inside the 24-column grid
// that do not overlap.
func checkLayout(panels []panel) []string {
	var problems []string
	ids := map[int]string{}
	var placed []panel
	for _, p := range panels {
		if other, dup := ids[p.ID]; dup {
			problems = append(problems, fmt.Sprintf("panels %q and %q share id %d", other, p.Title, p.ID))
		} else if p.ID <= 0 {
			problems = append(problems, fmt.Sprintf("panel %q has no id", p.Title))
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g == nil {
			problems = append(problems, fmt.Sprintf("panel %q has no gridPos", p.Title))
			continue
		}
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			problems = append(problems, fmt.Sprintf("panel %q: gridPos %+v is outside the 24-column grid", p.Title, *g))
		}
		for _, q := range placed {
			h := q.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				problems = append(problems, fmt.Sprintf("panels %q %+v and %q %+v overlap", q.Title, *h, p.Title, *g))
			}
		}
		placed = append(placed, p)
	}
	return problems
}

// checkPanels checks the queries of every panel and returns the
// portcullis_ metrics they show.
func checkPanels(panels []panel, defined map[string]metricInfo) (problems []string, shown map[string]bool) {
	shown = map[string]bool{}
	for _, p := range panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
			problems = append(problems, fmt.Sprintf("panel %q does not use ${datasource}", p.Title))
		}
		if len(p.Targets) == 0 {
			problems = append(problems, fmt.Sprintf("panel %q has no queries", p.Title))
		}
		for _, tg := range p.Targets {
			for _, pr := range checkTarget(tg, defined) {
				problems = append(problems, fmt.Sprintf("panel %q query %s: %s", p.Title, tg.RefID, pr))
			}
			for _, m := range portcullisMetrics(tg.Expr, defined) {
				shown[m] = true
			}
		}
	}
	return problems, shown
}

// checkTarget checks one panel query.
func checkTarget(tg target, defined map[string]metricInfo) []string {
	var problems []string
	if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
		problems = append(problems, "does not use ${datasource}")
	}
	if strings.TrimSpace(tg.Expr) == "" {
		return append(problems, "is empty")
	}
	if !strings.Contains(tg.Expr, `namespace="$namespace"`) {
		problems = append(problems, "does not filter on $namespace")
	}
	return append(problems, checkExpr(tg.Expr, defined)...)
}

// The checks find what they are meant to find.
func TestCheckExprFindsMistakes(t *testing.T) {
	defined := definedMetrics(t)
	for _, c := range []struct {
		expr string
		want []string // substrings of the problems, in order; none for a clean expression
	}{
		{expr: `sum by (namespace, le) (rate(portcullis_finding_to_enforcement_seconds_bucket{namespace="$namespace"}[$__rate_interval]))`},
		{expr: `sum(rate(portcullis_decision_duration_seconds_sum[5m])) / sum(rate(portcullis_decision_duration_seconds_count[5m]))`},
		{expr: `absent(portcullis_build_info{version!=""}) or portcullis_policies_loaded offset 1h`},
		{expr: `max by (namespace) (leader_election_master_status{name="portcullis.access.portcullis.dev"}) < 1`},
		{expr: `sum without (pod) (portcullis_enforcements_total{result=~"success|error"}) > bool 0 and on (namespace) portcullis_policies_loaded`},
		{expr: `{__name__="portcullis_guard_holds_total", job!~"a|b"}`},
		{expr: `sum(rate(portcullis_enforcement_total[5m]))`, want: []string{"metric portcullis_enforcement_total is not defined"}},
		{expr: `sum(rate(portcullis_guard_holds_bucket[5m]))`, want: []string{"metric portcullis_guard_holds_bucket is not defined"}},
		{expr: `rate(portcullis_enforcements_total{result="failed"}[5m])`, want: []string{`is never "failed"`}},
		{expr: `rate(portcullis_enforcements_total{status="error"}[5m])`, want: []string{"has no label status"}},
		{expr: `sum by (system) (rate(portcullis_enforcements_total[5m]))`, want: []string{"metric portcullis_enforcements_total has no label system"}},
		{expr: `sum(rate(portcullis_ingest_requests_total[5m])) by (result)`, want: []string{"metric portcullis_ingest_requests_total has no label result"}},
		{expr: `sum by (le) (rate(portcullis_decision_duration_seconds_count[5m]))`, want: []string{"has no label le"}},
		{expr: `sum by (controller) (workqueue_depht)`, want: []string{"metric workqueue_depht is not defined"}},
		{expr: `x on (nope) y`, want: []string{"metric x is not defined", "metric y is not defined", "no metric of the expression has label nope"}},
		{expr: `sum(rate(portcullis_decisions_total[5m])`, want: []string{`unclosed "("`}},
		{expr: `portcullis_decisions_total{action="Allow}`, want: []string{"unterminated string"}},
	} {
		got := checkExpr(c.expr, defined)
		if len(got) != len(c.want) {
			t.Errorf("checkExpr(%s) = %q, want %d problem(s) %q", c.expr, got, len(c.want), c.want)
			continue
		}
		for i, w := range c.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("checkExpr(%s) = %q, want %q", c.expr, got, c.want)
			}
		}
	}
}
