package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// The planes kernels run the bodies of main.go over n planes of s float32
// each, plane i of a slice v starting at v[i·vStride] (batch
// normalization's channels: the planes of one channel in an (N, C, H·W)
// tensor are H·W long and C·H·W apart). Each plane is its whole vectors,
// unroll at a time then one by one, and then, when s is not a multiple of
// the vector's lanes, one masked step over the rest: masked loads give zeros
// outside the mask and never touch that memory, masked stores leave it
// alone. The mask is the parameter tail: on AVX-512 a uint16 of the k
// register (bit j for lane j), on AVX2 a []int32 of at least 8 dwords,
// all ones for the lanes in and zero for the others, for VMASKMOVPS. The
// reductions' accumulators run on across planes, so a kernel's result
// depends on n and s but not on the strides.

// planes emits the planes kernels of the ISA s.
func planes(s isa) {
	elementwisePlanes(s, "affine", "n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int",
		"dst = a·x + b (fused)", "dst", []string{"x"}, affineBody)
	elementwisePlanes(s, "affineReLU", "n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int",
		"dst = max(a·x + b, 0) (fused, then affineTo's and reluTo's arithmetic)", "dst", []string{"x"}, affineReLUBody)
	elementwisePlanes(s, "affineAddReLU", "n, s int, dst []float32, dstStride int, a, b float32, x []float32, xStride int, y []float32, yStride int",
		"dst = max((a·x + b) + y, 0) (fused, then addTo's and reluTo's arithmetic)", "dst", []string{"x", "y"}, affineAddReLUBody)
	elementwisePlanes(s, "axpbyDev", "n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, b float32, y []float32, yStride int, mu, c float32",
		"dst = a·x + b·(y-mu) + c (fused)", "dst", []string{"x", "y"}, axpbyDevBody)
	elementwisePlanes(s, "axpbyDevReLU", "n, s int, dst []float32, dstStride int, a float32, x []float32, xStride int, r []float32, rStride int, b float32, y []float32, yStride int, mu, c float32",
		"dst = a·x' + b·(y-mu) + c (fused), x' = x where r > 0, else 0", "dst", []string{"x", "r", "y"}, axpbyDevReLUBody)
	for _, r := range planesReductions {
		reducePlanes(s, r)
	}
}

// tailType is the Go type of s's tail mask parameter.
func tailType(s isa) string {
	if s.bytes == 64 {
		return "uint16"
	}
	return "[]int32"
}

// elementwisePlanes emits name+"Planes"+s.name, the planes variant of the
// float32 kernel whose arithmetic is mk: out is written, ins read.
func elementwisePlanes(s isa, name, params, doc string, out string, ins []string, mk body) {
	fn := name + "Planes" + s.name
	TEXT(fn, NOSPLIT, "func("+params+", tail "+tailType(s)+")")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %s on n planes of s elements, plane i of each slice v at v[i·vStride:],", fn, doc),
		fmt.Sprintf("in whole %d-byte vectors and then a partial one masked by tail.", s.bytes))
	l := newPlaneLoop(s.bytes/4, append([]string{out}, ins...))
	m := loadTailMask(s, s.bytes)
	step := mk(s)
	l.emit(func(_ int, at func(int) Mem) {
		ops := make([]Op, len(ins))
		for j := range ins {
			ops[j] = at(j + 1)
		}
		t := s.vec()
		step(ops, t)
		VMOVUPS(t, at(0))
	}, func(_ int, at func(int) Mem) {
		ops := make([]Op, len(ins))
		for j := range ins {
			ops[j] = m.load(at(j+1), s.bytes)
		}
		t := s.vec()
		step(ops, t)
		m.store(t, at(0))
	})
	VZEROUPPER()
	RET()
}

// reducePlanes emits r.name+"Planes"+s.name, the planes variant of the
// reduction r.
func reducePlanes(s isa, r reduction) {
	fn := r.name + "Planes" + s.name
	results := "float64"
	if r.outs > 1 {
		results = "(" + strings.Repeat("float64, ", r.outs-1) + "float64)"
	}
	TEXT(fn, NOSPLIT, "func("+r.params+", tail "+tailType(s)+") "+results)
	Pragma("noescape")
	lanes := s.bytes / 8
	Doc(fmt.Sprintf("%s returns %s over n planes of s elements, plane i of each slice v at v[i·vStride:],", fn, r.doc),
		fmt.Sprintf("accumulating in %d×%d float64 lanes: whole steps of %d elements, then a partial one masked by tail.", unroll, lanes, lanes))
	l := newPlaneLoop(lanes, r.ins)
	w := newWiden(s, r)
	// AVX2 widens 4 float32 of an XMM register; AVX-512 8 of the lower
	// half of a ZMM register, masked as a whole.
	narrow := 16
	if s.bytes == 64 {
		narrow = 64
	}
	m := loadTailMask(s, narrow)
	tw := w // the tail step's
	if r.mu {
		tw.mask = m.zero64()
	}
	acc := zeroAccs(s, r.outs)
	l.emit(func(k int, at func(int) Mem) {
		ops := make([]Op, len(r.ins))
		for j := range r.ins {
			ops[j] = at(j)
		}
		r.body(w, ops, acc[k])
	}, func(k int, at func(int) Mem) {
		ops := make([]Op, len(r.ins))
		for j := range r.ins {
			v := m.load(at(j), narrow)
			if s.bytes == 64 {
				v = v.AsY().(VecVirtual)
			}
			ops[j] = v
		}
		r.body(tw, ops, acc[k])
	})
	returnTotals(s, acc)
}

