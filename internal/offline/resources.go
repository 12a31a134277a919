// Package offline decides grants from YAML files, without a cluster: it
// loads resources of the six kinds, gathers each grant's input the way the
// controller does, and asks the same policy engine.
package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
	"github.com/portcullis-dev/portcullis/internal/manifests"
)

// Resources are the objects read from files, by kind.
type Resources struct {
	Contractors      []accessv1alpha1.Contractor
	Grants           []accessv1alpha1.AccessGrant
	Policies         []accessv1alpha1.AccessPolicy
	Systems          []accessv1alpha1.ConnectedSystem
	Findings         []accessv1alpha1.Finding
	PolicyExceptions []accessv1alpha1.PolicyException
	// ConfigMaps can hold the source of AccessPolicies (spec.regoFrom).
	ConfigMaps []corev1.ConfigMap
}

// ignoredKinds are core kinds that often sit beside Portcullis resources
// (the samples create Namespaces); they are read past without error.
var ignoredKinds = map[string]bool{"v1/Namespace": true, "v1/Secret": true}

// LoadPaths reads every .yaml, .yml and .json file of the given files and
// directories (recursively).
func LoadPaths(paths ...string) (*Resources, error) {
	res := &Resources{}
	for _, p := range paths {
		files, err := manifestFiles(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", f, err)
			}
			if err := res.AddManifest(f, data); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

func manifestFiles(path string) ([]string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() && d.Name() != "kustomization.yaml" {
				files = append(files, p)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", path, err)
	}
	sort.Strings(files)
	return files, nil
}

// AddManifest decodes a multi-document manifest into the resources. Unknown
// kinds and unknown fields are errors that name the source and document.
func (r *Resources) AddManifest(source string, data []byte) error {
	docs, err := manifests.DecodeDocuments(source, data)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if err := r.add(doc); err != nil {
			return err
		}
	}
	return nil
}

func (r *Resources) add(doc manifests.Document) error {
	obj := doc.Object
	key := obj.GetAPIVersion() + "/" + obj.GetKind()
	if ignoredKinds[key] {
		return nil
	}
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return fmt.Errorf("%s: %w", doc.Where(), err)
	}
	target, appendTo := r.slot(key)
	if target == nil {
		return fmt.Errorf("%s: unknown kind %s %s: Portcullis reads Contractor, AccessGrant, AccessPolicy, ConnectedSystem, Finding and PolicyException of %s (and ConfigMaps)",
			doc.Where(), obj.GetAPIVersion(), obj.GetKind(), accessv1alpha1.GroupVersion)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return fmt.Errorf("%s: %s %q: %w", doc.Where(), obj.GetKind(), obj.GetName(), err)
	}
	appendTo()
	return nil
}

// slot returns a fresh object of the kind and a function that appends it.
func (r *Resources) slot(key string) (any, func()) {
	gv := accessv1alpha1.GroupVersion.String() + "/"
	switch key {
	case gv + "Contractor":
		o := &accessv1alpha1.Contractor{}
		return o, func() { r.Contractors = append(r.Contractors, *o) }
	case gv + "AccessGrant":
		o := &accessv1alpha1.AccessGrant{}
		return o, func() { r.Grants = append(r.Grants, *o) }
	case gv + "AccessPolicy":
		o := &accessv1alpha1.AccessPolicy{}
		return o, func() { r.Policies = append(r.Policies, *o) }
	case gv + "ConnectedSystem":
		o := &accessv1alpha1.ConnectedSystem{}
		return o, func() { r.Systems = append(r.Systems, *o) }
	case gv + "Finding":
		o := &accessv1alpha1.Finding{}
		return o, func() { r.Findings = append(r.Findings, *o) }
	case gv + "PolicyException":
		o := &accessv1alpha1.PolicyException{}
		return o, func() { r.PolicyExceptions = append(r.PolicyExceptions, *o) }
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		return o, func() { r.ConfigMaps = append(r.ConfigMaps, *o) }
	}
	return nil, nil
}
