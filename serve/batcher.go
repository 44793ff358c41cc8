package serve

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/engine"
	"github.com/fovea-ml/fovea/tensor"
)

// job is one request's work for a model's worker: n examples x to run
// through the model, or, for fn != nil, a function to run alone in the
// worker (Grad-CAM).
type job struct {
	ctx  context.Context
	x    []float32
	n    int
	fn   func()
	done chan result // buffered: the worker never blocks on it
}

// result is a job's output: n×k logits.
type result struct {
	out []float32
	k   int
	err error
}

// Errors of [batcher.submit].
var (
	errQueueFull = errorf(http.StatusServiceUnavailable, "the model's request queue is full; retry later")
	errClosed    = errorf(http.StatusServiceUnavailable, "the server is shutting down")
)

// batcher owns one model: a bounded queue of jobs and the one worker
// goroutine that runs them, batching those that arrive together. The
// worker alone touches the model and its engine plans.
type batcher struct {
	s      *Server
	m      *served
	queue  chan *job
	mu     sync.Mutex // guards closed and sends on queue
	closed bool
	done   chan struct{} // closed when the worker has returned

	// arriving counts the requests for this model that handlers are still
	// reading or decoding: the worker waits for more of a batch only while
	// some are on their way.
	arriving atomic.Int64

	// Worker state.
	plans map[int]*engine.Plan // by batch size
	eager bool                 // engine.Compile failed: use Forward
}

// newBatcher starts m's worker.
func newBatcher(s *Server, m *served) *batcher {
	b := &batcher{s: s, m: m, queue: make(chan *job, s.opt.QueueSize), done: make(chan struct{}), plans: map[int]*engine.Plan{}, eager: s.opt.NoEngine}
	go b.run()
	return b
}

// arrival is a request on its way to a batcher's queue, counted in
// batcher.arriving from [batcher.expect] until it is queued or abandoned.
// One handler goroutine owns it.
type arrival struct {
	b    *batcher
	done bool
}

// expect notes that a request for the model is being read and decoded;
// the handler defers [arrival.leave] and passes the arrival to infer.
func (b *batcher) expect() *arrival {
	b.arriving.Add(1)
	return &arrival{b: b}
}

// leave withdraws the note; calls after the first do nothing.
func (a *arrival) leave() {
	if a != nil && !a.done {
		a.done = true
		a.b.arriving.Add(-1)
	}
}

// submit queues j, or fails at once with errQueueFull or errClosed. The
// request's arrival (nil for one that had none) is withdrawn first, so a
// worker that takes j never counts it as still on its way.
func (b *batcher) submit(j *job, a *arrival) error {
	a.leave()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	select {
	case b.queue <- j:
		b.s.metrics.queueDepth.WithLabelValues(b.m.Name).Set(float64(len(b.queue)))
		return nil
	default:
		b.s.metrics.rejected.WithLabelValues(b.m.Name, "queue_full").Inc()
		return errQueueFull
	}
}

// close stops accepting jobs and waits until the worker has run every
// queued one.
func (b *batcher) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.queue)
	}
	b.mu.Unlock()
	<-b.done
}

// infer runs n examples x (n×C×H×W values, already preprocessed) and
// returns their n×k logits; a is the request's arrival from expect, or
// nil. It returns ctx's error if ctx ends first; the job is then dropped
// if its batch has not started.
func (b *batcher) infer(ctx context.Context, x []float32, n int, a *arrival) ([]float32, int, error) {
	j := &job{ctx: ctx, x: x, n: n, done: make(chan result, 1)}
	if err := b.submit(j, a); err != nil {
		return nil, 0, err
	}
	select {
	case r := <-j.done:
		return r.out, r.k, r.err
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}

// exclusive runs fn in the worker, between batches.
func (b *batcher) exclusive(ctx context.Context, fn func()) error {
	j := &job{ctx: ctx, fn: fn, done: make(chan result, 1)}
	if err := b.submit(j, nil); err != nil {
		return err
	}
	select {
	case r := <-j.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the worker loop.
func (b *batcher) run() {
	defer close(b.done)
	maxBatch, delay := b.s.opt.MaxBatch, b.s.opt.MaxDelay
	var next *job
	lastJobs := 0 // requests in the last batch
	for {
		j := next
		next = nil
		if j == nil {
			var ok bool
			if j, ok = <-b.queue; !ok {
				return
			}
		}
		if j.fn != nil {
			b.runExclusive(j)
			continue
		}
		batch, n := []*job{j}, j.n
		if delay > 0 && n < maxBatch {
			timer := time.NewTimer(delay)
		collect:
			for n < maxBatch {
				// Wait only while more requests are likely: some are
				// on their way, or this batch holds fewer requests than
				// the last one (clients whose next requests are in
				// flight over the network). A lone client's request runs
				// at once, and so does a batch as full as the last.
				if len(b.queue) == 0 && b.arriving.Load() == 0 && len(batch) >= lastJobs {
					break collect
				}
				select {
				case j2, ok := <-b.queue:
					if !ok {
						break collect
					}
					if j2.fn != nil || n+j2.n > maxBatch {
						next = j2
						break collect
					}
					batch, n = append(batch, j2), n+j2.n
				case <-timer.C:
					break collect
				}
			}
			timer.Stop()
		} else {
		drain: // no delay: take what is already queued
			for n < maxBatch {
				select {
				case j2, ok := <-b.queue:
					if !ok {
						break drain
					}
					if j2.fn != nil || n+j2.n > maxBatch {
						next = j2
						break drain
					}
					batch, n = append(batch, j2), n+j2.n
				default:
					break drain
				}
			}
		}
		b.s.metrics.queueDepth.WithLabelValues(b.m.Name).Set(float64(len(b.queue)))
		lastJobs = len(batch)
		b.runBatch(batch)
	}
}

// runExclusive runs j.fn unless j's context has ended, turning a panic
// into an error.
func (b *batcher) runExclusive(j *job) {
	if err := j.ctx.Err(); err != nil {
		j.done <- result{err: err}
		return
	}
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = errorf(http.StatusInternalServerError, "model %q failed: %v", b.m.Name, p)
			}
		}()
		j.fn()
	}()
	j.done <- result{err: err}
}

