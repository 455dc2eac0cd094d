package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// SaveJSON keeps v, as JSON, in the file name in the node's data
// directory, so that the process finds it again after its node was
// killed and restarted: written to a new file and renamed over the old
// one, a kill in the middle leaves the old one whole. (It does not fsync:
// a killed process loses nothing the kernel has; a machine that loses
// power may.) With no data directory it keeps nothing and returns nil.
func (s *Self) SaveJSON(name string, v any) error {
	dir := s.DataDir()
	if dir == "" {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: keep %s: %w", s.p.kind, name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("%s: keep %s: %w", s.p.kind, name, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("%s: keep %s: %w", s.p.kind, name, err)
	}
	return nil
}

// LoadJSON reads what SaveJSON kept under name into v, and reports
// whether there was any (none without a data directory).
func (s *Self) LoadJSON(name string, v any) (bool, error) {
	dir := s.DataDir()
	if dir == "" {
		return false, nil
	}
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: read %s: %w", s.p.kind, name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("%s: %s is not what it kept: %w", s.p.kind, path, err)
	}
	return true, nil
}
