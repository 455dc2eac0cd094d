package node

import (
	"strings"
	"testing"
)

// Names are 1 to 64 characters of A-Z a-z 0-9 _ . -, and a refused one
// says what is wrong.
func TestNodeNamesAreShortAndPlain(t *testing.T) {
	for _, ok := range []string{"n1", "db-2.eu_west", strings.Repeat("a", MaxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for name, want := range map[string]string{
		"":                                "empty",
		strings.Repeat("a", MaxNameLen+1): "(65 bytes): at most 64",
		"n 1":                             `' ' at byte 1 is not allowed`,
		"n\x001":                          `'\x00' at byte 1 is not allowed`,
		"nœud":                            `'œ' at byte 1 is not allowed`,
		"a/b":                             `'/' at byte 1 is not allowed`,
	} {
		if err := CheckName(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %s", name, err, want)
		}
	}
}