// runBatch runs the jobs of batch whose contexts are still live as one
// batch and hands each its rows of the output.
func (b *batcher) runBatch(batch []*job) {
	live := batch[:0]
	n := 0
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			b.s.metrics.rejected.WithLabelValues(b.m.Name, "cancelled").Inc()
			j.done <- result{err: err}
			continue
		}
		live = append(live, j)
		n += j.n
	}
	if n == 0 {
		return
	}
	x := live[0].x
	if len(live) > 1 {
		x = make([]float32, 0, n*len(live[0].x)/live[0].n)
		for _, j := range live {
			x = append(x, j.x...)
		}
	}
	out, k, err := b.forward(x, n)
	at := 0
	for _, j := range live {
		if err != nil {
			j.done <- result{err: err}
			continue
		}
		j.done <- result{out: out[at*k : (at+j.n)*k : (at+j.n)*k], k: k}
		at += j.n
	}
}

// forward runs n examples through the model, at most MaxBatch at a time,
// and returns the n×k logits. A panic in the model becomes an error.
func (b *batcher) forward(x []float32, n int) (out []float32, k int, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, k, err = nil, 0, errorf(http.StatusInternalServerError, "model %q failed: %v", b.m.Name, p)
		}
	}()
	c, h, w := b.m.Meta.InputShape[0], b.m.Meta.InputShape[1], b.m.Meta.InputShape[2]
	per := c * h * w
	for at := 0; at < n; at += b.s.opt.MaxBatch {
		size := min(b.s.opt.MaxBatch, n-at)
		in := tensor.FromSlice(x[at*per:(at+size)*per], size, c, h, w)
		b.s.metrics.batchSize.WithLabelValues(b.m.Name).Observe(float64(size))
		start := time.Now()
		var y *tensor.Tensor
		if p := b.plan(size); p != nil {
			y = p.Run(in)
		} else {
			y = b.m.Layer.Forward(autograd.EvalConst(in)).Value
		}
		b.s.metrics.inference.WithLabelValues(b.m.Name).Observe(time.Since(start).Seconds())
		s := y.Shape()
		if len(s) != 2 || s[0] != size || (k != 0 && s[1] != k) {
			return nil, 0, errorf(http.StatusInternalServerError, "model %q returned shape %v for %d examples; want (N, K) logits", b.m.Name, s, size)
		}
		if out == nil {
			k = s[1]
			out = make([]float32, 0, n*k)
		}
		out = append(out, y.Contiguous().Data()...)
	}
	return out, k, nil
}

// plan returns the engine plan for batch size n, compiling it on first
// use, or nil when the model runs eagerly (the engine cannot run it).
func (b *batcher) plan(n int) *engine.Plan {
	if b.eager {
		return nil
	}
	if p, ok := b.plans[n]; ok {
		return p
	}
	c, h, w := b.m.Meta.InputShape[0], b.m.Meta.InputShape[1], b.m.Meta.InputShape[2]
	p, err := func() (p *engine.Plan, err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		return engine.Compile(b.m.Layer, n, c, h, w)
	}()
	if err != nil {
		b.s.opt.Logger.Warn("engine cannot run the model; using eager forward passes", "model", b.m.Name, "err", err.Error())
		b.eager = true
		return nil
	}
	b.plans[n] = p
	return p
}
