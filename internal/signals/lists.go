package signals

import (
	"encoding/json"
	"fmt"
	"math"
)

// ListsFromData reads the correlators' reference data from the policy
// library's data (data.portcullis): hosting_asns, travel.max_speed_kmh and
// off_hours (work_start, work_end, min_signins, fraction). Missing keys take
// the defaults; a value of the wrong kind is an error naming it.
func ListsFromData(data map[string]any) (Lists, error) {
	var l Lists
	var err error
	if l.HostingASNs, err = asnSet(data, "hosting_asns"); err != nil {
		return l, err
	}
	travel, err := object(data, "travel")
	if err != nil {
		return l, err
	}
	if l.MaxSpeedKMH, err = number(travel, "travel.", "max_speed_kmh", 1e6); err != nil {
		return l, err
	}
	off, err := object(data, "off_hours")
	if err != nil {
		return l, err
	}
	start, err := number(off, "off_hours.", "work_start", 24)
	if err != nil {
		return l, err
	}
	end, err := number(off, "off_hours.", "work_end", 24)
	if err != nil {
		return l, err
	}
	if start > end {
		return l, fmt.Errorf("policy data off_hours.work_start (%v) must not be after off_hours.work_end (%v)", start, end)
	}
	l.WorkStart, l.WorkEnd = int(start), int(end)
	minSignIns, err := number(off, "off_hours.", "min_signins", 1e6)
	if err != nil {
		return l, err
	}
	l.OffHoursMinSignIns = int(minSignIns)
	if l.OffHoursFraction, err = number(off, "off_hours.", "fraction", 1); err != nil {
		return l, err
	}
	return l, nil
}

// object is data[key] as an object; missing is empty.
func object(data map[string]any, key string) (map[string]any, error) {
	v, ok := data[key]
	if !ok || v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("policy data %s must be an object, not %T", key, v)
	}
	return m, nil
}

// number is data[key] as a number from 0 to hi; missing is 0, which stands
// for the default.
func number(data map[string]any, prefix, key string, hi float64) (float64, error) {
	v, ok := data[key]
	if !ok || v == nil {
		return 0, nil
	}
	f, err := toFloat(v)
	if err != nil || f < 0 || f > hi {
		return 0, fmt.Errorf("policy data %s%s must be a number from 0 to %v, not %v", prefix, key, hi, v)
	}
	return f, nil
}

func toFloat(v any) (float64, error) {
	switch n := v.(type) {
	case float64:
		return n, nil
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case json.Number:
		return n.Float64()
	}
	return 0, fmt.Errorf("not a number")
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

func asnSet(data map[string]any, key string) (map[uint32]bool, error) {
	items, err := list(data, key)
	if err != nil {
		return nil, err
	}
	out := make(map[uint32]bool, len(items))
	for i, item := range items {
		f, err := toFloat(item)
		if err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
			return nil, fmt.Errorf("policy data %s[%d] must be an AS number, not %v", key, i, item)
		}
		out[uint32(f)] = true
	}
	return out, nil
}
