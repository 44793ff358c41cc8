package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/fovea-ml/fovea/tensor"
)

// Batch is one mini-batch from a [Loader].
//
// A Loader reuses a few buffers, so X, Y and Index are valid only until the
// loop body that received the batch returns; Clone X and copy the slices to
// keep them longer.
type Batch struct {
	X     *tensor.Tensor // (B, C, H, W)
	Y     []int          // (B) labels
	Index []int          // (B) positions of the examples in the Source
}

// Loader cuts a [Source] into mini-batches, optionally shuffled, and
// prepares them on a background goroutine while the caller trains on the
// previous ones. Set the fields and call [Loader.Epoch]:
//
//	l := &data.Loader{Source: train, BatchSize: 64, Shuffle: true, Seed: 1}
//	for epoch := range 10 {
//		for b := range l.Epoch(epoch) {
//			... b.X is (64, C, H, W), b.Y the labels ...
//		}
//	}
//
// Fields must not change while an epoch is running.
type Loader struct {
	// Source is the data to batch.
	Source Source
	// BatchSize is the number of examples per batch; it must be positive.
	BatchSize int
	// Shuffle visits the examples in a new random order each epoch. The
	// order is a function of Seed and the epoch number only.
	Shuffle bool
	// Seed seeds the shuffle and the rng passed to Transform.
	Seed uint64
	// DropLast drops the last batch if it is smaller than BatchSize.
	DropLast bool
	// Prefetch is how many batches are prepared ahead; 0 means 2.
	Prefetch int
	// Transform, if not nil, is applied to each example (C*H*W values,
	// NCHW) after it is copied into its batch, for augmentation. It runs on
	// the loader's worker goroutines, concurrently for different examples,
	// with an rng seeded from Seed, the epoch and the example's position in
	// the epoch, so the result does not depend on Workers or timing.
	Transform func(x []float32, rng *rand.Rand)
	// TransformAt, if not nil, replaces Transform for transforms that
	// depend on which example they transform and in which epoch
	// (augment's alternating flip): it gets the same rng and ex.
	TransformAt func(x []float32, rng *rand.Rand, ex ExampleInfo)
	// Workers is the number of goroutines that fetch and transform the
	// examples of a batch; 0 means runtime.GOMAXPROCS(0). Without a
	// Transform one goroutine does the copying.
	Workers int
}

// ExampleInfo tells a [Loader.TransformAt] which example it transforms:
// its index in the Source, the epoch (from 0) and the Loader's Seed.
type ExampleInfo struct {
	Index, Epoch int
	Seed         uint64
}

// transformAt returns l's transform in TransformAt's form, or nil.
func (l *Loader) transformAt() func([]float32, *rand.Rand, ExampleInfo) {
	if l.TransformAt != nil {
		return l.TransformAt
	}
	if t := l.Transform; t != nil {
		return func(x []float32, rng *rand.Rand, _ ExampleInfo) { t(x, rng) }
	}
	return nil
}

// NumBatches returns the number of batches in one epoch.
func (l *Loader) NumBatches() int {
	l.check()
	n := l.Source.Len()
	if l.DropLast {
		return n / l.BatchSize
	}
	return (n + l.BatchSize - 1) / l.BatchSize
}

