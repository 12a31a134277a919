package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/policies"
)

// The default library's files are embedded by package policies, which holds
// only Rego and data; reading them, and any library of the same layout, is
// here.

// Module is one policy module of the library.
type Module struct {
	// Name is the policy's name: the file name without .rego.
	Name string
	// File is the module's file name within the library.
	File string
	// Description is the module's opening comment.
	Description string
	// Source is the Rego source.
	Source string
}

// DefaultModules returns the default library's policy modules (not their
// tests), by name.
func DefaultModules() ([]Module, error) {
	return ReadModules(policies.Files)
}

// ReadModules reads every *.rego file of fsys that is not a *_test.rego.
func ReadModules(fsys fs.FS) ([]Module, error) {
	names, err := fs.Glob(fsys, "*.rego")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var modules []Module
	for _, name := range names {
		if strings.HasSuffix(name, "_test.rego") {
			continue
		}
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		modules = append(modules, Module{
			Name:        strings.TrimSuffix(path.Base(name), ".rego"),
			File:        name,
			Description: firstComment(string(src)),
			Source:      string(src),
		})
	}
	return modules, nil
}

// firstComment joins the comment lines that open a module.
func firstComment(src string) string {
	var parts []string
	for _, line := range strings.Split(src, "\n") {
		c, ok := strings.CutPrefix(line, "#")
		if !ok {
			break
		}
		parts = append(parts, strings.TrimSpace(c))
	}
	return strings.Join(parts, " ")
}

// DefaultData returns the reference data that policies read under
// data.portcullis.
func DefaultData() (map[string]any, error) {
	return ReadLibraryData(policies.Files)
}

// LibraryDataPattern is where a library keeps its reference data: the
// library's directory stands for OPA's data document, so plain `opa test
// DIR` and `opa eval -d DIR` load these files under data.portcullis, as
// Portcullis does.
const LibraryDataPattern = "portcullis/*.yaml"

// legacyDataPatterns are the earlier layouts, YAML files in data/ and in
// data/portcullis/, still read (first, in this order) so that existing
// libraries keep working.
var legacyDataPatterns = []string{"data/*.yaml", "data/portcullis/*.yaml"}

// ReadLibraryData reads a library's reference data: the files of each
// earlier layout and then of portcullis/*.yaml, each set in name order,
// later files merged over earlier ones.
func ReadLibraryData(fsys fs.FS) (map[string]any, error) {
	data := map[string]any{}
	for _, pattern := range append(slices.Clone(legacyDataPatterns), LibraryDataPattern) {
		more, err := ReadData(fsys, pattern)
		if err != nil {
			return nil, err
		}
		data = MergeData(data, more)
	}
	return data, nil
}

// ReadData merges the YAML files of fsys that match pattern, in name order.
func ReadData(fsys fs.FS, pattern string) (map[string]any, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	data := map[string]any{}
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		doc, err := ParseData(name, raw)
		if err != nil {
			return nil, err
		}
		data = MergeData(data, doc)
	}
	return data, nil
}

// ParseData parses one YAML or JSON document of reference data: an object
// whose keys appear under data.portcullis.
func ParseData(source string, raw []byte) (map[string]any, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parsing reference data %s: %w (it must be an object)", source, err)
	}
	return doc, nil
}

// MergeDataFiles merges each YAML or JSON file of reference data over base,
// in order: later files win.
func MergeDataFiles(base map[string]any, files []string) (map[string]any, error) {
	data := base
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading reference data: %w", err)
		}
		override, err := ParseData(f, raw)
		if err != nil {
			return nil, err
		}
		data = MergeData(data, override)
	}
	return data, nil
}

// MergeData deep-merges override into base: objects merge key by key, and
// anything else in override replaces what base has.
func MergeData(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = MergeData(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
