package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/clusterscript/clusterscript/runtime/errcode"
)

// pipeServer serves s over in-memory pipes and returns a client dialing it.
func pipeServer(t *testing.T, s *Server, cookie string) *Client {
	t.Helper()
	conns := make(chan net.Conn)
	go s.Serve(conns)
	dial := func(string, time.Duration) (net.Conn, error) {
		a, b := net.Pipe()
		go func() {
			var tag [1]byte
			if _, err := b.Read(tag[:]); err == nil {
				conns <- b
			}
		}()
		return a, nil
	}
	cl := NewClient(cookie, "caller", DialWithin(dial))
	t.Cleanup(cl.Close)
	return cl
}

func TestStreamPushesItemsUntilTheCallerHangsUp(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, "c", "server")
	more := make(chan int)
	ended := make(chan struct{})
	s.HandleStream("count", func(ctx context.Context, p json.RawMessage, send func(any) error) error {
		defer close(ended)
		var from int
		if err := json.Unmarshal(p, &from); err != nil {
			return err
		}
		for {
			select {
			case n := <-more:
				if err := send(from + n); err != nil {
					return err
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	cl := pipeServer(t, s, "c")
	sctx, hangUp := context.WithCancel(ctx)
	got := make(chan int)
	done := make(chan error, 1)
	go func() {
		done <- cl.Stream(sctx, "x", "count", 100, func(b json.RawMessage) error {
			var n int
			if err := json.Unmarshal(b, &n); err != nil {
				return err
			}
			got <- n
			return nil
		})
	}()
	for i := 1; i <= 3; i++ {
		more <- i
		if n := <-got; n != 100+i {
			t.Fatalf("item %d: got %d", i, n)
		}
	}
	hangUp()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Stream returned %v after the caller hung up", err)
	}
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler kept running after its caller hung up")
	}
}

func TestStreamEndsWithTheHandlersError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, "c", "server")
	s.HandleStream("once", func(_ context.Context, _ json.RawMessage, send func(any) error) error {
		if err := send("hello"); err != nil {
			return err
		}
		return errcode.Errorf(errcode.Validation, "that is all")
	})
	cl := pipeServer(t, s, "c")
	var items []string
	err := cl.Stream(ctx, "x", "once", nil, func(b json.RawMessage) error {
		var v string
		_ = json.Unmarshal(b, &v)
		items = append(items, v)
		return nil
	})
	if errcode.Code(err) != errcode.Validation || len(items) != 1 || items[0] != "hello" {
		t.Fatalf("items %v, err %v", items, err)
	}
	if err := cl.Stream(ctx, "x", "nope", nil, func(json.RawMessage) error { return nil }); errcode.Code(err) != errcode.OperationNotFound {
		t.Fatalf("an unknown stream: %v", err)
	}
}

func TestStreamRefusesAWrongCookie(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewServer(ctx, "right", "server")
	s.HandleStream("s", func(ctx context.Context, _ json.RawMessage, _ func(any) error) error {
		t.Error("a caller with the wrong cookie reached the handler")
		return nil
	})
	cl := pipeServer(t, s, "wrong")
	err := cl.Stream(ctx, "x", "s", nil, func(json.RawMessage) error { return nil })
	if !errors.Is(err, ErrCookieMismatch) {
		t.Fatalf("got %v", err)
	}
}
