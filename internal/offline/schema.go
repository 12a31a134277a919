package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	celvalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	openapierrors "k8s.io/kube-openapi/pkg/validation/errors"
	"k8s.io/kube-openapi/pkg/validation/strfmt"
	"k8s.io/kube-openapi/pkg/validation/validate"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/config/crd"
)

// kindSchema is what the API server checks a custom resource of one kind
// against on creation: the structural schema of its CRD, the OpenAPI
// validator built from it, and its CEL rules (x-kubernetes-validations).
type kindSchema struct {
	groupKind  schema.GroupKind
	structural *structuralschema.Structural
	validator  *validate.SchemaValidator
	// rules checks the CEL rules; nil when the schema has none.
	rules *celvalidation.Validator
}

// crdSchemas are the schemas of the embedded CRDs, by apiVersion/kind. They
// are read once: they are part of the binary and never change.
var crdSchemas = sync.OnceValues(func() (map[string]*kindSchema, error) {
	return readSchemas(crd.Bases)
})

func readSchemas(fsys fs.FS) (map[string]*kindSchema, error) {
	files, err := fs.Glob(fsys, "bases/*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]*kindSchema{}
	for _, f := range files {
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		c := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(raw, c); err != nil {
			return nil, fmt.Errorf("reading CRD %s: %w", f, err)
		}
		for _, v := range c.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			ks, err := newKindSchema(c, v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, fmt.Errorf("CRD %s version %s: %w", c.Name, v.Name, err)
			}
			out[c.Spec.Group+"/"+v.Name+"/"+c.Spec.Names.Kind] = ks
		}
	}
	return out, nil
}

func newKindSchema(c *apiextensionsv1.CustomResourceDefinition, props *apiextensionsv1.JSONSchemaProps) (*kindSchema, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(props, internal, nil); err != nil {
		return nil, err
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	return &kindSchema{
		groupKind:  schema.GroupKind{Group: c.Spec.Group, Kind: c.Spec.Names.Kind},
		structural: s,
		validator:  validate.NewSchemaValidator(s.ToKubeOpenAPI(), nil, "", strfmt.Default),
		rules:      celvalidation.NewValidator(s, true, celconfig.PerCallLimit),
	}, nil
}

// normalize returns the object as the API server holds it before
// validation: numbers decoded as int64 or float64, schema defaults applied,
// nulls of non-nullable fields without a default dropped. Without a schema
// (a ConfigMap) the object is returned as it is.
func (ks *kindSchema) normalize(obj map[string]any) (map[string]any, error) {
	if ks == nil {
		return obj, nil
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	content := map[string]any{}
	if err := utiljson.Unmarshal(raw, &content); err != nil {
		return nil, err
	}
	applyDefaults(content, ks.structural)
	return content, nil
}

// applyDefaults is the API server's structural defaulting: a missing field,
// or a null one that is not nullable, takes the schema's default; a null
// that is not nullable and has no default is dropped.
func applyDefaults(x any, s *structuralschema.Structural) {
	if s == nil {
		return
	}
	switch x := x.(type) {
	case map[string]any:
		defaultFields(x, s)
		for k, v := range x {
			if prop, ok := s.Properties[k]; ok {
				applyDefaults(v, &prop)
			} else if s.AdditionalProperties != nil {
				applyDefaults(v, s.AdditionalProperties.Structural)
			}
		}
	case []any:
		for _, v := range x {
			applyDefaults(v, s.Items)
		}
	}
}

// defaultFields applies the defaults of an object's own properties.
func defaultFields(x map[string]any, s *structuralschema.Structural) {
	for k, prop := range s.Properties {
		v, found := x[k]
		unset := !found || v == nil && !prop.Nullable
		switch {
		case unset && prop.Default.Object != nil:
			x[k] = runtime.DeepCopyJSONValue(prop.Default.Object)
		case found && v == nil && !prop.Nullable:
			delete(x, k)
		}
	}
}

// validate lists what the API server would refuse in a normalized object:
// unknown fields (matched case-sensitively, unlike encoding/json), values
// against the OpenAPI schema, duplicates in list-type sets and maps, and
// the metadata. Errors are sorted, so the message is stable. It prunes the
// unknown fields from content.
func (ks *kindSchema) validate(content map[string]any) field.ErrorList {
	if ks == nil {
		return nil
	}
	var errs field.ErrorList
	unknown := pruning.PruneWithOptions(content, ks.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range unknown {
		errs = append(errs, field.Forbidden(field.NewPath(path), "unknown field (field names are case-sensitive)"))
	}
	errs = append(errs, openAPIErrors(ks.validator.Validate(content))...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, ks.structural, content)...)
	if ks.rules != nil && len(errs) == 0 {
		// As the API server, with its cost budget, on a create (no old
		// object); only a schema-valid object is given to the rules.
		celErrs, _ := ks.rules.Validate(context.Background(), nil, ks.structural, content, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	meta := &unstructured.Unstructured{Object: content}
	// A namespace is checked when given, never required: kubectl would take
	// it from the context, and the API server drops a cluster-scoped
	// object's.
	errs = append(errs, apivalidation.ValidateObjectMetaAccessor(meta, meta.GetNamespace() != "",
		apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// openAPIErrors turns the validator's result into field errors worded as
// the API server words them (apiextensions-apiserver's
// kubeOpenAPIResultToFieldErrors).
func openAPIErrors(result *validate.Result) field.ErrorList {
	var errs field.ErrorList
	for _, err := range result.Errors {
		var v *openapierrors.Validation
		if !errors.As(err, &v) {
			errs = append(errs, field.Invalid(nil, "", err.Error()))
			continue
		}
		var path *field.Path
		if name := strings.TrimPrefix(v.Name, "."); name != "" {
			path = field.NewPath(name)
		}
		errs = append(errs, openAPIError(path, v))
	}
	return errs
}

func openAPIError(path *field.Path, v *openapierrors.Validation) *field.Error {
	switch v.Code() {
	case openapierrors.RequiredFailCode:
		return field.Required(path, "")
	case openapierrors.EnumFailCode:
		values := make([]string, 0, len(v.Values))
		for _, allowed := range v.Values {
			if s, ok := allowed.(string); ok {
				values = append(values, s)
			} else {
				raw, _ := json.Marshal(allowed)
				values = append(values, string(raw))
			}
		}
		return field.NotSupported(path, v.Value, values)
	case openapierrors.TooLongFailCode:
		limit, _ := v.Valid.(int64)
		return field.TooLong(path, "", int(limit))
	case openapierrors.MaxItemsFailCode:
		actual, _ := v.Value.(int64)
		limit, _ := v.Valid.(int64)
		return field.TooMany(path, int(actual), int(limit))
	case openapierrors.InvalidTypeCode:
		return field.TypeInvalid(path, valueOrEmpty(v.Value), v.Error())
	}
	return field.Invalid(path, valueOrEmpty(v.Value), v.Error())
}

func valueOrEmpty(v any) any {
	if v == nil {
		return ""
	}
	return v
}
