package documents

import (
	"encoding/json"
	"fmt"
)

// PlainInput converts a rendered input value (RenderedStep.Inputs) to plain Go values: maps become
// map[string]any, lists []any, numbers json.Number, and a string holding a JSON object (SSM accepts
// sourceInfo and documentParameters as JSON text) becomes that object. Plugins of the agent read
// their map inputs through it.
func PlainInput(v any) (any, error) {
	switch t := v.(type) {
	case *object:
		m := make(map[string]any, len(t.keys))
		for _, k := range t.keys {
			pv, err := PlainInput(t.vals[k])
			if err != nil {
				return nil, err
			}
			m[k] = pv
		}
		return m, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			pv, err := PlainInput(e)
			if err != nil {
				return nil, err
			}
			out[i] = pv
		}
		return out, nil
	}
	return v, nil
}

// InputObject returns a map input (RenderedStep.Inputs[key]) as a plain map, accepting its JSON text
// too. A missing input is an empty map.
func InputObject(inputs map[string]any, key string) (map[string]any, error) {
	v, ok := inputs[key]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	if s, ok := v.(string); ok {
		if s == "" {
			return map[string]any{}, nil
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("input %s is not a JSON object: %w", key, err)
		}
		return m, nil
	}
	pv, err := PlainInput(v)
	if err != nil {
		return nil, err
	}
	m, ok := pv.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("input %s is a %T, not a map", key, pv)
	}
	return m, nil
}
