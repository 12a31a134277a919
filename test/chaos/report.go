package chaos

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one scenario's line in the suite's table.
type Row struct {
	Scenario string
	// Faults says what was injected, e.g. "21 manager SIGKILLs".
	Faults string
	// Expected and Applied count transitions; Lost = Expected - Applied.
	Expected, Applied int
	// Duplicated counts transitions a receiver applied twice.
	Duplicated int
	// Latency is the healthy system's latency, where the scenario measures it.
	Latency string
	// Problems explain a failure; empty means the scenario passed.
	Problems []string
	// Notes are worth knowing but fail nothing.
	Notes []string
	// Skipped says why the scenario did not run.
	Skipped string
}

// Lost is the number of expected transitions not applied.
func (r Row) Lost() int { return r.Expected - r.Applied }

// Verdict is PASS, FAIL or SKIP.
func (r Row) Verdict() string {
	switch {
	case r.Skipped != "":
		return "SKIP"
	case len(r.Problems) > 0:
		return "FAIL"
	}
	return "PASS"
}

// Fail records a problem.
func (r *Row) Fail(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Note records something worth knowing.
func (r *Row) Note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// PrintTable writes the table, then each scenario's problems and notes.
func PrintTable(w io.Writer, rows []Row) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFAULTS INJECTED\tEXPECTED\tAPPLIED\tLOST\tDUPLICATED\tHEALTHY SYSTEM LATENCY\tRESULT")
	for _, r := range rows {
		latency := r.Latency
		if latency == "" {
			latency = "-"
		}
		expected, applied, lost, dup := "-", "-", "-", "-"
		if r.Skipped == "" {
			expected, applied = strconv.Itoa(r.Expected), strconv.Itoa(r.Applied)
			lost, dup = strconv.Itoa(r.Lost()), strconv.Itoa(r.Duplicated)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Scenario, r.Faults, expected, applied, lost, dup, latency, r.Verdict())
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.Skipped != "" {
			fmt.Fprintf(w, "\n%s: skipped: %s\n", r.Scenario, r.Skipped)
		}
		if len(r.Problems) == 0 && len(r.Notes) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", r.Scenario)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  FAIL: %s\n", oneLine(p))
		}
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  note: %s\n", oneLine(n))
		}
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}

// ListSome returns up to n items and how many more there are.
func ListSome(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:n], "; "), len(items)-n)
}
