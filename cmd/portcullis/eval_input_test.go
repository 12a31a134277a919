package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestEvalPrintInput(t *testing.T) {
	const now = "2026-11-28T12:00:00Z"
	out, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--now", now, "--print-input")
	if err != nil {
		t.Fatalf("eval --print-input: %v\n%s", err, out)
	}
	var all map[string]map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("output is not an object of inputs by grant: %v\n%s", err, out)
	}
	for _, grant := range []string{"contractors/alex-payments-edit", "contractors/jordan-payments-edit", "contractors/casey-payments-edit"} {
		in, ok := all[grant]
		if !ok {
			t.Fatalf("no input for %s: %v", grant, keys(all))
		}
		for _, field := range []string{"now", "now_ns", "contractor", "grant", "system", "findings", "exceptions", "signins"} {
			if _, ok := in[field]; !ok {
				t.Errorf("%s: input lacks %q", grant, field)
			}
		}
		if in["now"] != now {
			t.Errorf("%s: now = %v, want %s", grant, in["now"], now)
		}
	}
	if name := all["contractors/alex-payments-edit"]["grant"].(map[string]any)["metadata"].(map[string]any)["name"]; name != "alex-payments-edit" {
		t.Errorf("grant name = %v", name)
	}

	one, err := run(t, "eval", "-f", samplesDir, "--builtin-policies", "--now", now, "--print-input", "--grant", "contractors/alex-payments-edit")
	if err != nil {
		t.Fatalf("eval --print-input --grant: %v\n%s", err, one)
	}
	var single, want any
	if err := json.Unmarshal([]byte(one), &single); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(all["contractors/alex-payments-edit"])
	_ = json.Unmarshal(raw, &want)
	a, _ := json.Marshal(single)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("--grant printed another input than the one keyed by the grant:\n%s\n%s", a, b)
	}
}

func TestEvalPrintInputErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--grant", "contractors/alex-payments-edit"}, "add --print-input"},
		{[]string{"--print-input", "--grant", "alex-payments-edit"}, "NAMESPACE/NAME"},
		{[]string{"--print-input", "--grant", "contractors/nobody"}, "no AccessGrant"},
	} {
		args := append([]string{"eval", "-f", samplesDir, "--builtin-policies"}, tt.args...)
		out, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want it to contain %q\n%s", tt.args, err, tt.want, out)
		}
	}
}

func keys(m map[string]map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
