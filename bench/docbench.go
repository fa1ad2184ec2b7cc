package bench

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

// DocBench is the documents package's parse/validate/render benchmark, run with go test.
type DocBench struct {
	Name        string   `json:"name"`
	Count       int      `json:"count"`
	NsPerOp     Spread   `json:"ns_per_op"`
	BytesPerOp  Spread   `json:"bytes_per_op"`
	AllocsPerOp Spread   `json:"allocs_per_op"`
	Command     string   `json:"command"`
	Raw         []string `json:"raw"`
}

// benchLine matches a result line; a MB/s column (SetBytes) may come between ns/op and B/op.
var benchLine = regexp.MustCompile(`(?m)^(Benchmark\S+)\s+(\d+)\s+([\d.]+) ns/op(?:\s+[\d.]+ MB/s)?\s+(\d+) B/op\s+(\d+) allocs/op`)

// RunDocBench runs BenchmarkParseValidateRender20Steps count times.
func RunDocBench(ctx context.Context, root string, count int) (DocBench, error) {
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkParseValidateRender20Steps", "-benchmem", "-count", strconv.Itoa(count), "./documents"}
	d := DocBench{Count: count, Command: "go " + joinArgs(args)}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return d, fmt.Errorf("%s: %w: %s", d.Command, err, lastLine(out))
	}
	var ns, by, al []float64
	for _, m := range benchLine.FindAllStringSubmatch(string(out), -1) {
		d.Name = m[1]
		d.Raw = append(d.Raw, m[0])
		v, _ := strconv.ParseFloat(m[3], 64)
		ns = append(ns, v)
		v, _ = strconv.ParseFloat(m[4], 64)
		by = append(by, v)
		v, _ = strconv.ParseFloat(m[5], 64)
		al = append(al, v)
	}
	if len(ns) == 0 {
		return d, fmt.Errorf("%s printed no benchmark line", d.Command)
	}
	d.NsPerOp, d.BytesPerOp, d.AllocsPerOp = NewSpread(ns), NewSpread(by), NewSpread(al)
	return d, nil
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		if a == "^$" {
			a = "'^$'"
		}
		s += a
	}
	return s
}
