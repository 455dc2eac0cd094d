package rpc

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// maxFrame bounds one frame between authenticated ends.
const maxFrame = 64 << 20

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one frame of at most limit bytes into v.
func readFrame(r io.Reader, v any, limit uint32) error {
	n, err := readHeader(r)
	if err != nil {
		return err
	}
	if n > limit {
		return fmt.Errorf("rpc frame of %d bytes exceeds the limit of %d", n, limit)
	}
	return readBody(r, n, v)
}

// readHeader reads a frame's length.
func readHeader(r io.Reader) (uint32, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(hdr[:]), nil
}

// readBody reads a frame's n bytes into v.
func readBody(r io.Reader, n uint32, v any) error {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
