package documents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/runcmd/runcmd"
	"go.yaml.in/yaml/v3"
)

// The content is decoded into a small ordered tree before validation, so JSON and YAML share one
// validator and Convert keeps key order. Values are string, json.Number, bool, nil, []any and *object.
// Numbers stay json.Number so their text survives (schemaVersion 2.0 must not become 2).

// object is an ordered JSON/YAML mapping.
type object struct {
	keys []string
	vals map[string]any
}

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// Limits that keep hostile content cheap: documents are at most 64 KB, but YAML aliases can expand a small
// text into a huge tree and deep nesting costs stack.
const (
	maxDepth = 100
	maxNodes = 100_000
)

// tree is decoded content plus the line of every path, for error messages.
type tree struct {
	root  *object
	lines map[string]int
}

func contentErr(format string, args ...any) error {
	return runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentContent", format, args...)
}

// normFormat returns "JSON", "YAML" or "" (detect), or an error for anything else.
func normFormat(format string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(format)) {
	case "":
		return "", nil
	case "JSON":
		return "JSON", nil
	case "YAML":
		return "YAML", nil
	}
	return "", runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentContent",
		"document format %q is not supported for command documents: use JSON or YAML", format)
}

var bom = []byte("\xef\xbb\xbf")

// detect picks JSON when the first non-space byte opens a JSON object or array, YAML otherwise.
func detect(content []byte) string {
	c := bytes.TrimLeft(bytes.TrimPrefix(content, bom), " \t\r\n")
	if len(c) > 0 && (c[0] == '{' || c[0] == '[') {
		return "JSON"
	}
	return "YAML"
}

// decodeTree decodes content in format ("" detects) and returns the tree and the format used.
func decodeTree(content []byte, format string) (*tree, string, error) {
	f, err := normFormat(format)
	if err != nil {
		return nil, "", err
	}
	if f == "" {
		// A YAML flow mapping also starts with "{": fall back to YAML when detected JSON does not parse,
		// but report the JSON error if YAML fails too.
		f = detect(content)
		if f == "JSON" {
			t, _, jerr := decodeTree(content, "JSON")
			if jerr == nil {
				return t, f, nil
			}
			if t, _, yerr := decodeTree(content, "YAML"); yerr == nil {
				return t, "YAML", nil
			}
			return nil, f, jerr
		}
	}
	content = bytes.TrimPrefix(content, bom)
	t := &tree{lines: map[string]int{}}
	var root any
	if f == "JSON" {
		root, err = decodeJSON(content, t.lines)
	} else {
		root, err = decodeYAML(content, t.lines)
	}
	if err != nil {
		return nil, f, err
	}
	obj, ok := root.(*object)
	if !ok {
		return nil, f, contentErr("the document must be a %s object (a mapping of schemaVersion, parameters, steps ...)", f)
	}
	t.root = obj
	return t, f, nil
}

func childPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// ---- JSON ----

type jsonDecoder struct {
	dec     *json.Decoder
	content []byte
	lines   map[string]int
	nodes   int
}

func decodeJSON(content []byte, lines map[string]int) (any, error) {
	d := &jsonDecoder{dec: json.NewDecoder(bytes.NewReader(content)), content: content, lines: lines}
	d.dec.UseNumber()
	v, err := d.value("", 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, contentErr("invalid JSON at line %d: unexpected data after the document", d.line())
	}
	return v, nil
}

// line returns the line of the next token: the decoder's offset is just past the previous token, so skip
// the separators first.
func (d *jsonDecoder) line() int {
	off := int(d.dec.InputOffset())
	for off < len(d.content) && strings.IndexByte(" \t\r\n:,", d.content[off]) >= 0 {
		off++
	}
	return 1 + bytes.Count(d.content[:min(off, len(d.content))], []byte("\n"))
}

func (d *jsonDecoder) syntaxErr(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off := min(int(se.Offset), len(d.content))
		return contentErr("invalid JSON at line %d: %s", 1+bytes.Count(d.content[:off], []byte("\n")), se.Error())
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return contentErr("invalid JSON: unexpected end of content")
	}
	return contentErr("invalid JSON at line %d: %s", d.line(), err.Error())
}

