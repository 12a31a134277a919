// Package manifests reads multi-document YAML manifests and applies them
// with server-side apply.
package manifests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Document is one object of a manifest and where it came from.
type Document struct {
	// Source is the file (or other origin) of the manifest.
	Source string
	// Index is the document's position in the source, counting from 0.
	Index int
	// Object is the decoded object.
	Object *unstructured.Unstructured
}

// Where says where the document came from, for error messages.
func (d Document) Where() string {
	return fmt.Sprintf("%s: document %d", d.Source, d.Index)
}

// Decode splits a multi-document YAML (or JSON) stream into objects. Empty
// documents are skipped. Errors name the source and the document's index,
// counting from 0.
func Decode(source string, data []byte) ([]*unstructured.Unstructured, error) {
	docs, err := DecodeDocuments(source, data)
	if err != nil {
		return nil, err
	}
	objs := make([]*unstructured.Unstructured, 0, len(docs))
	for _, d := range docs {
		objs = append(objs, d.Object)
	}
	return objs, nil
}

// DecodeDocuments is Decode that keeps each object's source and index.
func DecodeDocuments(source string, data []byte) ([]Document, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var docs []Document
	for index := 0; ; index++ {
		u := &unstructured.Unstructured{}
		err := decoder.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", source, index, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("%s: document %d: apiVersion and kind are required", source, index)
		}
		docs = append(docs, Document{Source: source, Index: index, Object: u})
	}
}

// DecodeFS decodes every file of fsys that matches pattern, in name order.
func DecodeFS(fsys fs.FS, pattern string) ([]*unstructured.Unstructured, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, fmt.Errorf("matching %s: %w", pattern, err)
	}
	sort.Strings(names)
	var all []*unstructured.Unstructured
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		objs, err := Decode(name, data)
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}

// Apply server-side applies each object in order, as fieldOwner, taking
// ownership of conflicting fields.
func Apply(ctx context.Context, c client.Client, fieldOwner string, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		// A copy: the client writes the server's answer, managedFields and
		// all, into what it applies, and a retry must send the manifest.
		err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj.DeepCopy()),
			client.FieldOwner(fieldOwner), client.ForceOwnership)
		if err != nil {
			return fmt.Errorf("applying %s %s: %w", obj.GetKind(), client.ObjectKeyFromObject(obj), err)
		}
	}
	return nil
}

// Delete deletes each object, those already gone aside, and returns every
// failure.
func Delete(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	var errs []error
	for _, o := range objs {
		if err := c.Delete(ctx, o); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("removing %s %s: %w", o.GetKind(), o.GetName(), err))
		}
	}
	return errors.Join(errs...)
}
