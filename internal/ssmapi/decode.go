package ssmapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/runcmd/runcmd"
)

// decodeRequest decodes an AWS JSON 1.1 request body into dst (a pointer to a request struct).
//
// It follows AWS rather than encoding/json where they differ: member names match case-sensitively and
// unknown members are ignored (encoding/json would bind "commandId" to CommandId); an empty body counts
// as {}; null counts as absent. Syntax errors, a body that is not an object, and values of the wrong
// JSON type are SerializationExceptions. Request types must not embed structs: prune does not look into
// them, and encoding/json would name their fields with the embedded type's name in its errors.
func decodeRequest(body []byte, dst any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return serializationError("the request body is not valid JSON")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return serializationError("unexpected data after the JSON object")
	}
	if _, ok := raw.(map[string]any); !ok {
		return serializationError("the request body must be a JSON object")
	}
	prune(raw, reflect.TypeOf(dst).Elem())
	clean, err := json.Marshal(raw)
	if err != nil {
		return fmt.Errorf("re-encode request: %w", err)
	}
	if err := json.Unmarshal(clean, dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return serializationError(fmt.Sprintf("%s value at '%s' cannot be converted to %s",
				jsonKind(te.Value), te.Field, goKind(te.Type)))
		}
		return serializationError("the request body does not match the operation's input shape")
	}
	return nil
}

// prune deletes, in place, every object member of v that t has no field for under that exact name, so
// that the case-insensitive matching of encoding/json cannot bind them.
func prune(v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return
		}
		for k, val := range obj {
			f, ok := fieldByJSONName(t, k)
			if !ok {
				delete(obj, k)
				continue
			}
			prune(val, f.Type)
		}
	case reflect.Slice:
		if list, ok := v.([]any); ok {
			for _, e := range list {
				prune(e, t.Elem())
			}
		}
	case reflect.Map:
		if obj, ok := v.(map[string]any); ok {
			for _, e := range obj {
				prune(e, t.Elem())
			}
		}
	}
}

func fieldByJSONName(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		if tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func jsonKind(v string) string {
	switch {
	case strings.HasPrefix(v, "number"):
		return "A number"
	case v == "string":
		return "A string"
	case v == "bool":
		return "A boolean"
	case v == "array":
		return "An array"
	case v == "object":
		return "An object"
	}
	return "A " + v
}

func goKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a structure"
	}
	return t.Kind().String()
}

func serializationError(msg string) error {
	return &runcmd.Error{Code: runcmd.EINVALID, Name: "SerializationException", Message: msg}
}
