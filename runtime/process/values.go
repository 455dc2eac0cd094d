package process

import (
	"fmt"
	"strconv"
	"unsafe"
)

// approxSize estimates the bytes of Go memory a decoded JSON value holds:
// Go's own header sizes on a 64-bit machine (string 16, slice 24,
// interface 16) plus the payload lengths, and for maps a per-entry
// overhead of one key and one value slot. It measures the real value; it
// does not count allocator rounding or map bucket slack.
func approxSize(v any) int64 {
	switch x := v.(type) {
	case nil:
		return 0
	case bool:
		return 1
	case float64, int, int64, uint64:
		return 8
	case string:
		return 16 + int64(len(x))
	case fmt.Stringer:
		return 16 + int64(len(x.String()))
	case []any:
		n := int64(24)
		for _, e := range x {
			n += 16 + approxSize(e)
		}
		return n
	case map[string]any:
		n := int64(48)
		for k, e := range x {
			n += 16 + int64(len(k)) + 16 + approxSize(e)
		}
		return n
	default:
		return int64(unsafe.Sizeof(v))
	}
}

// repr shows a value in an error message: strings quoted, nil as null,
// anything else as Go prints it.
func repr(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprint(v)
}
