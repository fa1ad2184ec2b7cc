package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// imageRSS sums the resident kB of this process's read-only mappings of its own executable.
func imageRSS(t *testing.T) int {
	t.Helper()
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, ours := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		switch {
		case len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":"):
			ino, _ := strconv.ParseUint(fs[4], 10, 64)
			ours = ino == exe.Ino && (fs[1] == "r-xp" || fs[1] == "r--p")
		case ours && len(fs) >= 2 && fs[0] == "Rss:":
			n, _ := strconv.Atoi(fs[1])
			total += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestReleaseImagePages: the binary's pages are unmapped, and code running at the same time (the
// agent's goroutines do while it trims) goes on unharmed, its pages mapped again on demand.
func TestReleaseImagePages(t *testing.T) {
	before := imageRSS(t)
	if err := releaseImagePages(); err != nil {
		t.Fatal(err)
	}
	after := imageRSS(t)
	if before == 0 || after >= before {
		t.Fatalf("image RSS %d kB before, %d kB after; want it smaller", before, after)
	}
	t.Logf("image RSS %d kB -> %d kB", before, after)

	work := func(i int) string {
		b, _ := json.Marshal(map[string]int{"i": i})
		return fmt.Sprintf("%x", sha256.Sum256(b))
	}
	want := make([]string, 200)
	for i := range want {
		want[i] = work(i)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for round := range 200 {
				if i := (round + g) % len(want); work(i) != want[i] {
					errs <- fmt.Sprintf("goroutine %d: wrong result for %d", g, i)
					return
				}
			}
		})
	}
	for range 20 {
		if err := releaseImagePages(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
