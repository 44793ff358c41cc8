package kernels

import (
	"sync"
	"testing"
	"time"
)

func TestProbeDeadlock(t *testing.T) {
	SetThreads(4)
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for g := 0; g < 2000; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				For(4, 1, func(lo, hi int) {
					For(4, 1, func(lo, hi int) { time.Sleep(time.Microsecond) })
				})
			}()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock")
	}
}
