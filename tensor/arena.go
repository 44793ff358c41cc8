package tensor

import (
	"sync"
	"sync/atomic"
)

// Arena recycles tensor memory across the iterations of a repeated
// computation, such as training steps, that allocate the same sequence of
// shapes each time. While an arena is in use, [New] (and so every operation
// creating a tensor) takes memory from it; [Arena.Reset] makes all of that
// memory available again. After the first iteration the steady state
// allocates no tensor memory, so the garbage collector has nothing to do.
//
// Use it around the part of an iteration whose tensors die with it:
//
//	a := tensor.NewArena()
//	for step := range steps {
//		a.Reset()
//		stop := a.Use()
//		loss := lossFn(model.Forward(x), y) // activations, gradients: arena memory
//		loss.Backward()
//		stop()
//		opt.Step() // optimizer state must not live in the arena
//	}
//
// Tensors that outlive the iteration must not come from the arena:
// parameters, optimizer state and running statistics are made outside it,
// and [Tensor.Clone] always copies to ordinary memory (autograd stores leaf
// gradients that way). A tensor from the arena must not be used after the
// next Reset.
//
// The arena in use is process-wide, like autograd's NoGrad switch.
type Arena struct {
	mu   sync.Mutex
	free map[int][][]float32 // released buffers by length
	used [][]float32         // handed out since the last Reset
	size int                 // total floats owned
}

// NewArena returns an empty arena.
func NewArena() *Arena { return &Arena{free: map[int][][]float32{}} }

// current is the arena New draws from, or nil.
var current atomic.Pointer[Arena]

// Use makes New draw from a until the returned function is called.
func (a *Arena) Use() (stop func()) {
	prev := current.Swap(a)
	return func() { current.Store(prev) }
}

// Reset returns every buffer handed out since the last Reset to the arena.
func (a *Arena) Reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.used {
		a.free[len(b)] = append(a.free[len(b)], b)
	}
	a.used = a.used[:0]
}

// Floats reports how many float32 values the arena owns.
func (a *Arena) Floats() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.size
}

// get returns a zeroed buffer of length n.
func (a *Arena) get(n int) []float32 {
	b := a.getDirty(n)
	clear(b)
	return b
}

// getDirty returns a buffer of length n holding arbitrary values.
func (a *Arena) getDirty(n int) []float32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b []float32
	if list := a.free[n]; len(list) > 0 {
		b = list[len(list)-1]
		a.free[n] = list[:len(list)-1]
	} else {
		b = make([]float32, n)
		a.size += n
	}
	a.used = append(a.used, b)
	return b
}

// alloc returns zeroed memory for n values: from the arena in use, if any.
func alloc(n int) []float32 {
	if a := current.Load(); a != nil && n > 0 {
		return a.get(n)
	}
	return make([]float32, n)
}

// NewPersistent is [New] in ordinary garbage-collected memory even while an
// arena is in use: for state that outlives an iteration, such as optimizer
// buffers created lazily on the first step.
func NewPersistent(shape ...int) *Tensor {
	n := checkShape(shape)
	return &Tensor{shape: append([]int(nil), shape...), strides: rowMajor(shape), data: make([]float32, n)}
}

// Empty is [New] without the guarantee of zeros: for an output that the
// caller overwrites completely. Inside an arena it skips clearing recycled
// memory; outside one it is New.
func Empty(shape ...int) *Tensor {
	n := checkShape(shape)
	var data []float32
	if a := current.Load(); a != nil && n > 0 {
		data = a.getDirty(n)
	} else {
		data = make([]float32, n)
	}
	return &Tensor{shape: append([]int(nil), shape...), strides: rowMajor(shape), data: data}
}
