package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	tests := []struct {
		name      string
		source    string
		wantErrs  []string
		wantPkg   string
		wantNoErr bool
	}{
		{
			name:      "revoke rule",
			source:    "package a.b\n\nrevoke contains {\"msg\": \"x\"} if input.x\n",
			wantPkg:   "data.a.b",
			wantNoErr: true,
		},
		{
			name:      "quarantine rule only",
			source:    "package q\n\nquarantine contains r if {\n\tsome f in input.findings\n\tr := {\"msg\": f.spec.type}\n}\n",
			wantPkg:   "data.q",
			wantNoErr: true,
		},
		{
			name:     "neither rule set",
			source:   "package n\n\nallow := true\n",
			wantErrs: []string{"p: the module defines neither revoke nor quarantine"},
		},
		{
			name:     "syntax error has line and column",
			source:   "package s\n\nrevoke contains r if {\n\tr := {\"msg\": \n}\n",
			wantErrs: []string{"p:5:1: unexpected } token"},
		},
		{
			name:     "unsafe variable has line and column",
			source:   "package u\n\nrevoke contains r if {\n\tr := {\"msg\": nope}\n}\n",
			wantErrs: []string{"p:4:", "nope"},
		},
		{
			name:     "Rego v0 syntax is refused",
			source:   "package v0\n\nrevoke[r] { r := {\"msg\": \"x\"} }\n",
			wantErrs: []string{"p:3:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compiled, err := Compile("p", tt.source)
			if tt.wantNoErr {
				if err != nil {
					t.Fatalf("Compile() error = %v", err)
				}
				if compiled.Package != tt.wantPkg {
					t.Errorf("Package = %q, want %q", compiled.Package, tt.wantPkg)
				}
				if compiled.Revision != Revision(tt.source) || len(compiled.Revision) != 12 {
					t.Errorf("Revision = %q", compiled.Revision)
				}
				return
			}
			var cerr *CompileError
			if !errors.As(err, &cerr) {
				t.Fatalf("Compile() error = %v, want a *CompileError", err)
			}
			for _, want := range tt.wantErrs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestRevisionChangesWithSource(t *testing.T) {
	if Revision("a") == Revision("b") {
		t.Fatal("different sources share a revision")
	}
	if Revision("a") != Revision("a") {
		t.Fatal("the same source has two revisions")
	}
}
