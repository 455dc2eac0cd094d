package builtins

import "github.com/xrash/smetrics"

// Nearest returns the candidate spelt most like name, or "" when none is
// close enough to be a likely typo (Jaro-Winkler similarity above 0.8,
// the measure urfave/cli suggests commands with).
func Nearest(name string, candidates []string) string {
	best, score := "", 0.8
	for _, c := range candidates {
		if s := smetrics.JaroWinkler(name, c, 0.7, 4); s > score {
			best, score = c, s
		}
	}
	return best
}
