package tensor

import (
	"math"
	"sync"
)

// Arena recycles tensor memory across the iterations of a repeated
// computation, such as training steps, that allocate the same sequence of
// shapes each time. A tensor remembers the arena its memory came from (or
// was tagged with, [Tensor.In]), and every operation that computes a new
// tensor from it takes the result's memory from that arena too: the memory
// of a computation follows its inputs, as a device does in PyTorch. So
// tagging a step's input with an arena is all it takes for the activations
// and gradients of the step to come from it; [Arena.Reset] makes all of
// that memory available again. After the first iteration the steady state
// allocates no tensor memory, so the garbage collector has nothing to do.
//
//	a := tensor.NewArena()
//	for step := range steps {
//		a.Reset()
//		x := batch.In(a)                     // results computed from x: arena memory
//		loss := lossFn(model.Forward(x), y)  // activations, gradients
//		loss.Backward()
//		opt.Step() // parameters and optimizer state are ordinary memory
//	}
//
// (package autograd does the tagging: see autograd.Tape.) Results computed
// from tensors of no arena only (parameters, optimizer state, running
// statistics) are ordinary memory, and [Tensor.Clone] always copies to
// ordinary memory (autograd stores leaf gradients that way), so they may
// outlive the iteration. A tensor from the arena must not be used after the
// next Reset. An arena may be used by one computation at a time; two
// goroutines computing at once use two arenas, or none.
//
// # Giving memory back early
//
// [Arena.Release] returns one buffer to the arena before the next Reset, so
// that later tensors of the same iteration can reuse it (autograd gives
// back each intermediate gradient once it has been passed on). A buffer is
// the whole allocation behind a tensor handed out by [Arena.New] or
// [Arena.Empty]; every view of it ([Tensor.Reshape] of a contiguous tensor,
// [Tensor.Slice], [Tensor.Narrow], [Tensor.Permute], [Tensor.Data]) shares
// it, and [Tensor.Buffer] tells which buffer a tensor uses. Releasing is the
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

	// The headers of the tensors handed out (the Tensor and its shape and
	// strides), recycled at Reset like the memory: hdrs[:nHdr] are in use.
	hdrs []*[hdrChunk]header
	nHdr int
}

// header is an arena tensor's header with room for the shape and strides
// of up to maxHdrRank dimensions, one allocation for all three.
type header struct {
	t    Tensor
	dims [2 * maxHdrRank]int
}

const (
	maxHdrRank = 4
	hdrChunk   = 256 // headers per allocation
)

// newHeader returns a recycled header for a tensor of the given shape,
// with its shape and row-major strides set. a.mu must be held.
func (a *Arena) newHeader(shape []int) *Tensor {
	c, i := a.nHdr/hdrChunk, a.nHdr%hdrChunk
	if c == len(a.hdrs) {
		a.hdrs = append(a.hdrs, new([hdrChunk]header))
	}
	a.nHdr++
	h := &a.hdrs[c][i]
	n := len(shape)
	h.t = Tensor{shape: h.dims[:n:n], strides: h.dims[maxHdrRank : maxHdrRank+n : maxHdrRank+n], arena: a}
	copy(h.t.shape, shape)
	st := 1
	for d := n - 1; d >= 0; d-- {
		h.t.strides[d] = st
		st *= shape[d]
	}
	return &h.t
}

// NewArena returns an empty arena.
func NewArena() *Arena {
	return &Arena{free: map[int][][]float32{}, index: map[*float32]int{}}
}

// New returns a zero-filled tensor of the given shape whose memory comes
// from a, and which a's results keep taking memory from. A nil a gives
// ordinary memory: (*Arena)(nil).New is [New].
func (a *Arena) New(shape ...int) *Tensor {
	t := a.Empty(shape...)
	if a != nil {
		clear(t.data) // recycled memory; ordinary memory is zeroed already
	}
	return t
}

// Empty is [Arena.New] without the guarantee of zeros: for an output that
// the caller overwrites completely. From an arena it skips clearing
// recycled memory; a nil a gives ordinary (zeroed) memory.
//
// An arena's tensors of up to four dimensions also recycle their headers
// (the *Tensor itself): like the memory, they must not be used after the
// next Reset.
func (a *Arena) Empty(shape ...int) *Tensor {
	n := checkShape(shape)
	if a != nil && len(shape) <= maxHdrRank {
		a.mu.Lock()
		t := a.newHeader(shape)
		if n > 0 {
			t.data = a.getDirtyLocked(n)
		} else {
			t.data = []float32{}
		}
		a.mu.Unlock()
		return t
	}
	t := &Tensor{shape: append([]int(nil), shape...), strides: rowMajor(shape), arena: a}
	if a != nil && n > 0 {
		t.data = a.getDirty(n)
	} else {
		t.data = make([]float32, n)
	}
	return t
}

// Arena returns the arena t's results take memory from: the one its own
// memory came from, or the one it was tagged with; nil for ordinary memory.
func (t *Tensor) Arena() *Arena { return t.arena }

// In returns a view of t (sharing its memory) tagged with a, so that
// results computed from it take their memory from a; a nil a removes the
// tag. t's own memory does not move: Release of the view does nothing
// unless a handed that memory out. The view stays valid across a's
// resets; [Arena.View] is In for a view needed until the next Reset only.
func (t *Tensor) In(a *Arena) *Tensor {
	v := *t
	v.arena = a
	return &v
}

// View is t.In(a) with a header recycled like those of a's tensors, so
// that it allocates nothing (a replayed training step's input): it must
// not be used after a's next Reset. A nil a, a view that is not
// contiguous or has more than four dimensions get t.In(a).
func (a *Arena) View(t *Tensor) *Tensor {
	if a == nil || !t.IsContiguous() || len(t.shape) > maxHdrRank {
		return t.In(a)
	}
	a.mu.Lock()
	v := a.newHeader(t.shape)
	a.mu.Unlock()
	v.data = t.data
	return v
}

// arenaOf returns the arena of the first of ts that has one: where the
// result of an operation on ts takes its memory.
func arenaOf(ts ...*Tensor) *Arena {
	for _, t := range ts {
		if t != nil && t.arena != nil {
			return t.arena
		}
	}
	return nil
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
	a.nHdr = 0
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

// Release gives t's buffer back to the arena it came from, as
// [Arena.Release] does; it does nothing and returns false for ordinary
// memory.
func Release(t *Tensor) bool {
	if t == nil || t.arena == nil {
		return false
	}
	return t.arena.Release(t)
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

// getDirty returns a buffer of length n holding arbitrary values.
func (a *Arena) getDirty(n int) []float32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.getDirtyLocked(n)
}

// getDirtyLocked is getDirty with a.mu held.
func (a *Arena) getDirtyLocked(n int) []float32 {
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
