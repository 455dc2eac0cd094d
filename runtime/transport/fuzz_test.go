package transport

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// bytesConn is a stream that delivers fixed bytes, then EOF.
type bytesConn struct {
	net.Conn // nil: only what classify uses is implemented
	r        *bytes.Reader
	closed   bool
}

func (c *bytesConn) Read(b []byte) (int, error) {
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.r.Read(b)
}
func (c *bytesConn) SetReadDeadline(time.Time) error { return nil }
func (c *bytesConn) Close() error                    { c.closed = true; return nil }

// FuzzClassify: any first bytes are classified (RPC exactly when the first
// is RPCTag), and the stream handed on replays what its reader must see:
// everything for memberlist, everything after the tag for RPC. A stream
// that ends before its first byte is closed.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{RPCTag, 0, 0, 0, 2, '{', '}'})
	f.Add([]byte{6, 1, 2, 3}) // memberlist's pushPull message type
	f.Add([]byte{244, 5, 'l', 'a', 'b', 'e', 'l'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		raw := &bytesConn{r: bytes.NewReader(data)}
		c, isRPC, err := classify(raw, time.Second)
		if len(data) == 0 {
			if err == nil || !raw.closed {
				t.Fatalf("an empty stream: err %v, closed %v", err, raw.closed)
			}
			return
		}
		if err != nil {
			t.Fatalf("classify: %v", err)
		}
		if isRPC != (data[0] == RPCTag) {
			t.Fatalf("first byte %#x classified as rpc=%v", data[0], isRPC)
		}
		want := data
		if isRPC {
			want = data[1:]
		}
		got, err := io.ReadAll(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("replayed %q (%v), want %q", got, err, want)
		}
	})
}
