package oktaserver

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// filterExpr is a parsed Okta (SCIM-style) filter or search expression:
// attribute paths compared with eq, ne, sw, co, ew, gt, ge, lt, le or tested
// with pr, combined with and, or, not and parentheses. Attribute names are
// case-sensitive; operators and string values are not.
type filterExpr func(obj map[string]any) bool

type filterToken struct {
	kind string // "word", "string", "(", ")"
	text string
}

func lexFilter(src string) ([]filterToken, error) {
	var toks []filterToken
	for i := 0; i < len(src); {
		switch c := src[i]; c {
		case ' ', '\t', '\n', '+':
			i++
		case '(', ')':
			toks = append(toks, filterToken{kind: string(c)})
			i++
		case '"':
			text, next, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, filterToken{kind: "string", text: text})
			i = next
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\n()\"", rune(src[j])) {
				j++
			}
			toks = append(toks, filterToken{kind: "word", text: src[i:j]})
			i = j
		}
	}
	return toks, nil
}

// lexString reads the quoted string starting at src[i] and returns its
// text and the index after the closing quote.
func lexString(src string, i int) (string, int, error) {
	var b strings.Builder
	j := i + 1
	for ; j < len(src) && src[j] != '"'; j++ {
		if src[j] == '\\' && j+1 < len(src) {
			j++
		}
		b.WriteByte(src[j])
	}
	if j >= len(src) {
		return "", 0, errors.New("unterminated string")
	}
	return b.String(), j + 1, nil
}

type filterParser struct {
	toks []filterToken
	pos  int
}

func parseFilter(src string) (filterExpr, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, errors.New("empty filter")
	}
	p := &filterParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.pos != len(p.toks) {
		return nil, fmt.Errorf("unexpected %q", p.toks[p.pos].text)
	}
	return e, nil
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == "word" && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser) or() (filterExpr, error) {
	left, err := p.and()
	for err == nil && p.peekWord("or") {
		p.pos++
		var right filterExpr
		if right, err = p.and(); err == nil {
			l := left
			left = func(o map[string]any) bool { return l(o) || right(o) }
		}
	}
	return left, err
}

func (p *filterParser) and() (filterExpr, error) {
	left, err := p.unary()
	for err == nil && p.peekWord("and") {
		p.pos++
		var right filterExpr
		if right, err = p.unary(); err == nil {
			l := left
			left = func(o map[string]any) bool { return l(o) && right(o) }
		}
	}
	return left, err
}

func (p *filterParser) unary() (filterExpr, error) {
	if p.pos >= len(p.toks) {
		return nil, errors.New("unexpected end of filter")
	}
	if p.peekWord("not") {
		p.pos++
		inner, err := p.unary()
		if err != nil {
			return nil, err
		}
		return func(o map[string]any) bool { return !inner(o) }, nil
	}
	if p.toks[p.pos].kind == "(" {
		p.pos++
		inner, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.pos >= len(p.toks) || p.toks[p.pos].kind != ")" {
			return nil, errors.New("missing )")
		}
		p.pos++
		return inner, nil
	}
	return p.comparison()
}

func (p *filterParser) comparison() (filterExpr, error) {
	if p.pos+1 >= len(p.toks) || p.toks[p.pos].kind != "word" || p.toks[p.pos+1].kind != "word" {
		return nil, errors.New("expected attribute and operator")
	}
	path, op := p.toks[p.pos].text, strings.ToLower(p.toks[p.pos+1].text)
	p.pos += 2
	if op == "pr" {
		return func(o map[string]any) bool { v, ok := lookupPath(o, path); return ok && v != nil }, nil
	}
	if p.pos >= len(p.toks) {
		return nil, errors.New("missing value")
	}
	want, err := parseValue(p.toks[p.pos])
	if err != nil {
		return nil, err
	}
	p.pos++
	cmp, ok := comparators[op]
	if !ok {
		return nil, fmt.Errorf("unsupported operator %q", op)
	}
	return func(o map[string]any) bool {
		v, _ := lookupPath(o, path)
		return cmp(v, want)
	}, nil
}

// parseValue is the value of a comparison: a string, true, false, null or
// a number.
func parseValue(tok filterToken) (any, error) {
	switch {
	case tok.kind == "string":
		return tok.text, nil
	case tok.kind != "word":
		return nil, errors.New("bad value")
	case tok.text == "true" || tok.text == "false":
		return tok.text == "true", nil
	case tok.text == "null":
		return nil, nil
	}
	f, err := strconv.ParseFloat(tok.text, 64)
	if err != nil {
		return nil, fmt.Errorf("bad value %q", tok.text)
	}
	return f, nil
}

var comparators = map[string]func(have, want any) bool{
	"eq": func(h, w any) bool { return compareValues(h, w) == 0 },
	"ne": func(h, w any) bool { return compareValues(h, w) != 0 },
	"gt": func(h, w any) bool { return ordered(h, w) && compareValues(h, w) > 0 },
	"ge": func(h, w any) bool { return ordered(h, w) && compareValues(h, w) >= 0 },
	"lt": func(h, w any) bool { return ordered(h, w) && compareValues(h, w) < 0 },
	"le": func(h, w any) bool { return ordered(h, w) && compareValues(h, w) <= 0 },
	"sw": stringOp(strings.HasPrefix),
	"ew": stringOp(strings.HasSuffix),
	"co": stringOp(strings.Contains),
}

func stringOp(f func(s, sub string) bool) func(h, w any) bool {
	return func(h, w any) bool {
		hs, ok1 := h.(string)
		ws, ok2 := w.(string)
		return ok1 && ok2 && f(strings.ToLower(hs), strings.ToLower(ws))
	}
}

func ordered(h, w any) bool {
	switch h.(type) {
	case string:
		_, ok := w.(string)
		return ok
	case float64:
		_, ok := w.(float64)
		return ok
	}
	return false
}

// compareValues compares JSON values: -1, 0 or 1; 2 when incomparable.
func compareValues(h, w any) int {
	switch hv := h.(type) {
	case string:
		if wv, ok := w.(string); ok {
			return strings.Compare(strings.ToLower(hv), strings.ToLower(wv))
		}
	case float64:
		if wv, ok := w.(float64); ok {
			switch {
			case hv < wv:
				return -1
			case hv > wv:
				return 1
			}
			return 0
		}
	case bool:
		if wv, ok := w.(bool); ok && hv == wv {
			return 0
		}
	case nil:
		if w == nil {
			return 0
		}
	}
	return 2
}

// lookupPath resolves a dotted attribute path in a decoded JSON object.
func lookupPath(o map[string]any, path string) (any, bool) {
	var cur any = o
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}
