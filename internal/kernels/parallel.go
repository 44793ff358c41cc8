package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// call is one invocation of [For]: the loop body and how many chunks are left.
type call struct {
	fn   func(lo, hi int)
	left atomic.Int32
	done chan struct{}
}

// task is one chunk [lo, hi) of a call.
type task struct {
	c      *call
	lo, hi int
}

func (t task) run() {
	t.c.fn(t.lo, t.hi)
	if t.c.left.Add(-1) == 0 {
		t.c.done <- struct{}{} // buffered: the last chunk never blocks
	}
}

// calls recycles call records so a parallel loop allocates nothing.
var calls = sync.Pool{New: func() any { return &call{done: make(chan struct{}, 1)} }}

// pool is the process-wide set of worker goroutines used by every kernel.
var pool struct {
	mu      sync.Mutex
	started int
	tasks   chan task
}

// active is the number of threads [For] spreads work over.
var active atomic.Int32

func init() {
	pool.tasks = make(chan task, 256)
	SetThreads(runtime.GOMAXPROCS(0))
}

// SetThreads sets how many chunks [For] splits work into (at least 1) and
// starts the workers that needs. Workers started for an earlier, larger
// setting are kept and share the queue; results do not depend on which
// worker runs a chunk. It is safe to call at any time.
func SetThreads(n int) {
	n = max(n, 1)
	pool.mu.Lock()
	defer pool.mu.Unlock()
	// The calling goroutine always runs one chunk itself, so n threads need
	// n-1 workers.
	for ; pool.started < n-1; pool.started++ {
		go worker()
	}
	active.Store(int32(n))
}

// Threads reports how many goroutines parallel kernels use.
func Threads() int { return int(active.Load()) }

// spinFor is how long an idle worker, and a caller of [For] waiting for
// its chunks, keep polling before they park. Parking costs a wake-up of
// 50–300 µs (sometimes a whole chunk: the woken worker sits in the
// caller's run queue until the caller blocks) on the 2-core VMs this was
// measured on, against chunks of 0.1–2 ms in the engine's parallel GEMMs;
// polling with runtime.Gosched leaves the core to any other goroutine.
const spinFor = 200 * time.Microsecond

func worker() {
	for {
		select {
		case t := <-pool.tasks:
			t.run()
			continue
		default:
		}
		if t, ok := pollTask(nil); ok {
			t.run()
			continue
		}
		t := <-pool.tasks
		t.run()
	}
}

// pollTask polls the queue for up to spinFor (or, with c, until c's
// chunks are all done) and returns the task it got, if any.
func pollTask(c *call) (task, bool) {
	start := time.Now()
	for i := 0; ; i++ {
		if c != nil && c.left.Load() == 0 {
			return task{}, false
		}
		if len(pool.tasks) > 0 {
			select {
			case t := <-pool.tasks:
				return t, true
			default:
			}
		}
		if i&15 == 15 && time.Since(start) > spinFor {
			return task{}, false
		}
		runtime.Gosched()
	}
}

// For runs fn over [0, n) split into contiguous chunks, at most one per
// thread, and returns when every chunk is done. Only the last chunk may be
// smaller than grain items, so small loops run inline on the calling
// goroutine. For itself allocates nothing; a closure passed as fn is
// allocated by the caller unless it was made once and kept. The caller
// runs the first chunk itself and, while it waits, runs queued chunks of any
// call, so For may be nested without deadlock.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	chunks := min(Threads(), n/max(grain, 1))
	if chunks <= 1 {
		fn(0, n)
		return
	}
	size := (n + chunks - 1) / chunks
	chunks = (n + size - 1) / size
	c := calls.Get().(*call)
	c.fn = fn
	c.left.Store(int32(chunks))
	for i := 1; i < chunks; i++ {
		t := task{c: c, lo: i * size, hi: min((i+1)*size, n)}
		// A full queue must not block: every worker may itself be waiting
		// to queue the chunks of a nested call, so run the chunk here.
		select {
		case pool.tasks <- t:
		default:
			t.run()
		}
	}
	task{c: c, lo: 0, hi: size}.run()
	// Poll (running queued chunks of any call) until the others finish;
	// the last one to finish also signals done, which is taken below.
	for c.left.Load() != 0 {
		t, ok := pollTask(c)
		if !ok {
			break
		}
		t.run()
	}
	for {
		select {
		case <-c.done:
			c.fn = nil
			calls.Put(c)
			return
		case t := <-pool.tasks:
			t.run()
		}
	}
}