func (d *jsonDecoder) value(path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, contentErr("%s (line %d): nested more than %d levels deep", orRoot(path), d.line(), maxDepth)
	}
	d.nodes++
	if d.nodes > maxNodes {
		return nil, contentErr("the document has more than %d values", maxNodes)
	}
	line := d.line()
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.syntaxErr(err)
	}
	if path != "" {
		d.lines[path] = line
	}
	switch tok := tok.(type) {
	case json.Delim:
		switch tok {
		case '{':
			o := &object{vals: map[string]any{}}
			for d.dec.More() {
				kline := d.line()
				kt, err := d.dec.Token()
				if err != nil {
					return nil, d.syntaxErr(err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, contentErr("invalid JSON at line %d: object key is not a string", kline)
				}
				kp := childPath(path, k)
				if _, dup := o.vals[k]; dup {
					return nil, contentErr("%s (line %d): key %q appears twice", kp, kline, k)
				}
				v, err := d.value(kp, depth+1)
				if err != nil {
					return nil, err
				}
				d.lines[kp] = kline
				o.keys = append(o.keys, k)
				o.vals[k] = v
			}
			if _, err := d.dec.Token(); err != nil {
				return nil, d.syntaxErr(err)
			}
			return o, nil
		case '[':
			l := []any{}
			for i := 0; d.dec.More(); i++ {
				v, err := d.value(indexPath(path, i), depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			if _, err := d.dec.Token(); err != nil {
				return nil, d.syntaxErr(err)
			}
			return l, nil
		}
		return nil, contentErr("invalid JSON at line %d: unexpected %q", line, tok.String())
	case json.Number:
		if err := checkNumber(tok); err != nil {
			return nil, contentErr("%s (line %d): %s", orRoot(path), line, err.Error())
		}
		return tok, nil
	default: // string, bool, nil
		return tok, nil
	}
}

func orRoot(path string) string {
	if path == "" {
		return "document"
	}
	return path
}

func checkNumber(n json.Number) error {
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return fmt.Errorf("number %s is out of range", string(n))
	}
	return nil
}

// ---- YAML ----

var jsonNumberRE = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

type yamlDecoder struct {
	lines map[string]int
	nodes int
}

func decodeYAML(content []byte, lines map[string]int) (any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(content))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, contentErr("the document is empty")
		}
		return nil, contentErr("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, contentErr("invalid YAML: the content holds more than one YAML document")
	}
	d := &yamlDecoder{lines: lines}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) != 1 {
			return nil, contentErr("the document is empty")
		}
		n = n.Content[0]
	}
	return d.value(n, "", 0)
}

func (d *yamlDecoder) value(n *yaml.Node, path string, depth int) (any, error) {
	if depth > maxDepth {
		return nil, contentErr("%s (line %d): nested more than %d levels deep", orRoot(path), n.Line, maxDepth)
	}
	d.nodes++
	if d.nodes > maxNodes {
		return nil, contentErr("the document has more than %d values (check YAML aliases)", maxNodes)
	}
	if path != "" {
		if _, seen := d.lines[path]; !seen {
			d.lines[path] = n.Line
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, contentErr("%s (line %d): unknown YAML alias", orRoot(path), n.Line)
		}
		return d.value(n.Alias, path, depth+1)
	case yaml.MappingNode:
		o := &object{vals: map[string]any{}}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			if kn.Kind == yaml.AliasNode && kn.Alias != nil {
				kn = kn.Alias
			}
			if kn.Kind != yaml.ScalarNode {
				return nil, contentErr("%s (line %d): mapping keys must be plain strings", orRoot(path), kn.Line)
			}
			if kn.ShortTag() == "!!merge" {
				return nil, contentErr("%s (line %d): YAML merge keys (<<) are not supported", orRoot(path), kn.Line)
			}
			k := kn.Value
			kp := childPath(path, k)
			if _, dup := o.vals[k]; dup {
				return nil, contentErr("%s (line %d): key %q appears twice", kp, kn.Line, k)
			}
			d.lines[kp] = kn.Line
			v, err := d.value(vn, kp, depth+1)
			if err != nil {
				return nil, err
			}
			o.keys = append(o.keys, k)
			o.vals[k] = v
		}
		return o, nil
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := d.value(c, indexPath(path, i), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case yaml.ScalarNode:
		return yamlScalar(n, path)
	}
	return nil, contentErr("%s (line %d): unsupported YAML node", orRoot(path), n.Line)
}

