package data

import (
	"fmt"
	"iter"
	"math/rand/v2"
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
	// the loader's goroutine with an rng determined by Seed and the epoch.
	// Two epochs iterated at the same time call it concurrently.
	Transform func(x []float32, rng *rand.Rand)
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
func (l *Loader) Epoch(epoch int) iter.Seq[Batch] {
	order := l.Order(epoch)
	nb := l.NumBatches()
	bs := l.BatchSize
	src, transform, seed := l.Source, l.Transform, l.Seed
	depth := l.Prefetch
	if depth <= 0 {
		depth = 2
	}
	shape := src.Shape()
	chw := shape[0] * shape[1] * shape[2]

	return func(yield func(Batch) bool) {
		if nb == 0 {
			return
		}
		// depth batches queued, one being filled, one held by the caller.
		nbuf := min(depth+2, nb)
		free := make(chan *batchBuf, nbuf)
		for range nbuf {
			free <- &batchBuf{x: make([]float32, bs*chw), y: make([]int, bs), index: make([]int, bs)}
		}
		out := make(chan *batchBuf, depth)
		done := make(chan struct{})
		var workerPanic any
		var wg sync.WaitGroup
		wg.Go(func() {
			trng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(epoch)))
			defer close(out)
			defer func() { workerPanic = recover() }()
			for b := range nb {
				var buf *batchBuf
				select {
				case buf = <-free:
				case <-done:
					return
				}
				idx := order[b*bs : min((b+1)*bs, len(order))]
				buf.n = len(idx)
				for k, i := range idx {
					x := buf.x[k*chw : (k+1)*chw]
					buf.y[k] = src.Example(i, x)
					buf.index[k] = i
					if transform != nil {
						transform(x, trng)
					}
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
