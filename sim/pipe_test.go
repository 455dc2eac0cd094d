package sim

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

func TestPipeCarriesBytesBothWaysAndEOF(t *testing.T) {
	a, b := pipe("a", "b")
	msg := bytes.Repeat([]byte("gossip"), 100000) // larger than one read
	if _, err := a.Write(msg); err != nil {       // does not wait for the reader
		t.Fatal(err)
	}
	a.Close()
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("read %d bytes, err %v; want %d bytes", len(got), err, len(msg))
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write to a closed peer: %v", err)
	}
}

func TestPipeReadDeadline(t *testing.T) {
	a, _ := pipe("a", "b")
	a.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

func TestPipeDeadlineSetWhileBlocked(t *testing.T) {
	a, _ := pipe("a", "b")
	done := make(chan error, 1)
	go func() {
		_, err := a.Read(make([]byte, 1))
		done <- err
	}()
	a.SetReadDeadline(time.Now()) // must wake the blocked read
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("blocked read ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline set during a blocked read did not wake it")
	}
}
