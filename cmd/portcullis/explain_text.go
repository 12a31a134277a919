package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// printExplanation writes the text form of an explanation.
func printExplanation(out io.Writer, e *explanation) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "AccessGrant %s (contractor %s, system %s)\n", e.Grant, e.Contractor, e.System)
	fmt.Fprintf(w, "Decided from the %s at %s, policy revision %s\n\n", e.Source, e.Now.UTC().Format(time.RFC3339), e.Revision)
	fmt.Fprintf(w, "Decision: %s", e.Action)
	if len(e.Policies) > 0 {
		fmt.Fprintf(w, ", by %s", strings.Join(e.Policies, ", "))
	}
	fmt.Fprintln(w)
	printReasons(w, "Reasons", e.Reasons)
	printReasons(w, "Dry-run reasons (not enforced)", e.DryRun)
	printReasons(w, "Warnings (not enforced)", e.Warnings)
	printReasons(w, "Exempted reasons", e.Exempted)
	printRisk(w, e.Risk)
	printExceptions(w, e.Exceptions)
	fmt.Fprintf(w, "\nGuard: %s\n", e.Guard)
	printChanges(w, e.Action, e.Changes)
	if e.Recorded != nil {
		printRecorded(w, e.Recorded)
	}
	return w.Flush()
}

func printReasons(w io.Writer, title string, reasons []explainedReason) {
	if len(reasons) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s:\n", title)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %s [%s]: %s\n", reasonName(r.Reason), r.Severity, r.Message)
		if r.Exception != "" {
			fmt.Fprintf(w, "    set aside by PolicyException %s\n", r.Exception)
		}
		printRestsOn(w, r.RestsOn)
	}
}

func printRestsOn(w io.Writer, items []evidenceItem) {
	if len(items) == 0 {
		fmt.Fprintln(w, "    rests on no Finding or verification check")
		return
	}
	for _, item := range items {
		fmt.Fprintf(w, "    rests on %s (%s) [%s]\n", itemName(item), itemDetails(item), itemBasis(item))
	}
}

// itemDetails lists an item's type, severity or result, key and times.
func itemDetails(item evidenceItem) string {
	parts := []string{item.Type}
	for _, s := range []string{item.Severity, item.Result} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if item.Key != "" {
		parts = append(parts, item.Key)
	}
	if item.Observed != nil {
		parts = append(parts, "observed "+item.Observed.Format(time.RFC3339))
	}
	if item.ExpiresAt != nil {
		parts = append(parts, "expires "+item.ExpiresAt.Format(time.RFC3339))
	}
	return strings.Join(parts, ", ")
}

func itemBasis(item evidenceItem) string {
	var basis []string
	if item.Named {
		basis = append(basis, "named by its evidence")
	}
	if item.Necessary {
		basis = append(basis, "not given without it")
	}
	return strings.Join(basis, "; ")
}

func printRisk(w io.Writer, r explainedRisk) {
	fmt.Fprintf(w, "\nRisk: %s %g", r.Level, r.Score)
	if r.Policy != "" {
		fmt.Fprintf(w, " (policy %s)", r.Policy)
	}
	fmt.Fprintln(w)
	for _, c := range r.Contributions {
		fmt.Fprintf(w, "  %s +%g: %s\n", c.Code, c.Weight, c.Message)
		printRestsOn(w, c.RestsOn)
	}
}

func printExceptions(w io.Writer, exceptions []explainedException) {
	fmt.Fprintln(w, "\nPolicyExceptions:")
	if len(exceptions) == 0 {
		fmt.Fprintln(w, "  none in the grant's namespace")
	}
	for _, x := range exceptions {
		if !x.Applies {
			fmt.Fprintf(w, "  %s (policy %s): does not apply: %s\n", x.Name, x.Policy, x.WhyNot)
			continue
		}
		fmt.Fprintf(w, "  %s (policy %s): applies to the grant\n", x.Name, x.Policy)
		for _, r := range x.Exempts {
			fmt.Fprintf(w, "    sets aside %s\n", r)
		}
		for _, m := range x.DoesNotExempt {
			fmt.Fprintf(w, "    does not set aside %s: it %s\n", m.Reason, m.Why)
		}
	}
}

func printChanges(w io.Writer, action accessv1alpha1.DecisionAction, c outcomeChanges) {
	fmt.Fprintln(w, "\nWhat would change the outcome:")
	if len(c.Reasons) == 0 {
		fmt.Fprintf(w, "  no reason makes the action: it is %s\n", action)
	}
	for _, r := range c.Reasons {
		fmt.Fprintf(w, "  %s:\n", r.Reason)
		for _, s := range r.Resolve {
			fmt.Fprintf(w, "    %s\n", s)
		}
		if r.Note != "" {
			fmt.Fprintf(w, "    %s\n", r.Note)
		}
	}
	for _, s := range c.Scores {
		fmt.Fprintf(w, "  %s/%s: score %g reaches the threshold %g; %s", s.Policy, s.Rule, s.Score, s.Threshold, lowering(s.Score-s.Threshold))
		if len(s.Enough) > 0 {
			fmt.Fprintf(w, "; any one of %s is enough", strings.Join(s.Enough, ", "))
		}
		fmt.Fprintln(w)
	}
	for _, o := range c.WithoutOne {
		fmt.Fprintf(w, "  without %s alone: %s\n", strings.Join(o.Without, ", "), o.Action)
	}
	if a := c.WithoutAll; a != nil {
		fmt.Fprintf(w, "  without all of %s: %s\n", strings.Join(a.Without, ", "), a.Action)
		for _, r := range a.Remaining {
			fmt.Fprintf(w, "    still: %s\n", r)
		}
	}
}

// lowering says how far a score must fall to go below its threshold.
func lowering(over float64) string {
	if over <= 0 {
		return "lowering it at all brings it below"
	}
	return fmt.Sprintf("lowering it by more than %g brings it below", over)
}

func printRecorded(w io.Writer, r *recordedStatus) {
	fmt.Fprintln(w, "\nRecorded by the controller:")
	if r.Action != "" {
		fmt.Fprintf(w, "  decision: %s, policy revision %s", r.Action, r.Revision)
		if r.EvaluatedAt != nil {
			fmt.Fprintf(w, ", since %s", r.EvaluatedAt.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	for _, s := range r.Reasons {
		fmt.Fprintf(w, "  reason: %s\n", s)
	}
	for _, s := range r.DryRun {
		fmt.Fprintf(w, "  dry-run reason: %s\n", s)
	}
	if r.Risk != "" {
		fmt.Fprintf(w, "  risk: %s\n", r.Risk)
	}
	if r.State != "" {
		fmt.Fprintf(w, "  state: %s\n", r.State)
	}
	for _, s := range r.Conditions {
		fmt.Fprintf(w, "  condition %s\n", s)
	}
	if len(r.Differences) == 0 {
		fmt.Fprintln(w, "  the fresh decision is the recorded one")
	}
	for _, s := range r.Differences {
		fmt.Fprintf(w, "  differs: %s\n", s)
	}
}
