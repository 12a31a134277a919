package policy

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// converter turns API types straight into OPA values, with the result that
// runtime.DefaultUnstructuredConverter.ToUnstructured followed by
// ast.InterfaceToValue gives, without the maps in between: the same json
// tags (names, omitempty, omitzero, inline), the same custom converters
// (metav1.Time and the like, through structured-merge-diff as apimachinery
// does) and the same numbers. It keeps one plan per struct type.
type converter struct {
	plans sync.Map // reflect.Type -> *structPlan
}

// builder converts one input document. It hands out terms from slabs, so
// that a document of many small terms costs an allocation per slab rather
// than one per term, and gathers each object's items on a stack before
// making the object at once (objectOf).
type builder struct {
	conv  *converter
	slab  []ast.Term
	elems []*ast.Term
	items [][2]*ast.Term
}

// newBuilder returns a builder with room for the items of a document's
// objects, which it reuses from one object to the next.
func (c *converter) newBuilder() *builder {
	return &builder{conv: c, items: make([][2]*ast.Term, 0, 32)}
}

// termSlab is how many terms a builder allocates at once, and elemSlab
// how many array elements: a document without findings takes about 50
// terms and 5 elements, and what a slab holds beyond is garbage at once.
const (
	termSlab = 64
	elemSlab = 32
)

func (b *builder) newTerm(v ast.Value) *ast.Term {
	if len(b.slab) == cap(b.slab) {
		b.slab = make([]ast.Term, 0, termSlab)
	}
	b.slab = append(b.slab, ast.Term{Value: v})
	return &b.slab[len(b.slab)-1]
}

// int is i as a term: OPA's interned one for a small number.
func (b *builder) int(i int64) *ast.Term {
	if ast.HasInternedValue(i) {
		return ast.InternedTerm(i)
	}
	return b.newTerm(ast.InternedValue(i))
}

// array returns room for an array's n elements, from a slab when n is
// small. Its capacity is n, so that appending to the array copies it
// rather than writing over the next array's elements.
func (b *builder) array(n int) []*ast.Term {
	if n > elemSlab/4 {
		return make([]*ast.Term, n)
	}
	if cap(b.elems)-len(b.elems) < n {
		b.elems = make([]*ast.Term, 0, elemSlab)
	}
	start := len(b.elems)
	b.elems = b.elems[:start+n]
	return b.elems[start : start+n : start+n]
}

// str is s as a term; the empty string, common in specs, is OPA's interned one.
func (b *builder) str(s string) *ast.Term {
	if s == "" {
		return ast.InternedEmptyString
	}
	return b.newTerm(ast.String(s))
}

// push adds an item to the object under construction.
func (b *builder) push(key, value *ast.Term) { b.items = append(b.items, [2]*ast.Term{key, value}) }

// objectOf makes the object of the items pushed since mark, and pops them.
// ast.NewObject holds all its items in one allocation, where inserting
// them one by one costs one each. Its items must have distinct keys; with
// repeats set (an inlined struct, or a struct whose tags repeat a name)
// a later item takes an earlier one's place, as Insert would do.
func (b *builder) objectOf(mark int, repeats bool) *ast.Term {
	items := b.items[mark:]
	if repeats {
		items = lastWins(items)
	}
	t := b.newTerm(ast.NewObject(items...))
	b.items = b.items[:mark]
	return t
}

// lastWins keeps the first position and the last value of each key.
func lastWins(items [][2]*ast.Term) [][2]*ast.Term {
	out := items[:0]
next:
	for _, it := range items {
		for i := range out {
			if out[i][0].Equal(it[0]) {
				out[i][1] = it[1]
				continue next
			}
		}
		out = append(out, it)
	}
	return out
}

// structPlan is how one struct type converts: its fields, and whether
// their keys may repeat (objectOf).
type structPlan struct {
	fields  []fieldPlan
	repeats bool
}

var timeType = reflect.TypeFor[metav1.Time]()

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
	if v.Type() == timeType {
		// The input's most common custom converter, applied here as
		// metav1.Time.ToUnstructured does, without boxing the time and
		// its text in interfaces on the way.
		t, _ := reflect.TypeAssert[metav1.Time](v)
		if t.IsZero() {
			return nil, nil
		}
		return b.str(t.UTC().Format(time.RFC3339)), nil
	}
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
		mark := len(b.items)
		if err := b.fill(v); err != nil {
			return nil, err
		}
		return b.objectOf(mark, b.conv.plan(v.Type()).repeats), nil
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
		return b.int(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() > math.MaxInt64 {
			return nil, fmt.Errorf("unsigned value %d does not fit an int64", v.Uint())
		}
		return b.int(int64(v.Uint())), nil
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
	mark := len(b.items)
	for it := v.MapRange(); it.Next(); {
		t, err := b.term(it.Value())
		if err != nil {
			return nil, err
		}
		b.push(b.str(it.Key().String()), orNull(t))
	}
	return b.objectOf(mark, false), nil
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
	terms := b.array(v.Len())
	for i := range terms {
		t, err := b.term(v.Index(i))
		if err != nil {
			return nil, err
		}
		terms[i] = orNull(t)
	}
	return b.newTerm(ast.NewArray(terms...)), nil
}

// fill pushes the fields of struct v as items of the object under
// construction.
func (b *builder) fill(v reflect.Value) error {
	for _, f := range b.conv.plan(v.Type()).fields {
		fv := v.Field(f.index)
		if f.omitempty && isEmpty(fv) || f.omitzero != nil && f.omitzero(fv) {
			continue
		}
		if f.key == nil {
			if err := b.inline(fv); err != nil {
				return err
			}
			continue
		}
		t, err := b.term(fv)
		if err != nil {
			return err
		}
		b.push(f.key, orNull(t))
	}
	return nil
}

// inline merges an inlined struct, or the struct a pointer points to.
func (b *builder) inline(v reflect.Value) error {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct || value.TypeReflectEntryOf(v.Type()).CanConvertToUnstructured() {
		return fmt.Errorf("cannot inline %v", v.Type())
	}
	return b.fill(v)
}

// plan reads the json tags of struct type t once, as apimachinery does: a
// field named "-" is skipped, an embedded one without a name is inlined.
func (c *converter) plan(t reflect.Type) *structPlan {
	if p, ok := c.plans.Load(t); ok {
		return p.(*structPlan)
	}
	plan := &structPlan{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		parts := strings.Split(sf.Tag.Get("json"), ",")
		name, opts := parts[0], parts[1:]
		if name == "-" {
			continue
		}
		if name == "" && !sf.Anonymous {
			name = sf.Name
		}
		f := fieldPlan{index: i, omitempty: slices.Contains(opts, "omitempty")}
		if name != "" {
			f.key = ast.StringTerm(name)
		}
		if slices.Contains(opts, "omitzero") {
			f.omitzero = value.OmitZeroFunc(sf.Type)
		}
		// An inlined struct's keys may be any; a name may be tagged twice.
		plan.repeats = plan.repeats || name == "" || seen[name]
		seen[name] = true
		plan.fields = append(plan.fields, f)
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
