package patch

import "strings"

// Glob reports whether s matches the glob pattern, case-insensitively, as the Linux payload matches
// filter values and patch lists: '*' any run, '?' one character, '[...]' a class ('!' or '^' negates,
// 'a-z' ranges). Unlike path.Match, '*' also crosses '/', which apt sections such as "contrib/net"
// contain. A malformed class matches nothing.
func Glob(pattern, s string) bool {
	return glob([]rune(strings.ToLower(pattern)), []rune(strings.ToLower(s)))
}

// glob is the classic backtracking matcher: only the last '*' is ever retried, so it runs in
// O(len(p)·len(s)) however many stars the pattern has.
func glob(p, s []rune) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				star, mark = pi, si
				pi++
				continue
			case '?':
				pi++
				si++
				continue
			case '[':
				if n, ok := matchClass(p[pi:], s[si]); n > 0 {
					if ok {
						pi += n
						si++
						continue
					}
				} else {
					return false // malformed class
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if star < 0 {
			return false
		}
		pi = star + 1
		mark++
		si = mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// matchClass matches c against the class that starts p (p[0] == '['). It returns the class's length
// in runes (0 when the class never closes) and whether c is in it.
func matchClass(p []rune, c rune) (int, bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	in := false
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return i + 1, in != negate
		}
		first = false
		lo := p[i]
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 2
		}
		if lo <= c && c <= hi {
			in = true
		}
		i++
	}
	return 0, false
}

// anyGlob reports whether any of patterns matches any of values.
func anyGlob(patterns []string, values ...string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if Glob(p, v) {
				return true
			}
		}
	}
	return false
}
