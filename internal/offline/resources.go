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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

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
	// SignInSources are checked against their CRD; decisions do not read
	// them.
	SignInSources []accessv1alpha1.SignInSource
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
		if err := res.AddPath(p); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// AddPath reads a file, or every .yaml, .yml and .json file of a directory
// (recursively), into the resources.
func (r *Resources) AddPath(path string) error {
	files, err := manifestFiles(path)
	if err != nil {
		return err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("reading %s: %w", f, err)
		}
		if err := r.AddManifest(f, data); err != nil {
			return err
		}
	}
	return nil
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

// AddManifest decodes a multi-document manifest into the resources. Each
// object of a Portcullis kind is checked as the API server would check it on
// creation (see kindSchema); unknown kinds, unknown fields and invalid objects
// are errors that name the source and document.
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
	if doc.Object.GetAPIVersion() == "v1" && doc.Object.GetKind() == "List" {
		return r.addList(doc)
	}
	return r.addObject(doc.Where(), doc.Object)
}

// addList adds the items of a v1 List, what kubectl get -o yaml prints.
// A List inside a List is an unknown kind.
func (r *Resources) addList(doc manifests.Document) error {
	items, _, err := unstructured.NestedSlice(doc.Object.Object, "items")
	if err != nil {
		return fmt.Errorf("%s: %w", doc.Where(), err)
	}
	for i, item := range items {
		where := fmt.Sprintf("%s: items[%d]", doc.Where(), i)
		m, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: an item is an object with apiVersion and kind, not %T", where, item)
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" {
			return fmt.Errorf("%s: apiVersion and kind are required", where)
		}
		if err := r.addObject(where, obj); err != nil {
			return err
		}
	}
	return nil
}

// addObject adds one object; where names it in errors.
func (r *Resources) addObject(where string, obj *unstructured.Unstructured) error {
	key := obj.GetAPIVersion() + "/" + obj.GetKind()
	if ignoredKinds[key] {
		return nil
	}
	target, appendTo := r.slot(key)
	if target == nil {
		return fmt.Errorf("%s: unknown kind %s %s: Portcullis reads Contractor, AccessGrant, AccessPolicy, ConnectedSystem, Finding, PolicyException and SignInSource of %s (and ConfigMaps and v1 Lists of them)",
			where, obj.GetAPIVersion(), obj.GetKind(), accessv1alpha1.GroupVersion)
	}
	if err := decode(obj, target); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	appendTo()
	return nil
}

// decode checks obj against its kind's CRD, if it has one, and decodes it
// into target. Unknown fields come first, as in the API server's strict
// decoding: encoding/json's error for an exact name, a schema error for a
// name of another case (which encoding/json would take). Then every schema
// error at once, then what is left of the typed decoding's errors.
func decode(obj *unstructured.Unstructured, target any) error {
	schemas, err := crdSchemas()
	if err != nil {
		return err
	}
	ks := schemas[obj.GetAPIVersion()+"/"+obj.GetKind()]
	content, err := ks.normalize(obj.Object)
	if err != nil {
		return fmt.Errorf("%s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return fmt.Errorf("%s %q: %w", obj.GetKind(), obj.GetName(), err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(target)
	if decodeErr != nil && strings.HasPrefix(decodeErr.Error(), "json: unknown field ") {
		return fmt.Errorf("%s %q: %w", obj.GetKind(), obj.GetName(), decodeErr)
	}
	if errs := ks.validate(content); len(errs) > 0 {
		return apierrors.NewInvalid(ks.groupKind, obj.GetName(), errs)
	}
	if decodeErr != nil {
		return fmt.Errorf("%s %q: %w", obj.GetKind(), obj.GetName(), decodeErr)
	}
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
	case gv + "SignInSource":
		o := &accessv1alpha1.SignInSource{}
		return o, func() { r.SignInSources = append(r.SignInSources, *o) }
	case "v1/ConfigMap":
		o := &corev1.ConfigMap{}
		return o, func() { r.ConfigMaps = append(r.ConfigMaps, *o) }
	}
	return nil, nil
}
