package graphserver

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// clause is one "<property> <op> <literal>" comparison of a $filter.
type clause struct {
	prop   string
	op     string
	value  string
	quoted bool
}

// parseFilter reads the $filter subset the fake supports: comparisons joined
// by "and", with optional parentheses, string literals in single quotes
// (a doubled quote escapes a quote) and other literals (dates, numbers,
// booleans) bare.
func parseFilter(f string) ([]clause, error) {
	toks, err := tokenize(f)
	if err != nil {
		return nil, err
	}
	var out []clause
	for i := 0; i < len(toks); {
		if i > 0 {
			if !strings.EqualFold(toks[i].text, "and") || toks[i].quoted {
				return nil, fmt.Errorf("unsupported operator %q; only 'and' is supported", toks[i].text)
			}
			i++
		}
		if i+3 > len(toks) {
			return nil, errors.New("incomplete comparison")
		}
		c := clause{prop: toks[i].text, op: strings.ToLower(toks[i+1].text), value: toks[i+2].text, quoted: toks[i+2].quoted}
		switch c.op {
		case "eq", "ne", "gt", "ge", "lt", "le":
		default:
			return nil, fmt.Errorf("unsupported operator %q", toks[i+1].text)
		}
		out = append(out, c)
		i += 3
	}
	if len(out) == 0 {
		return nil, errors.New("empty filter")
	}
	return out, nil
}

type token struct {
	text   string
	quoted bool
}

func tokenize(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		switch s[i] {
		case ' ', '(', ')':
			i++
		case '\'':
			lit, next, err := readQuoted(s, i+1)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{text: lit, quoted: true})
			i = next
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" ()'", rune(s[j])) {
				j++
			}
			toks = append(toks, token{text: s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// readQuoted reads a string literal's body from s[i:] up to its closing
// quote, returning the literal and the index after the quote.
func readQuoted(s string, i int) (string, int, error) {
	var b strings.Builder
	for i < len(s) {
		if s[i] != '\'' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteByte('\'')
			i += 2
			continue
		}
		return b.String(), i + 1, nil
	}
	return "", 0, errors.New("unterminated string literal")
}

// pageSize reads $top: def when absent, 400 when not in 1..maxTop.
func (rc *reqCtx) pageSize(def, maxTop int) (int, bool) {
	v := rc.r.URL.Query().Get("$top")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxTop {
		rc.graphError(http.StatusBadRequest, "Request_BadRequest",
			fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxTop))
		return 0, false
	}
	return n, true
}

// selectProps applies $select to a resource: only the named properties are
// returned; an unknown name is a 400 as in Graph.
func (rc *reqCtx) selectProps(typ, sel string, full map[string]any, defaults []string) (map[string]any, bool) {
	names := defaults
	if sel != "" {
		names = nil
		for _, n := range strings.Split(sel, ",") {
			n = strings.TrimSpace(n)
			if _, ok := full[n]; !ok {
				rc.graphError(http.StatusBadRequest, "Request_BadRequest",
					fmt.Sprintf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", n, typ))
				return nil, false
			}
			names = append(names, n)
		}
	}
	out := map[string]any{}
	for _, n := range names {
		out[n] = full[n]
	}
	return out, true
}

// unsupportedQuery answers a filter the fake (or Graph) does not support.
func (rc *reqCtx) unsupportedQuery(err error) {
	rc.graphError(http.StatusBadRequest, "Request_UnsupportedQuery",
		"Unsupported or invalid query filter clause specified: "+err.Error())
}