func yamlScalar(n *yaml.Node, path string) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return n.Value, nil
		}
		return b, nil
	case "!!int", "!!float":
		if jsonNumberRE.MatchString(n.Value) {
			num := json.Number(n.Value)
			if err := checkNumber(num); err != nil {
				return nil, contentErr("%s (line %d): %s", orRoot(path), n.Line, err.Error())
			}
			return num, nil
		}
		var i int64
		if err := n.Decode(&i); err == nil {
			return json.Number(strconv.FormatInt(i, 10)), nil
		}
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, contentErr("%s (line %d): number %s is out of range", orRoot(path), n.Line, n.Value)
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		return n.Value, nil
	default: // !!str, !!timestamp, !!binary and custom tags keep their text
		return n.Value, nil
	}
}

// ---- encoding ----

// encodeJSON writes v as indented JSON without HTML escaping (scripts are full of & < >).
func encodeJSON(buf *bytes.Buffer, v any, indent string) error {
	switch v := v.(type) {
	case *object:
		if len(v.keys) == 0 {
			buf.WriteString("{}")
			return nil
		}
		buf.WriteString("{\n")
		for i, k := range v.keys {
			buf.WriteString(indent + "  ")
			writeJSONString(buf, k)
			buf.WriteString(": ")
			if err := encodeJSON(buf, v.vals[k], indent+"  "); err != nil {
				return err
			}
			if i < len(v.keys)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "}")
	case []any:
		if len(v) == 0 {
			buf.WriteString("[]")
			return nil
		}
		buf.WriteString("[\n")
		for i, e := range v {
			buf.WriteString(indent + "  ")
			if err := encodeJSON(buf, e, indent+"  "); err != nil {
				return err
			}
			if i < len(v)-1 {
				buf.WriteByte(',')
			}
			buf.WriteByte('\n')
		}
		buf.WriteString(indent + "]")
	case string:
		writeJSONString(buf, v)
	case json.Number:
		buf.WriteString(string(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("encode JSON: unexpected %T", v)
	}
	return nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func yamlNode(v any) *yaml.Node {
	switch v := v.(type) {
	case *object:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, k := range v.keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, yamlNode(v.vals[k]))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range v {
			n.Content = append(n.Content, yamlNode(e))
		}
		return n
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(v)}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

// Convert converts document content between JSON and YAML (GetDocument's DocumentFormat). from may be ""
// to detect. Key order is kept; JSON output is indented with two spaces and does not escape HTML
// characters. Converting to the same format returns the content unchanged. Only syntax is checked: the
// content need not be a valid command document.
func Convert(content []byte, from, to string) ([]byte, error) {
	if len(content) > MaxDocumentSize {
		return nil, sizeErr(len(content))
	}
	f, err := normFormat(from)
	if err != nil {
		return nil, err
	}
	if f == "" {
		f = detect(content)
	}
	t, err := normFormat(to)
	if err != nil {
		return nil, err
	}
	if t == "" {
		return nil, runcmd.Errorf(runcmd.EINVALID, "InvalidDocumentContent", "convert: target format is required")
	}
	tr, _, err := decodeTree(content, f)
	if err != nil {
		return nil, err
	}
	if f == t {
		return bytes.Clone(content), nil
	}
	if t == "JSON" {
		var buf bytes.Buffer
		if err := encodeJSON(&buf, tr.root, ""); err != nil {
			return nil, fmt.Errorf("convert to JSON: %w", err)
		}
		buf.WriteByte('\n')
		return buf.Bytes(), nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(yamlNode(tr.root)); err != nil {
		return nil, fmt.Errorf("convert to YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("convert to YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// plain converts a tree value into the public form: string, bool, int, float64, nil, []any, map[string]any.
func plain(v any) any {
	switch v := v.(type) {
	case *object:
		m := make(map[string]any, len(v.keys))
		for _, k := range v.keys {
			m[k] = plain(v.vals[k])
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, e := range v {
			l[i] = plain(e)
		}
		return l
	case json.Number:
		if i, err := strconv.ParseInt(string(v), 10, strconv.IntSize); err == nil {
			return int(i)
		}
		f, _ := strconv.ParseFloat(string(v), 64) // checked finite when decoded
		return f
	}
	return v
}
