package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/portcullis-dev/portcullis/internal/policy"
)

// dataFlags are the reference-data options shared by eval, test and manager.
type dataFlags struct {
	files []string
}

func (d *dataFlags) bind(fs *pflag.FlagSet) {
	fs.StringArrayVar(&d.files, "data", nil,
		"YAML or JSON file of reference data merged over the defaults under data.portcullis (repeatable; later files win).")
}

// load merges the files over base.
func (d *dataFlags) load(base map[string]any) (map[string]any, error) {
	data, err := policy.MergeDataFiles(base, d.files)
	if err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	return data, nil
}

// libraryFrom reads the policy modules and data of a library directory.
func libraryFrom(dir string) ([]policy.Module, map[string]any, error) {
	fsys := os.DirFS(dir)
	modules, err := policy.ReadModules(fsys)
	if err != nil {
		return nil, nil, fmt.Errorf("reading policies from %s: %w", dir, err)
	}
	data, err := policy.ReadLibraryData(fsys)
	if err != nil {
		return nil, nil, fmt.Errorf("reading data of %s: %w", dir, err)
	}
	for i := range modules {
		modules[i].File = filepath.Join(dir, modules[i].File)
	}
	return modules, data, nil
}
