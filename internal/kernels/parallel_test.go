package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// finishes fails the test if fn has not returned after d: a deadlocked For
// would otherwise hang the test binary until its global timeout.
func finishes(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v: deadlock", what, d)
	}
}

func TestSetThreads(t *testing.T) {
	prev := Threads()
	defer SetThreads(prev)
	for _, tc := range []struct{ set, want int }{{0, 1}, {-3, 1}, {1, 1}, {3, 3}, {8, 8}, {2, 2}} {
		SetThreads(tc.set)
		if got := Threads(); got != tc.want {
			t.Errorf("SetThreads(%d): Threads() = %d, want %d", tc.set, got, tc.want)
		}
	}
}

// TestForCoverage checks that For calls fn on contiguous, disjoint chunks
// that cover [0, n) exactly once, with at most one chunk per thread and, but
// for the last, none smaller than grain.
func TestForCoverage(t *testing.T) {
	ns := []int{-1, 0, 1, 2, 3, 5, 7, 8, 15, 16, 17, 63, 64, 65, 100, 1000, 1023}
	grains := []int{-1, 0, 1, 2, 3, 7, 16, 64, 1000}
	for _, th := range []int{1, 2, 3, 4, 7} {
		withThreads(th, func() {
			for _, n := range ns {
				for _, grain := range grains {
					hits := make([]atomic.Int32, max(n, 0))
					var calls atomic.Int32
					var mu sync.Mutex
					var sizes []int
					For(n, grain, func(lo, hi int) {
						calls.Add(1)
						if lo < 0 || hi > n || lo >= hi {
							t.Errorf("threads=%d n=%d grain=%d: chunk [%d, %d)", th, n, grain, lo, hi)
							return
						}
						mu.Lock()
						sizes = append(sizes, hi-lo)
						mu.Unlock()
						for i := lo; i < hi; i++ {
							hits[i].Add(1)
						}
					})
					for i := range hits {
						if h := hits[i].Load(); h != 1 {
							t.Fatalf("threads=%d n=%d grain=%d: index %d visited %d times", th, n, grain, i, h)
						}
					}
					c := int(calls.Load())
					if n <= 0 && c != 0 {
						t.Errorf("n=%d: fn called %d times", n, c)
					}
					if c > th {
						t.Errorf("threads=%d n=%d grain=%d: %d chunks", th, n, grain, c)
					}
					if c > 1 {
						short := 0
						for _, s := range sizes {
							if s < grain {
								short++
							}
						}
						if short > 1 {
							t.Errorf("threads=%d n=%d grain=%d: chunk sizes %v, more than one below grain", th, n, grain, sizes)
						}
					}
				}
			}
		})
	}
}

// TestForSmallInline checks that a loop below the grain runs as one call on
// the calling goroutine (observable as synchronous, single-chunk).
func TestForSmallInline(t *testing.T) {
	withThreads(4, func() {
		var chunks [][2]int
		For(10, 64, func(lo, hi int) { chunks = append(chunks, [2]int{lo, hi}) })
		if len(chunks) != 1 || chunks[0] != [2]int{0, 10} {
			t.Errorf("For(10, 64) chunks %v, want [[0 10]]", chunks)
		}
	})
}

// TestForNested nests For three levels deep; each level waits for chunks that
// only the pool can run, so a For that blocked its caller would deadlock.
func TestForNested(t *testing.T) {
	for _, th := range []int{2, 4} {
		withThreads(th, func() {
			finishes(t, 20*time.Second, "nested For", func() {
				const n = 6
				var hits [n * n * n]atomic.Int32
				For(n, 1, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						For(n, 1, func(lo, hi int) {
							for j := lo; j < hi; j++ {
								For(n, 1, func(lo, hi int) {
									for k := lo; k < hi; k++ {
										hits[(i*n+j)*n+k].Add(1)
									}
								})
							}
						})
					}
				})
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Errorf("threads=%d: cell %d visited %d times", th, i, h)
						return
					}
				}
			})
		})
	}
}

// TestForConcurrent calls For from many goroutines at once.
func TestForConcurrent(t *testing.T) {
	withThreads(4, func() {
		finishes(t, 20*time.Second, "concurrent For", func() {
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := 100 + g
					var sum atomic.Int64
					For(n, 1, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							sum.Add(int64(i))
						}
					})
					if got, want := sum.Load(), int64(n*(n-1)/2); got != want {
						t.Errorf("goroutine %d: sum %d, want %d", g, got, want)
					}
				}()
			}
			wg.Wait()
		})
	})
}

// TestForConcurrentNested queues more chunks than the task queue holds from
// many goroutines whose chunks themselves call For. Before For learned to run
// a chunk inline when the queue was full, every worker could block queueing
// its nested chunks while no one was left to drain the queue.
func TestForConcurrentNested(t *testing.T) {
	goroutines := 1000
	if testing.Short() {
		goroutines = 300
	}
	withThreads(4, func() {
		finishes(t, 30*time.Second, "concurrent nested For", func() {
			var wg sync.WaitGroup
			var total atomic.Int64
			for range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					For(4, 1, func(lo, hi int) {
						for range hi - lo {
							For(4, 1, func(lo, hi int) {
								time.Sleep(time.Microsecond)
								total.Add(int64(hi - lo))
							})
						}
					})
				}()
			}
			wg.Wait()
			if got, want := total.Load(), int64(goroutines*16); got != want {
				t.Errorf("visited %d inner indices, want %d", got, want)
			}
		})
	})
}