// planeLoop holds the registers of the loop over the planes: the planes
// left, the elements of a plane in whole steps and the rest, the current
// element and each operand's plane and stride in bytes.
type planeLoop struct {
	lanes              int // elements per step
	n, whole, rem, i   GPVirtual
	bases, strideBytes []GPVirtual
}

// newPlaneLoop loads the loop's registers from the parameters n, s and,
// for each operand v, v and vStride.
func newPlaneLoop(lanes int, operands []string) *planeLoop {
	l := &planeLoop{lanes: lanes, n: GP64(), whole: GP64(), rem: GP64(), i: GP64()}
	Load(Param("n"), l.n)
	Load(Param("s"), l.whole)
	MOVQ(l.whole, l.rem)
	ANDQ(U32(lanes-1), l.rem)
	SUBQ(l.rem, l.whole)
	for _, v := range operands {
		p, b := GP64(), GP64()
		Load(Param(v).Base(), p)
		Load(Param(v+"Stride"), b)
		SHLQ(U8(2), b)
		l.bases = append(l.bases, p)
		l.strideBytes = append(l.strideBytes, b)
	}
	return l
}

// at returns the memory of each operand (by index) disp bytes from the
// current element of its plane.
func (l *planeLoop) at(disp int) func(j int) Mem {
	return func(j int) Mem { return Mem{Base: l.bases[j], Index: l.i, Scale: 4, Disp: disp} }
}

// emit emits the loops over the planes. step(k, at) computes one whole
// step whose operands are at at; k is the step's slot, 0 to unroll-1 (a
// reduction's accumulator): unroll steps at a time in slots 0, 1, …, then
// the plane's last whole steps (fewer than unroll) one by one in slots 1,
// 2, …, then the masked step, tail(0, at), so that the slots' dependency
// chains, which run on across planes, stay short on small planes.
func (l *planeLoop) emit(step, tail func(k int, at func(j int) Mem)) {
	Label("plane")
	CMPQ(l.n, U8(0))
	JLE(LabelRef("done"))
	XORQ(l.i, l.i)
	end := GP64()
	Label("loop")
	LEAQ(Mem{Base: l.i, Disp: unroll * l.lanes}, end)
	CMPQ(end, l.whole)
	JA(LabelRef("rest"))
	for k := range unroll {
		step(k, l.at(4*k*l.lanes))
	}
	MOVQ(end, l.i)
	JMP(LabelRef("loop"))

	Label("rest")
	for k := 1; k < unroll; k++ {
		CMPQ(l.i, l.whole)
		JAE(LabelRef("tail"))
		step(k, l.at(0))
		ADDQ(U8(l.lanes), l.i)
	}

	Label("tail")
	CMPQ(l.rem, U8(0))
	JE(LabelRef("next"))
	tail(0, l.at(0))
	Label("next")
	for j, b := range l.bases {
		ADDQ(l.strideBytes[j], b)
	}
	DECQ(l.n)
	JMP(LabelRef("plane"))
	Label("done")
}

// tailMask is the mask of a plane's partial last step: a k register on
// AVX-512, dwords in a vector on AVX2.
type tailMask struct {
	k Register
	v VecVirtual
}

// loadTailMask loads the parameter tail; on AVX2 into a vector of the
// given bytes.
func loadTailMask(s isa, bytes int) tailMask {
	if s.bytes == 64 {
		b, err := Param("tail").Resolve()
		if err != nil {
			panic(err)
		}
		k := K()
		KMOVW(b.Addr, k)
		return tailMask{k: k}
	}
	p := Load(Param("tail").Base(), GP64())
	v := newVec(bytes)
	VMOVDQU(Mem{Base: p}, v)
	return tailMask{v: v}
}

// newVec is a new vector register of the given bytes.
func newVec(bytes int) VecVirtual {
	switch bytes {
	case 16:
		return XMM()
	case 32:
		return YMM()
	}
	return ZMM()
}

// load is a masked load of a vector of the given bytes from m: zeros
// outside the mask.
func (t tailMask) load(m Mem, bytes int) VecVirtual {
	v := newVec(bytes)
	if t.k != nil {
		VMOVUPS_Z(m, t.k, v)
	} else {
		VMASKMOVPS(m, t.v, v)
	}
	return v
}

// store is a masked store of v to m.
func (t tailMask) store(v VecVirtual, m Mem) {
	if t.k != nil {
		VMOVUPS(v, t.k, m)
	} else {
		VMASKMOVPS(v, t.v, m)
	}
}

// zero64 returns the function that zeroes the float64 lanes of a widened
// step outside the mask (lane j of the float64 vector is element j).
func (t tailMask) zero64() func(x VecVirtual) {
	if t.k != nil {
		return func(x VecVirtual) { VMOVAPD_Z(x, t.k, x) }
	}
	q := YMM()
	VPMOVSXDQ(t.v, q) // each dword mask to a qword mask
	return func(x VecVirtual) { VANDPD(q, x, x) }
}