// Order returns the order in which epoch visits the examples: 0, 1, …,
// Len()-1 without Shuffle, else a permutation drawn from a PCG generator
// seeded with (Seed, epoch). With DropLast the tail of the order beyond
// NumBatches()*BatchSize is not visited.
func (l *Loader) Order(epoch int) []int {
	l.check()
	order := make([]int, l.Source.Len())
	for i := range order {
		order[i] = i
	}
	if l.Shuffle {
		rng := rand.New(rand.NewPCG(l.Seed, uint64(epoch)))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	return order
}

func (l *Loader) check() {
	if l.Source == nil {
		panic("data: Loader has no Source")
	}
	if l.BatchSize <= 0 {
		panic(fmt.Sprintf("data: Loader.BatchSize is %d, must be positive", l.BatchSize))
	}
}

// batchBuf is one reusable batch's storage.
type batchBuf struct {
	x        []float32
	y, index []int
	n        int // examples filled
}

// Epoch returns the batches of the given epoch (numbered from 0) in order.
// A goroutine prepares up to Prefetch batches ahead; it stops when the loop
// ends, including when the caller breaks out early, before the loop
// statement completes. A panic in Source.Example or Transform is re-raised
// in the caller's goroutine.
func (l *Loader) Epoch(epoch int) iter.Seq[Batch] { return l.EpochFrom(epoch, 0) }

// EpochFrom is [Loader.Epoch] starting at batch first (from 0): the same
// batches, with the same augmentation (seeded by position), that Epoch
// yields after its first first ones, without preparing those. A resumed
// training run uses it to continue an interrupted epoch. first ≥
// NumBatches() yields nothing; a negative first panics.
func (l *Loader) EpochFrom(epoch, first int) iter.Seq[Batch] {
	if first < 0 {
		panic(fmt.Sprintf("data: Loader.EpochFrom batch %d, must not be negative", first))
	}
	order := l.Order(epoch)
	nb := l.NumBatches()
	bs := l.BatchSize
	src, transform, seed := l.Source, l.transformAt(), l.Seed
	workers := l.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if transform == nil {
		workers = 1
	}
	depth := l.Prefetch
	if depth <= 0 {
		depth = 2
	}
	shape := src.Shape()
	chw := shape[0] * shape[1] * shape[2]

	return func(yield func(Batch) bool) {
		if first >= nb {
			return
		}
		// depth batches queued, one being filled, one held by the caller.
		nbuf := min(depth+2, nb-first)
		free := make(chan *batchBuf, nbuf)
		for range nbuf {
			free <- &batchBuf{x: make([]float32, bs*chw), y: make([]int, bs), index: make([]int, bs)}
		}
		out := make(chan *batchBuf, depth)
		done := make(chan struct{})
		var workerPanic any
		var wg sync.WaitGroup
		wg.Go(func() {
			defer close(out)
			defer func() {
				if p := recover(); p != nil {
					workerPanic = p
				}
			}()
			fill := newBatchFiller(src, transform, seed, epoch, chw, workers)
			defer fill.stop()
			for b := first; b < nb; b++ {
				var buf *batchBuf
				select {
				case buf = <-free:
				case <-done:
					return
				}
				idx := order[b*bs : min((b+1)*bs, len(order))]
				buf.n = len(idx)
				if p := fill.run(buf, idx, b*bs); p != nil {
					panic(p)
				}
				select {
				case out <- buf:
				case <-done:
					return
				}
			}
		})
		defer func() {
			close(done)
			wg.Wait()
		}()

		var held *batchBuf
		for buf := range out {
			if held != nil {
				free <- held // never blocks: free holds every buffer
			}
			held = buf
			n := buf.n
			b := Batch{
				X:     tensor.FromSlice(buf.x[:n*chw], n, shape[0], shape[1], shape[2]),
				Y:     buf.y[:n:n],
				Index: buf.index[:n:n],
			}
			if !yield(b) {
				return
			}
		}
		if workerPanic != nil {
			panic(workerPanic)
		}
	}
}

// batchFiller copies the examples of a batch into its buffer and applies
// the transform, split over a fixed set of worker goroutines.
type batchFiller struct {
	src       Source
	transform func([]float32, *rand.Rand, ExampleInfo)
	seed      uint64
	epoch     int
	chw       int
	jobs      []chan fillJob
	results   chan any // one per job: nil or a recovered panic
}

// fillJob is one worker's share of a batch: positions k = first, first +
// stride, … of idx.
type fillJob struct {
	buf         *batchBuf
	idx         []int
	first, pos0 int
	stride      int
}

func newBatchFiller(src Source, transform func([]float32, *rand.Rand, ExampleInfo), seed uint64, epoch, chw, workers int) *batchFiller {
	f := &batchFiller{src: src, transform: transform, seed: seed, epoch: epoch, chw: chw, results: make(chan any, workers)}
	for w := 1; w < workers; w++ { // worker 0 is the calling goroutine
		jobs := make(chan fillJob)
		f.jobs = append(f.jobs, jobs)
		go func() {
			pcg := rand.NewPCG(0, 0)
			rng := rand.New(pcg)
			for j := range jobs {
				f.results <- f.do(j, pcg, rng)
			}
		}()
	}
	return f
}

// run fills buf with the examples idx, which start at position pos0 of the
// epoch's order, and returns the first panic of any worker.
func (f *batchFiller) run(buf *batchBuf, idx []int, pos0 int) any {
	stride := len(f.jobs) + 1
	for w, jobs := range f.jobs {
		jobs <- fillJob{buf: buf, idx: idx, first: w + 1, pos0: pos0, stride: stride}
	}
	pcg := rand.NewPCG(0, 0)
	first := f.do(fillJob{buf: buf, idx: idx, first: 0, pos0: pos0, stride: stride}, pcg, rand.New(pcg))
	for range f.jobs {
		if p := <-f.results; p != nil && first == nil {
			first = p
		}
	}
	return first
}

// do fills one job's examples; it returns a recovered panic or nil.
func (f *batchFiller) do(j fillJob, pcg *rand.PCG, rng *rand.Rand) (panicked any) {
	defer func() { panicked = recover() }()
	for k := j.first; k < len(j.idx); k += j.stride {
		x := j.buf.x[k*f.chw : (k+1)*f.chw]
		j.buf.y[k] = f.src.Example(j.idx[k], x)
		j.buf.index[k] = j.idx[k]
		if f.transform != nil {
			pcg.Seed(f.seed^0x9e3779b97f4a7c15, uint64(f.epoch)<<32|uint64(j.pos0+k))
			f.transform(x, rng, ExampleInfo{Index: j.idx[k], Epoch: f.epoch, Seed: f.seed})
		}
	}
	return nil
}

// stop ends the worker goroutines.
func (f *batchFiller) stop() {
	for _, jobs := range f.jobs {
		close(jobs)
	}
}
