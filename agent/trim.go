package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"time"
)

// When trimLoop gives memory back: once start-up is over (the AWS configuration is loaded, the first
// heartbeat and long poll are under way), then now and then, so the pages a burst of documents
// touched do not stay resident for the rest of an idle day.
const (
	trimAfter = 10 * time.Second
	trimEvery = 10 * time.Minute
)

// trimLoop keeps an idle agent's resident memory near what idling needs, until ctx ends. Measured
// (bench/footprint.go's way: VmRSS after 60 s idle), start-up leaves about 16 MB resident, of which
// about 10 MB are pages of the binary itself (package init and loading the AWS configuration touch
// code all over it, and the kernel maps 64 KiB around every fault) and about 6 MB are heap and runtime
// memory the garbage collector would give back only slowly. Trimming brings it to about 12 MB.
func trimLoop(ctx context.Context, log *slog.Logger) {
	t := time.NewTimer(trimAfter)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		debug.FreeOSMemory()
		if err := releaseImagePages(); err != nil {
			log.Warn("trim_failed", "err", err)
		}
		t.Reset(trimEvery)
	}
}
