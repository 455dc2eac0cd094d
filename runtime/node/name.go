package node

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds a node's name.
const MaxNameLen = 64

// CheckName reports what is wrong with a node's name, if anything: it is 1
// to MaxNameLen characters of ASCII letters, digits, '_', '.' and '-'. A
// name travels in gossip, logs, file names and command lines.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("node name: empty (want 1 to %d of A-Z a-z 0-9 _ . -)", MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("node name %q… (%d bytes): at most %d", name[:20], len(name), MaxNameLen)
	}
	if i := strings.IndexFunc(name, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-')
	}); i >= 0 {
		return fmt.Errorf("node name %q: %q at byte %d is not allowed (want A-Z a-z 0-9 _ . -)", name, []rune(name[i:])[0], i)
	}
	return nil
}
