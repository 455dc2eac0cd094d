package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// diskLog is the disk_log kind: values appended to a file in the node's
// data directory, one JSON line each, so a scenario can see what a node
// keeps across its kill and restart. The file is named after the
// process's name (disk_log when it has none).
type diskLog struct {
	path   string
	values []any
}

func newDiskLog(self *Self) (Behaviour, error) {
	dir := self.DataDir()
	if dir == "" {
		return nil, errcode.Errorf(errcode.Validation, "kind: disk_log needs the node's data directory, and %s has none", self.Node())
	}
	name := self.Name()
	if name == "" {
		name = KindDiskLog
	}
	l := &diskLog{path: filepath.Join(dir, name+".jsonl")}
	b, err := os.ReadFile(l.path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disk_log: %w", err)
	}
	good := 0 // bytes of whole, readable lines
	for len(b) > good {
		line, _, complete := bytes.Cut(b[good:], []byte("\n"))
		var v any
		if !complete || json.Unmarshal(line, &v) != nil {
			// A line cut short by a kill: drop it, so that what is
			// appended next starts a line of its own.
			if err := os.Truncate(l.path, int64(good)); err != nil {
				return nil, fmt.Errorf("disk_log: %w", err)
			}
			break
		}
		l.values = append(l.values, v)
		good += len(line) + 1
	}
	return l, nil
}

func (l *diskLog) Handle(_ *Self, m Message) (any, error) {
	if m.Body == "read" {
		return append([]any{}, l.values...), nil
	}
	if d, ok := m.Body.(map[string]any); ok && len(d) == 1 {
		if v, ok := d["append"]; ok {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, errcode.Errorf(errcode.Validation, "message: append: %v", err)
			}
			f, err := os.OpenFile(l.path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return nil, fmt.Errorf("disk_log: %w", err)
			}
			_, werr := f.Write(append(b, '\n'))
			if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
				return nil, fmt.Errorf("disk_log: %w", err)
			}
			l.values = append(l.values, v)
			return len(l.values), nil
		}
	}
	return nil, errcode.Errorf(errcode.Validation, `message: a disk_log answers {"append": value} and "read", got %s`, repr(m.Body))
}

func (l *diskLog) State() map[string]any { return map[string]any{"length": len(l.values)} }
