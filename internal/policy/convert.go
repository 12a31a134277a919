package policy

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// converter turns API types straight into OPA values, with the result that
// runtime.DefaultUnstructuredConverter.ToUnstructured followed by
// ast.InterfaceToValue gives, without the maps in between: the same json
// tags (names, omitempty, omitzero, inline), the same custom converters
// (metav1.Time and the like, through structured-merge-diff as apimachinery
// does) and the same numbers. It keeps one plan per struct type.
type converter struct {
	plans sync.Map // reflect.Type -> []fieldPlan
}

// builder converts one input document. It hands out terms from slabs, so
// that a document of many small terms costs an allocation per slab rather
// than one per term.
type builder struct {
	conv *converter
	slab []ast.Term
}

// slabSize is how many terms a builder allocates at once.
const slabSize = 128

func (b *builder) newTerm(v ast.Value) *ast.Term {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]ast.Term, 0, slabSize)
	}
	b.slab = append(b.slab, ast.Term{Value: v})
	return &b.slab[len(b.slab)-1]
}

func (b *builder) str(s string) *ast.Term { return b.newTerm(ast.String(s)) }

// fieldPlan is how one struct field converts.
type fieldPlan struct {
	index     int
	key       *ast.Term // nil for an inlined field
	omitempty bool
	omitzero  func(reflect.Value) bool
}

// term converts v; a nil term stands for "nothing to store" (a nil pointer
// or a custom converter's nil), which a struct field stores as null.
func (b *builder) term(v reflect.Value) (*ast.Term, error) {
	if entry := value.TypeReflectEntryOf(v.Type()); entry.CanConvertToUnstructured() {
		u, err := entry.ToUnstructured(v)
		if err != nil || u == nil {
			return nil, err
		}
		x, err := ast.InterfaceToValue(u)
		if err != nil {
			return nil, err
		}
		return b.newTerm(x), nil
	}
	switch v.Kind() {
	case reflect.Map:
		return b.mapTerm(v)
	case reflect.Slice:
		return b.sliceTerm(v)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil, nil
		}
		return b.term(v.Elem())
	case reflect.Struct:
		obj := ast.NewObjectWithCapacity(len(b.conv.plan(v.Type())))
		if err := b.fill(obj, v); err != nil {
			return nil, err
		}
		return b.newTerm(obj), nil
	}
	return b.scalar(v)
}

// scalar converts a string, a bool or a number: integers as int64, floats
// as float64, as apimachinery does.
func (b *builder) scalar(v reflect.Value) (*ast.Term, error) {
	switch v.Kind() {
	case reflect.String:
		return b.str(v.String()), nil
	case reflect.Bool:
		return ast.InternedTerm(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.InternedTerm(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned value %d does not fit an int64", v.Uint())
		}
		return ast.InternedTerm(int64(v.Uint())), nil
	case reflect.Float32, reflect.Float64:
		x, err := ast.InterfaceToValue(v.Float())
		return b.newTerm(x), err
	}
	return nil, fmt.Errorf("unrecognized type: %v", v.Kind())
}

// orNull is t, or null for nothing.
func orNull(t *ast.Term) *ast.Term {
	if t == nil {
		return ast.InternedNullTerm
	}
	return t
}

func (b *builder) mapTerm(v reflect.Value) (*ast.Term, error) {
	if v.IsNil() {
		return ast.InternedNullTerm, nil
	}
	if v.Type().Key().Kind() != reflect.String {
		return nil, fmt.Errorf("cannot convert a map with %v keys", v.Type().Key())
	}
	obj := ast.NewObjectWithCapacity(v.Len())
	for it := v.MapRange(); it.Next(); {
		t, err := b.term(it.Value())
		if err != nil {
			return nil, err
		}
		obj.Insert(b.str(it.Key().String()), orNull(t))
	}
	return b.newTerm(obj), nil
}

func (b *builder) sliceTerm(v reflect.Value) (*ast.Term, error) {
	if v.IsNil() {
		return ast.InternedNullTerm, nil
	}
	if v.Type().Elem().Kind() == reflect.Uint8 {
		u, err := value.TypeReflectEntryOf(v.Type()).ToUnstructured(v)
		if err != nil {
			return nil, err
		}
		x, err := ast.InterfaceToValue(u)
		return b.newTerm(x), err
	}
	terms := make([]*ast.Term, v.Len())
	for i := range terms {
		t, err := b.term(v.Index(i))
		if err != nil {
			return nil, err
		}
		terms[i] = orNull(t)
	}
	return b.newTerm(ast.NewArray(terms...)), nil
}

// fill inserts the fields of struct v into obj.
func (b *builder) fill(obj ast.Object, v reflect.Value) error {
	for _, f := range b.conv.plan(v.Type()) {
		fv := v.Field(f.index)
		if f.omitempty && isEmpty(fv) || f.omitzero != nil && f.omitzero(fv) {
			continue
		}
		if f.key == nil {
			if err := b.inline(obj, fv); err != nil {
				return err
			}
			continue
		}
		t, err := b.term(fv)
		if err != nil {
			return err
		}
		obj.Insert(f.key, orNull(t))
	}
	return nil
}

// inline merges an inlined struct, or the struct a pointer points to.
func (b *builder) inline(obj ast.Object, v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || value.TypeReflectEntryOf(v.Type()).CanConvertToUnstructured() {
		return fmt.Errorf("cannot inline %v", v.Type())
	}
	return b.fill(obj, v)
}

// plan reads the json tags of struct type t once, as apimachinery does: a
// field named "-" is skipped, an embedded one without a name is inlined.
func (c *converter) plan(t reflect.Type) []fieldPlan {
	if p, ok := c.plans.Load(t); ok {
		return p.([]fieldPlan)
	}
	var plan []fieldPlan
	for i := range t.NumField() {
		sf := t.Field(i)
		parts := strings.Split(sf.Tag.Get("json"), ",")
		name, opts := parts[0], parts[1:]
		if name == "-" {
			continue
		}
		f := fieldPlan{index: i, omitempty: slices.Contains(opts, "omitempty")}
		switch {
		case name != "":
			f.key = ast.StringTerm(name)
		case !sf.Anonymous:
			f.key = ast.StringTerm(sf.Name)
		}
		if slices.Contains(opts, "omitzero") {
			f.omitzero = value.OmitZeroFunc(sf.Type)
		}
		plan = append(plan, f)
	}
	c.plans.Store(t, plan)
	return plan
}

// isEmpty is omitempty's test, as apimachinery applies it: structs are
// never empty.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.String, reflect.Map, reflect.Slice:
		return v.Len() == 0
	case reflect.Bool:
		return !v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return v.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return v.Float() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}
