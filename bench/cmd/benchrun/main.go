// Command benchrun runs runcmd's benchmarks against the AWS emulator at AWS_ENDPOINT_URL and writes
// bench/REPORT.md and bench/report.json. `make bench` runs it under localstack/with-emulator.sh.
//
//	benchrun [-out bench] [-budget 14m] [-quick] [-sections overhead,fleet,...] [-shared-emulator]
//	benchrun -render bench/report.json [-out bench]   re-render REPORT.md only
//
// Each group of sections that needs the emulator gets a fresh moto_server of its own (when
// moto_server is installed); -shared-emulator runs them all on AWS_ENDPOINT_URL's. A run of some
// sections (-sections) writes report-sections.json, never REPORT.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runcmd/runcmd/bench"
)

func main() {
	out := flag.String("out", "", "directory for REPORT.md and report.json (default: bench/ in the repository)")
	budget := flag.Duration("budget", 14*time.Minute, "trim repetitions beyond the minimum to end within this")
	quick := flag.Bool("quick", false, "small sizes and short waits, for working on the bench itself")
	render := flag.String("render", "", "only render REPORT.md again from this report.json (after changing the report's text)")
	sections := flag.String("sections", "", "run only these sections, comma-separated: "+strings.Join(bench.Sections, ","))
	shared := flag.Bool("shared-emulator", false, "run everything on the emulator at AWS_ENDPOINT_URL, not a fresh moto_server per group of sections")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root, err := bench.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
	if *out == "" {
		*out = filepath.Join(root, "bench")
	}
	if *render != "" {
		if err := bench.Render(*render, *out); err != nil {
			fmt.Fprintln(os.Stderr, "benchrun:", err)
			os.Exit(1)
		}
		return
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		fmt.Fprintln(os.Stderr, "benchrun: AWS_ENDPOINT_URL is not set; run `make bench` (it starts an emulator)")
		os.Exit(2)
	}
	var only []string
	if *sections != "" {
		only = strings.Split(*sections, ",")
	}
	opt := bench.Options{Root: root, OutDir: *out, Budget: *budget, Quick: *quick, Sections: only, SharedEmulator: *shared, Log: os.Stderr}
	if _, err := bench.Run(ctx, opt); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}
