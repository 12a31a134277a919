package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/offline"
	"github.com/portcullis-dev/portcullis/internal/policy"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// errFailOn is returned when --fail-on is triggered; main exits with 2.
var errFailOn = errors.New("decisions at or above --fail-on")

type evalOptions struct {
	files    []string
	libs     []string
	builtin  bool
	data     dataFlags
	now      string
	output   string
	failOn   string
	signIns  []string
	format   signInsFormatFlags // --signins-format, --signins-system
	replay   bool
	enricher signals.EnricherOptions
	clockNow func() time.Time
	// printInput prints the input documents instead of the decisions, for
	// the grant named by grant ("namespace/name") or every grant.
	printInput bool
	grant      string
	// defaultData puts the default library's data under the policy data
	// without its policies, as the manager does (explain against a cluster).
	defaultData bool
}

func newEvalCommand() *cobra.Command {
	opts := evalOptions{output: "table", clockNow: time.Now}
	cmd := &cobra.Command{
		Use:   "eval -f FILE|DIR|- [-f ...]",
		Short: "Decide every grant in YAML files, without a cluster",
		Long: `Read Contractors, AccessGrants, AccessPolicies, ConnectedSystems, Findings and
PolicyExceptions from YAML or JSON files (multi-document, directories
recursively; -f - reads standard input), decide every grant with the same
engine as the controller, and print the action and reasons per grant. An
object the API server would refuse (a value outside an enum, a missing
required field, an unknown field) is an error naming the file, the document
and the field.

Policies are the AccessPolicies in the files, the modules of each --policies
directory (each *.rego an enforcing policy named after its file), and, with
--builtin-policies, the default library. A PolicyException whose
spec.policy names none of them exempts nothing: a warning on standard error
says so. With --fail-on the command exits with status 2 when any grant is
decided at or above that action, to fail a CI step.

--signins FILE (repeatable) backtests on recorded sign-ins: the events, a
JSON array or NDJSON as POST /v1/signins takes them, go through the manager's
own parser, enrichment and correlators, in time order, with the clock at
--now, as if the files had been sent to a manager at that time; the
resulting Findings and sign-in summaries join the resources before the
grants are decided. Rejected events are reported on standard error by file
and index, and the others are used. Enrichment needs --geoip-country-db,
--geoip-asn-db, --geoip-anonymous-db or --tor-exit-list, as for the manager.
--replay moves the events by whole weeks to the week before --now, as
portcullis ingest --replay does, so old recordings can be replayed without
picking a --now.

The RISK column shows each grant's risk level and score with the code and
weight of every contribution, acting or not.

--print-input prints, instead of the decisions, the exact input document the
engine evaluates for each grant, as JSON: an object keyed by grant
(namespace/name), or, with --grant NAMESPACE/NAME, that grant's input alone.
Save one and hand it to opa eval -i to debug a policy with the standard OPA
tools.`,
		Example: `  portcullis eval -f config/samples --builtin-policies
  portcullis eval -f config/samples --builtin-policies --signins config/samples/signins.ndjson --tor-exit-list config/samples/tor-exits.txt --now 2026-11-29T12:00:00Z
  portcullis eval -f config/samples --builtin-policies --signins config/samples/signins.ndjson --tor-exit-list config/samples/tor-exits.txt --replay
  portcullis eval -f config/samples --builtin-policies --print-input --grant contractors/alex-payments-edit > input.json
  kubectl get contractors,accessgrants,findings,policyexceptions,connectedsystems,accesspolicies -A -o yaml | portcullis eval -f - --policies my-policies/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEval(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.files, "filename", "f", nil, "File or directory of resources (repeatable); - reads standard input.")
	f.StringArrayVar(&opts.libs, "policies", nil, "Directory of Rego policy modules and their data/ (repeatable).")
	f.BoolVar(&opts.builtin, "builtin-policies", false, "Also use the default policy library built into portcullis.")
	f.StringVar(&opts.now, "now", "", "Decision time (RFC 3339); defaults to the current time.")
	f.StringVarP(&opts.output, "output", "o", opts.output, "Output format: table, json or yaml.")
	f.StringVar(&opts.failOn, "fail-on", "", "Exit with status 2 when a grant is decided quarantine (or revoke) or worse.")
	f.BoolVar(&opts.printInput, "print-input", false, "Print the input document of each grant as JSON instead of the decisions.")
	f.StringVar(&opts.grant, "grant", "", "With --print-input, print only the input of this grant (NAMESPACE/NAME), unwrapped.")
	opts.data.bind(f)
	bindSignInFlags(f, &opts)
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func runEval(ctx context.Context, stdin io.Reader, out, errOut io.Writer, opts evalOptions) error {
	now, threshold, err := opts.parse()
	if err != nil {
		return err
	}
	res, err := loadResources(stdin, opts.files)
	if err != nil {
		return err
	}
	engine, data, err := opts.engine(ctx, res, errOut)
	if err != nil {
		return err
	}
	if err := opts.ingestSignIns(ctx, stdin, errOut, res, data, now); err != nil {
		return err
	}
	if opts.printInput {
		return printInputs(out, res, engine, now, opts.grant)
	}
	decisions, err := res.DecideAll(ctx, engine, now)
	if err != nil {
		return err
	}
	if err := printDecisions(out, opts.output, decisions); err != nil {
		return err
	}
	return failOn(decisions, threshold)
}

// stdinName is how errors name resources read from standard input.
const stdinName = "standard input"

// loadResources reads the -f files and directories in order; - reads
// standard input (parse refuses it twice).
func loadResources(stdin io.Reader, files []string) (*offline.Resources, error) {
	res := &offline.Resources{}
	for _, f := range files {
		if f != "-" {
			if err := res.AddPath(f); err != nil {
				return nil, err
			}
			continue
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", stdinName, err)
		}
		if err := res.AddManifest(stdinName, data); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// stdinReads counts the -f - among files.
func stdinReads(files []string) int {
	n := 0
	for _, f := range files {
		if f == "-" {
			n++
		}
	}
	return n
}

func (o evalOptions) parse() (time.Time, accessv1alpha1.DecisionAction, error) {
	now := o.clockNow()
	if stdinReads(o.files) > 1 {
		return now, "", errors.New("-f - is given twice: standard input can be read only once; give it once, or name the files (./- is a file named -)")
	}
	if stdinReads(o.files)+stdinReads(o.signIns) > 1 {
		return now, "", errors.New("- is given to both -f and --signins, or twice: standard input can be read only once; name the files (./- is a file named -)")
	}
	if o.now != "" {
		t, err := time.Parse(time.RFC3339, o.now)
		if err != nil {
			return now, "", fmt.Errorf("--now %q is not an RFC 3339 time such as 2026-11-28T12:00:00Z", o.now)
		}
		now = t
	}
	var threshold accessv1alpha1.DecisionAction
	switch strings.ToLower(o.failOn) {
	case "":
	case "quarantine":
		threshold = accessv1alpha1.ActionQuarantine
	case "revoke":
		threshold = accessv1alpha1.ActionRevoke
	default:
		return now, "", fmt.Errorf("--fail-on %q: use quarantine or revoke", o.failOn)
	}
	switch o.output {
	case "table", "json", "yaml":
	default:
		return now, "", fmt.Errorf("-o %q: use table, json or yaml", o.output)
	}
	if o.grant != "" && !o.printInput {
		return now, "", errors.New("--grant selects the grant whose input --print-input prints: add --print-input")
	}
	if o.grant != "" && strings.Count(o.grant, "/") != 1 {
		return now, "", fmt.Errorf("--grant %q: name the grant as NAMESPACE/NAME", o.grant)
	}
	return now, threshold, nil
}

// engine compiles every policy source into one engine, and returns it with
// the policy data. It warns on errOut about PolicyExceptions that name none
// of the policies.
func (o evalOptions) engine(ctx context.Context, res *offline.Resources, errOut io.Writer) (policy.Engine, map[string]any, error) {
	data, pols, err := o.librarySources()
	if err != nil {
		return nil, nil, err
	}
	fromFiles, err := res.AccessPolicies()
	if err != nil {
		return nil, nil, err
	}
	pols = append(pols, fromFiles...)
	if len(pols) == 0 {
		return nil, nil, errors.New("no policies: add AccessPolicies to the files, or use --policies DIR or --builtin-policies")
	}
	for _, w := range res.ExceptionsWithoutPolicy(pols) {
		fmt.Fprintf(errOut, "Warning: %s\n", w)
	}
	if data, err = o.data.load(data); err != nil {
		return nil, nil, err
	}
	engine, err := offline.NewEngine(ctx, data, pols)
	return engine, data, err
}

func (o evalOptions) librarySources() (map[string]any, []policy.Policy, error) {
	data := map[string]any{}
	var pols []policy.Policy
	if o.builtin || o.defaultData {
		var err error
		if data, err = policy.DefaultData(); err != nil {
			return nil, nil, err
		}
	}
	if o.builtin {
		modules, err := policy.DefaultModules()
		if err != nil {
			return nil, nil, err
		}
		pols = append(pols, offline.ModulePolicies(modules)...)
	}
	for _, dir := range o.libs {
		modules, libData, err := libraryFrom(dir)
		if err != nil {
			return nil, nil, err
		}
		data = policy.MergeData(data, libData)
		pols = append(pols, offline.ModulePolicies(modules)...)
	}
	return data, pols, nil
}

func printDecisions(out io.Writer, format string, decisions []offline.GrantDecision) error {
	switch format {
	case "json":
		return writeJSON(out, decisions)
	case "yaml":
		raw, err := yaml.Marshal(decisions)
		if err != nil {
			return err
		}
		_, err = out.Write(raw)
		return err
	}
	return printTable(out, decisions)
}

func printTable(out io.Writer, decisions []offline.GrantDecision) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "GRANT\tCONTRACTOR\tSYSTEM\tACTION\tRISK\tREASONS")
	for _, d := range decisions {
		lines := reasonLines(d.Decision)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Grant, d.Contractor, d.System, d.Decision.Action, riskSummary(d.Decision.Risk), lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(w, "\t\t\t\t\t%s\n", l)
		}
	}
	return w.Flush()
}

// riskSummary is a risk's level and score with each contribution's code
// and weight: "Medium 5 (CountryMismatch +3, CommercialVPN +2)".
func riskSummary(r *policy.Risk) string {
	if r == nil || r.Level == accessv1alpha1.RiskNone {
		return "None"
	}
	parts := make([]string, 0, len(r.Contributions))
	for _, c := range r.Contributions {
		parts = append(parts, fmt.Sprintf("%s +%g", c.Code, c.Weight))
	}
	return fmt.Sprintf("%s %g (%s)", r.Level, r.Score, strings.Join(parts, ", "))
}

// reasonLines lists a decision's reasons, one a line, with dry-run, warning
// and exempted reasons marked.
func reasonLines(d policy.Decision) []string {
	var lines []string
	add := func(prefix string, reasons []policy.Reason) {
		for _, r := range reasons {
			line := fmt.Sprintf("%s%s/%s %s [%s]: %s", prefix, r.Policy, r.Rule, r.Code, r.Severity, r.Message)
			if r.Exception != "" {
				line += " (exception " + r.Exception + ")"
			}
			lines = append(lines, line)
		}
	}
	add("", d.Reasons)
	add("would ", d.DryRun)
	add("warn ", d.Warnings)
	add("exempt ", d.Exempted)
	if len(lines) == 0 {
		lines = []string{"-"}
	}
	return lines
}

func failOn(decisions []offline.GrantDecision, threshold accessv1alpha1.DecisionAction) error {
	if threshold == "" {
		return nil
	}
	var hit []string
	for _, d := range decisions {
		if d.Decision.Action == threshold || d.Decision.Action == accessv1alpha1.ActionRevoke {
			hit = append(hit, fmt.Sprintf("%s (%s)", d.Grant, d.Decision.Action))
		}
	}
	if len(hit) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %s", errFailOn, strings.ToLower(string(threshold)), strings.Join(hit, ", "))
}
