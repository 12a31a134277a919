package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/policy"
	"github.com/portcullis-dev/portcullis/internal/signals"
)

// explainOptions are eval's policy-source and sign-in options, and where
// the grant is read from when no -f is given.
type explainOptions struct {
	eval       evalOptions
	output     string
	kubeconfig string
}

func newExplainCommand() *cobra.Command {
	opts := explainOptions{eval: evalOptions{output: "table", clockNow: time.Now}, output: "text"}
	cmd := &cobra.Command{
		Use:   "explain NAMESPACE/GRANT [-f FILE|DIR|- ...]",
		Short: "Say why a grant is decided as it is",
		Long: `Decide one AccessGrant with the same engine as eval and the controller, and
explain the decision: the reasons that make the action with the Findings and
verification checks each rests on, the risk contributions, which
PolicyExceptions applied and why the others did not, the blast-radius
guard's part, and what would change the outcome.

With -f (repeatable, as for eval) the resources and policies come from
files, and --signins, --replay and the enrichment flags work as for eval.
Without -f the grant, its Contractor and ConnectedSystem, the Findings and
PolicyExceptions of its namespace and every AccessPolicy are read from the
cluster of --kubeconfig ($KUBECONFIG, the in-cluster service account, then
~/.kube/config). The default library's data is then under the policy data,
as in the manager; give --data the files of the manager's --policy-data.
The decision the controller last recorded in the grant's status is shown
beside the fresh one, with every difference.

Evidence is found by the engine, not guessed: a Finding or verification
check is "named" when the reason's evidence (ip, deviceID, country,
relatedContractors) matches it, and "necessary" when deciding again
without it drops the reason.`,
		Example: `  portcullis explain contractors/casey-payments-edit -f config/samples --builtin-policies --signins config/samples/signins.ndjson --tor-exit-list config/samples/tor-exits.txt --replay
  portcullis explain contractors/alex-payments-edit --kubeconfig ~/.kube/config -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExplain(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr(), opts, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts.eval.files, "filename", "f", nil, "File or directory of resources (repeatable); - reads standard input. Without it, the cluster is read.")
	f.StringArrayVar(&opts.eval.libs, "policies", nil, "Directory of Rego policy modules and their data/ (repeatable).")
	f.BoolVar(&opts.eval.builtin, "builtin-policies", false, "Also use the default policy library built into portcullis.")
	f.StringVar(&opts.eval.now, "now", "", "Decision time (RFC 3339); defaults to the current time.")
	f.StringVarP(&opts.output, "output", "o", opts.output, "Output format: text or json.")
	f.StringVar(&opts.kubeconfig, "kubeconfig", "", "Without -f: path to a kubeconfig; defaults to $KUBECONFIG, the in-cluster service account, then ~/.kube/config.")
	opts.eval.data.bind(f)
	bindSignInFlags(f, &opts.eval)
	return cmd
}

// explainSource is what a grant's explanation is built from.
type explainSource struct {
	input  policy.Input
	engine policy.Engine
	// cluster is set when the grant was read from a cluster; its status is
	// what the controller last recorded.
	cluster bool
}

func runExplain(ctx context.Context, stdin io.Reader, out, errOut io.Writer, opts explainOptions, grant string) error {
	ns, name, err := parseGrantName(grant)
	if err != nil {
		return err
	}
	if opts.output != "text" && opts.output != "json" {
		return fmt.Errorf("-o %q: use text or json", opts.output)
	}
	now, _, err := opts.eval.parse()
	if err != nil {
		return err
	}
	var src *explainSource
	if len(opts.eval.files) > 0 {
		src, err = offlineSource(ctx, stdin, errOut, opts.eval, ns, name, now)
	} else {
		src, err = clusterSource(ctx, errOut, opts, ns, name, now)
	}
	if err != nil {
		return err
	}
	exp, err := explain(ctx, src)
	if err != nil {
		return err
	}
	if opts.output == "json" {
		return writeJSON(out, exp)
	}
	return printExplanation(out, exp)
}

// parseGrantName splits NAMESPACE/NAME and checks both are object names.
func parseGrantName(arg string) (string, string, error) {
	ns, name, ok := strings.Cut(arg, "/")
	if !ok || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("grant %q: name the grant as NAMESPACE/NAME", arg)
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		return "", "", fmt.Errorf("grant %q: namespace %q is not a valid namespace name: %s", arg, ns, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return "", "", fmt.Errorf("grant %q: %q is not a valid object name: %s", arg, name, strings.Join(errs, "; "))
	}
	return ns, name, nil
}

// offlineSource reads the files and sign-ins as eval does, and gathers the
// named grant's input.
func offlineSource(ctx context.Context, stdin io.Reader, errOut io.Writer, opts evalOptions, ns, name string, now time.Time) (*explainSource, error) {
	res, err := loadResources(stdin, opts.files)
	if err != nil {
		return nil, err
	}
	engine, data, err := opts.engine(ctx, res, errOut)
	if err != nil {
		return nil, err
	}
	if err := opts.ingestSignIns(ctx, stdin, errOut, res, data, now); err != nil {
		return nil, err
	}
	g, err := findGrant(res.Grants, ns, name, "in the files")
	if err != nil {
		return nil, err
	}
	in, err := res.Gather(g, now)
	if err != nil {
		return nil, err
	}
	return &explainSource{input: in, engine: engine}, nil
}

// findGrant returns the grant ns/name among grants, or an error naming the
// grants there are; where says where they were looked for.
func findGrant(grants []accessv1alpha1.AccessGrant, ns, name, where string) (*accessv1alpha1.AccessGrant, error) {
	names := make([]string, 0, len(grants))
	for i := range grants {
		g := &grants[i]
		if g.Namespace == ns && g.Name == name {
			return g, nil
		}
		names = append(names, g.Namespace+"/"+g.Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no AccessGrant %s/%s %s; there are no AccessGrants", ns, name, where)
	}
	sort.Strings(names)
	const shown = 20
	more := ""
	if len(names) > shown {
		more = fmt.Sprintf(" and %d more", len(names)-shown)
		names = names[:shown]
	}
	return nil, fmt.Errorf("no AccessGrant %s/%s %s; grants found: %s%s", ns, name, where, strings.Join(names, ", "), more)
}

// maxExceptionLifetime is the engine's exceptions.max_days, the limit its
// decisions applied; an engine that does not say has none.
func maxExceptionLifetime(engine policy.Engine) time.Duration {
	if e, ok := engine.(interface{ MaxExceptionLifetime() time.Duration }); ok {
		return e.MaxExceptionLifetime()
	}
	return 0
}

// decide decides in with the source's engine, wrapping the error with the
// grant's name.
func (s *explainSource) decide(ctx context.Context, in policy.Input) (policy.Decision, error) {
	d, err := s.engine.Decide(ctx, in)
	if err != nil {
		return d, fmt.Errorf("deciding grant %s/%s: %w", in.Grant.Namespace, in.Grant.Name, err)
	}
	return d, nil
}

// offlineNote is the guard's view when the guard is not consulted.
const offlineNote = "not consulted offline: the controller's blast-radius guard may hold a quarantine or revocation this decision asks for"

// checkClusterFlags refuses the flags that need -f.
func (o explainOptions) checkClusterFlags() error {
	if len(o.eval.signIns) > 0 || o.eval.replay || o.eval.enricher != (signals.EnricherOptions{}) {
		return errors.New("--signins, --replay and the enrichment flags add Findings to resources read with -f; against a cluster the ingester's Findings are already there")
	}
	return nil
}

// grantKeyOf is "namespace/name".
func grantKeyOf(g *accessv1alpha1.AccessGrant) string {
	return g.Namespace + "/" + g.Name
}
