package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// inputAnnotation is the package-scoped METADATA block with which a module
// names the input schema, as the default library's modules do: lines 1-6.
const inputAnnotation = "# METADATA\n# title: Annotated\n# description: A policy type-checked against schema.input.\n# scope: package\n# schemas:\n#   - input: schema.input\n"

// annotated is a policy with the annotation: its package is on line 7 and
// its rule body on line 9.
func annotated(body string) string {
	return inputAnnotation + "package annotated\n\nquarantine contains {\"msg\": \"m\"} if " + body + "\n"
}

func TestAnnotatedModuleCompiles(t *testing.T) {
	e := newTestEngine(t, Options{})
	mustUpsert(t, e, Policy{Name: "p", Source: annotated(`{ some f in input.findings; f.spec.evidence.country == "KP" }`)})
	d, err := e.Decide(context.Background(), testInput(finding("geolocation", "KP")))
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != accessv1alpha1.ActionQuarantine {
		t.Errorf("the annotated policy did not decide: %+v", d)
	}
	// Other annotations, without schemas, are no concern of the engine.
	mustUpsert(t, e, Policy{Name: "titled", Source: "# METADATA\n# title: Titled\npackage titled\n\nquarantine contains {\"msg\": \"m\"} if input.now == \"x\"\n"})
}

func TestAnnotatedModuleTypeErrors(t *testing.T) {
	tests := map[string]struct{ body, want string }{
		"field the schema forbids": {`input.grant.spec.nonexistent_field == "x"`, "p:9:37: undefined ref: input.grant.spec.nonexistent_field"},
		"wrong type":               {`input.grant.spec.justification == 5`, "p:9:37: match error"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newTestEngine(t, Options{})
			_, err := e.Upsert(context.Background(), Policy{Name: "p", Source: annotated(tt.body)})
			var cerr *CompileError
			if !errors.As(err, &cerr) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Upsert() = %v, want a CompileError containing %q", err, tt.want)
			}
		})
	}
}

// The engine reads no annotation: input is typed against the input schema
// whatever a module's comments say. An inline schema cannot loosen that, and
// a METADATA block that OPA would refuse does not break a policy that
// compiled before annotations were read anywhere.
func TestTheEngineIgnoresAnnotations(t *testing.T) {
	const field = `input.grant.spec.nonexistent_field == "x"`
	for name, src := range map[string]string{
		"inline schema for input":       strings.Replace(annotated(field), "- input: schema.input", "- input: {}", 1),
		"inline schema for input.grant": strings.Replace(annotated(field), "- input: schema.input", `- input.grant: {"type": "object"}`, 1),
		"unknown schema":                strings.Replace(annotated(field), "- input: schema.input", "- input: schema.nope", 1),
	} {
		e := newTestEngine(t, Options{})
		_, err := e.Upsert(context.Background(), Policy{Name: "p", Source: src})
		if err == nil || !strings.Contains(err.Error(), "undefined ref: input.grant.spec.nonexistent_field") {
			t.Errorf("%s: Upsert() = %v, want the field refused by the input schema", name, err)
		}
	}
	e := newTestEngine(t, Options{})
	for name, src := range map[string]string{
		"malformed":         "# METADATA\n# title: [unclosed\npackage p\n\nquarantine contains {\"msg\": \"m\"} if input.now == \"x\"\n",
		"orphan at the end": "package p\n\nquarantine contains {\"msg\": \"m\"} if input.now == \"x\"\n\n# METADATA\n# title: nothing follows\n",
	} {
		if _, err := e.Upsert(context.Background(), Policy{Name: "p", Source: src}); err != nil {
			t.Errorf("%s: Upsert() = %v, want the policy to compile as before", name, err)
		}
	}
}

// `portcullis test` reads annotations as `opa test --schema` does, and
// refuses every schema annotation but `input: schema.input`.
func TestRegoTestsRefuseOtherSchemaAnnotations(t *testing.T) {
	for replacement, want := range map[string]string{
		"- input: schema.nope":              "p:1:1: the METADATA annotation gives input the schema schema.nope: Portcullis has one schema, for the whole input: write `- input: schema.input`",
		"- input: {}":                       "p:1:1: the METADATA annotation gives input an inline schema",
		`- input.grant: {"type": "object"}`: "p:1:1: the METADATA annotation gives input.grant an inline schema",
		"- data.portcullis: schema.input":   "p:1:1: the METADATA annotation gives data.portcullis the schema schema.input",
	} {
		src := strings.Replace(annotated(`input.now == "x"`), "- input: schema.input", replacement, 1)
		_, err := RunRegoTests(context.Background(), map[string]string{"p": src}, nil)
		var cerr *CompileError
		if !errors.As(err, &cerr) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: RunRegoTests() = %v, want a CompileError containing %q", replacement, err, want)
		}
	}
}

// The Rego unit tests type-check an annotated module against the input
// schema, as `opa test --schema docs/schemas` does, and a module without
// the annotation as before: not against it.
func TestRegoTestsHonourTheAnnotation(t *testing.T) {
	const tests = "package annotated_test\n\nimport data.annotated\n\ntest_nothing if count(annotated.quarantine) == 0 with input as {}\n"
	body := `input.grant.spec.nonexistent_field == "x"`
	_, err := RunRegoTests(context.Background(), map[string]string{"p.rego": annotated(body), "p_test.rego": tests}, nil)
	var cerr *CompileError
	if want := "p.rego:9:37: undefined ref: input.grant.spec.nonexistent_field"; !errors.As(err, &cerr) || !strings.Contains(err.Error(), want) {
		t.Fatalf("RunRegoTests() = %v, want a CompileError containing %q", err, want)
	}
	plain := strings.Replace(annotated(body), inputAnnotation, "", 1)
	cases, err := RunRegoTests(context.Background(), map[string]string{"p.rego": plain, "p_test.rego": tests}, nil)
	if err != nil || len(cases) != 1 || cases[0].Failed {
		t.Fatalf("RunRegoTests() of the module without the annotation = %+v, %v; want one passing test", cases, err)
	}
}

// The default library's modules name the input schema, so that
// `opa check --schema docs/schemas` type-checks them as Portcullis does.
func TestLibraryModulesAnnotateTheInputSchema(t *testing.T) {
	modules, err := DefaultModules()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range modules {
		module, err := ast.ParseModuleWithOpts(m.File, m.Source, annotationParserOptions)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range module.Annotations {
			for _, s := range a.Schemas {
				if a.Scope == "package" && s.Path.Equal(ast.InputRootRef) && s.Schema.Equal(inputSchemaRef) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("%s has no package-scoped METADATA annotation `schemas: - input: %s`", m.File, inputSchemaName)
		}
	}
}
