package signals

import (
	"encoding/json"
	"fmt"
	"math"
)

// ListsFromData reads the correlators' reference lists from the policy
// library's data (data.portcullis): sanctioned_countries,
// corporate_egress_asns and hosting_asns. Missing keys are empty lists.
func ListsFromData(data map[string]any) (Lists, error) {
	var l Lists
	var err error
	if l.SanctionedCountries, err = stringSet(data, "sanctioned_countries"); err != nil {
		return l, err
	}
	if l.CorporateASNs, err = asnSet(data, "corporate_egress_asns"); err != nil {
		return l, err
	}
	if l.HostingASNs, err = asnSet(data, "hosting_asns"); err != nil {
		return l, err
	}
	return l, nil
}

func list(data map[string]any, key string) ([]any, error) {
	v, ok := data[key]
	if !ok || v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("policy data %s must be a list, not %T", key, v)
	}
	return items, nil
}

func stringSet(data map[string]any, key string) (map[string]bool, error) {
	items, err := list(data, key)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok {
			return nil, fmt.Errorf("policy data %s[%d] must be a string, not %v", key, i, item)
		}
		out[s] = true
	}
	return out, nil
}

func asnSet(data map[string]any, key string) (map[uint32]bool, error) {
	items, err := list(data, key)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]bool, len(items))
	for i, item := range items {
		var f float64
		switch n := item.(type) {
		case float64:
			f = n
		case int:
			f = float64(n)
		case int64:
			f = float64(n)
		case json.Number:
			f, err = n.Float64()
		default:
			err = fmt.Errorf("not a number")
		}
		if err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
			return nil, fmt.Errorf("policy data %s[%d] must be an AS number, not %v", key, i, item)
		}
		out[uint32(f)] = true
	}
	return out, nil
}
