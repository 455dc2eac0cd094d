package vtime

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// sleeps10m sleeps ten minutes and records how long the bubble's clock
// says that took.
func sleeps10m(took *time.Duration) func() {
	return func() {
		start := time.Now()
		time.Sleep(10 * time.Minute)
		*took = time.Since(start)
	}
}

// TestDefaultHost fails loudly on a Go release whose testing internals the
// host was not written for: a plain binary would then run every case on
// the real clock.
func TestDefaultHost(t *testing.T) {
	r, err := Default()
	if err != nil {
		t.Fatalf("virtual time is unavailable to a plain binary: %v (update sim/vtime/host.go for this Go release)", err)
	}
	var took time.Duration
	wallStart := WallNow()
	if err := r.Run("sleep", sleeps10m(&took)); err != nil {
		t.Fatal(err)
	}
	if took != 10*time.Minute {
		t.Fatalf("the bubble's clock says the sleep took %s, want 10m", took)
	}
	if wall := WallNow().Sub(wallStart); wall >= 10*time.Minute {
		t.Fatalf("a virtual 10m sleep took %s of wall time", wall)
	}
	// Bubbles run side by side.
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var d time.Duration
			err := r.Run("parallel", sleeps10m(&d))
			if err == nil && d != 10*time.Minute {
				err = errors.New("wrong virtual duration " + d.String())
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestInTest(t *testing.T) {
	var took time.Duration
	if err := InTest(t).Run("sleep", sleeps10m(&took)); err != nil || took != 10*time.Minute {
		t.Fatalf("took %s, err %v", took, err)
	}
}

func TestDisabled(t *testing.T) {
	t.Setenv(DisableEnv, "1")
	if _, err := Default(); err == nil {
		t.Fatalf("Default with %s set: want an error", DisableEnv)
	}
}

func TestPanicsAndDeadlocksAreReturned(t *testing.T) {
	r := InTest(t)
	err := r.Run("panic", func() { panic("boom") })
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "boom" {
		t.Fatalf("panic: got %v", err)
	}
	err = r.Run("deadlock", func() {
		ch := make(chan int)
		<-ch
	})
	if !errors.Is(err, ErrDeadlock) {
		t.Fatalf("deadlock: got %v", err)
	}
}

func TestWallTimerFiresInWallTime(t *testing.T) {
	w := NewWall()
	defer w.Close()
	var fired atomic.Bool
	err := InTest(t).Run("wall", func() {
		w.AfterFunc(20*time.Millisecond, func() { fired.Store(true) })
		stop := w.AfterFunc(time.Millisecond, func() { t.Error("a stopped wall timer fired") })
		stop()
		// Virtual sleeps cost no wall time: keep sleeping until the wall
		// timer, which only the wall clock can fire, has fired.
		for !fired.Load() {
			time.Sleep(time.Hour)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A stopped wall timer lets go of its function at once, not when its time
// would have come: a case's watchdog holds the whole case (its clusters,
// its history), and a run of many cases with a long timeout kept every
// one of them.
func TestStoppedWallTimerReleasesItsFunction(t *testing.T) {
	w := NewWall()
	defer w.Close()
	released := make(chan struct{})
	stop := w.AfterFunc(time.Hour, holding(released))
	stop()
	deadline := time.After(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-released:
			return
		case <-deadline:
			t.Fatal("a stopped wall timer still holds its function")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// holding returns a function that holds a megabyte, which closes released
// once it is collected.
func holding(released chan struct{}) func() {
	held := new([1 << 20]byte)
	runtime.AddCleanup(held, func(struct{}) { close(released) }, struct{}{})
	return func() { held[0]++ }
}

// Do runs its function outside the bubble, on the wall clock, and a
// panic there comes back to the caller rather than kill the process.
func TestDoRunsOnTheWallClockAndReturnsItsPanic(t *testing.T) {
	w := NewWall()
	defer w.Close()
	err := InTest(t).Run("do", func() {
		var took time.Duration
		w.Do(func() {
			start := time.Now() // outside the bubble: the wall clock
			for time.Since(start) < 5*time.Millisecond {
			}
			took = time.Since(start)
		})
		if took < 5*time.Millisecond {
			t.Errorf("Do's function measured %s on the clock it read", took)
		}
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the function's panic", r)
			}
		}()
		w.Do(func() { panic("boom") })
	})
	if err != nil {
		t.Fatal(err)
	}
}
