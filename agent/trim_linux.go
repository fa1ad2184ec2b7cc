package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// releaseImagePages drops this process's resident pages of its own executable's read-only segments (code,
// rodata, the pc-line table). A page of the binary is resident once touched, and the kernel maps 64 KiB
// around every fault, so start-up (package init, loading the AWS configuration, the first requests)
// leaves most of the 12 MB binary resident although an idle agent runs a small part of it. The pages
// stay in the page cache; the next access maps them again from there, so only the working set comes
// back. Read-only mappings are never written, so dropping them loses nothing (MADV_DONTNEED on a
// private file mapping refills from the file).
func releaseImagePages() error {
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		return fmt.Errorf("stat own executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return fmt.Errorf("read own mappings: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 || (f[1] != "r-xp" && f[1] != "r--p") {
			continue
		}
		if ino, err := strconv.ParseUint(f[4], 10, 64); err != nil || ino != exe.Ino {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %s: %w", f[0], errno)
		}
	}
	return sc.Err()
}
