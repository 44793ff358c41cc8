package tensor

import (
	"math"
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
//
// # Giving memory back early
//
// [Arena.Release] returns one buffer to the arena before the next Reset, so
// that later tensors of the same iteration can reuse it (autograd gives
// back each intermediate gradient once it has been passed on). A buffer is
// the whole allocation behind a tensor handed out by [New] or [Empty]; every
// view of it ([Tensor.Reshape] of a contiguous tensor, [Tensor.Slice],
// [Tensor.Narrow], [Tensor.Permute], [Tensor.Data]) shares it, and
// [Tensor.Buffer] tells which buffer a tensor uses. Releasing is the
// caller's promise that no tensor using the buffer, the released one or any
// view, is read or written again: the arena cannot see views, so the caller
// must know every holder (autograd counts them per [BufferID]).
type Arena struct {
	// Poison fills every released buffer with NaN, so that a use after
	// Release shows up in results: a debugging aid for tests.
	Poison bool

	mu    sync.Mutex
	free  map[int][][]float32 // released buffers by length
	used  [][]float32         // handed out since the last Reset, not released
	index map[*float32]int    // bufferEnd of each used buffer → its position in used
	size  int                 // total floats owned
}

// NewArena returns an empty arena.
func NewArena() *Arena {
	return &Arena{free: map[int][][]float32{}, index: map[*float32]int{}}
}

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
	clear(a.index)
}

// Release gives the buffer behind t back to the arena before the next
// Reset, so that a later [New] or [Empty] of the same size may reuse it. It
// reports whether it did: only a buffer that this arena handed out since the
// last Reset and that has not been released since is given back; for any
// other tensor (ordinary memory, another arena's, one already released, a
// nil or empty tensor) Release does nothing and returns false, so releasing
// twice is harmless.
//
// The whole buffer is released even when t is a view of part of it. The
// caller must guarantee that neither t nor any other tensor sharing its
// buffer (same [Tensor.Buffer]) is used afterwards; see [Arena].
func (a *Arena) Release(t *Tensor) bool {
	if t == nil {
		return false
	}
	end := bufferEnd(t.data)
	if end == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, ok := a.index[end]
	if !ok {
		return false
	}
	b := a.used[i]
	last := len(a.used) - 1
	if i != last {
		a.used[i] = a.used[last]
		a.index[bufferEnd(a.used[i])] = i
	}
	a.used[last] = nil
	a.used = a.used[:last]
	delete(a.index, end)
	if a.Poison {
		nan := float32(math.NaN())
		for i := range b {
			b[i] = nan
		}
	}
	a.free[len(b)] = append(a.free[len(b)], b)
	return true
}

// Release gives t's buffer back to the arena in use, as [Arena.Release]
// does; it does nothing and returns false when no arena is in use.
func Release(t *Tensor) bool {
	if a := current.Load(); a != nil {
		return a.Release(t)
	}
	return false
}

// BufferID identifies the memory a tensor's elements live in: a tensor and
// every view of it (Reshape of a contiguous tensor, Slice, Narrow, Permute,
// Transpose) have the same BufferID, and tensors with separate memory have
// different ones. The zero BufferID belongs to tensors with no elements.
// It is comparable, for use as a map key.
type BufferID struct{ end *float32 }

// Buffer returns the identity of the memory behind t.
//
// Views made by this package always re-slice their base's data from the
// front, keeping its capacity, so the last element of the backing array
// identifies the allocation. A tensor made with [FromSlice] from a slice
// with reduced capacity (s[i:j:k]) does not share the BufferID of the
// memory it aliases.
func (t *Tensor) Buffer() BufferID { return BufferID{bufferEnd(t.data)} }

// bufferEnd is the address of the last element of d's backing array, or
// nil if it has none.
func bufferEnd(d []float32) *float32 {
	d = d[:cap(d)]
	if len(d) == 0 {
		return nil
	}
	return &d[len(d)-1]
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
	a.index[bufferEnd(b)] = len(a.used)
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
