package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// planeSizes are the plane lengths the planes tests cover: the vector
// widths' neighbours (every tail on both paths), batch normalization's
// 7×7, 14×14, 28×28 planes and a long odd one.
var planeSizes = []int{1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 49, 63, 64, 65, 196, 784, 1024 + 5}

// planeLayout is n planes of s floats, plane i at i·stride.
type planeLayout struct{ n, s, stride int }

func (l planeLayout) String() string { return fmt.Sprintf("n=%d s=%d stride=%d", l.n, l.s, l.stride) }

// span is the length of a slice that holds the planes.
func (l planeLayout) span() int { return (l.n-1)*l.stride + l.s }

// inPlane reports whether index j of the planes' slice lies in a plane.
func (l planeLayout) inPlane(j int) bool { return j >= 0 && j < l.span() && j%l.stride < l.s }

// randLayouts returns layouts of n planes of s floats: dense, and with a
// random gap after each plane.
func randLayouts(r *rand.Rand, n, s int) []planeLayout {
	return []planeLayout{{n, s, s}, {n, s, s + 1 + r.IntN(19)}}
}

// planesGuard is the number of cells before and after a planes slice in
// its buffer.
const planesGuard = 19

// newPlanes returns a buffer holding the planes of l, planesGuard cells in,
// and the planes' slice (capacity capped at its end). Plane cells get
// value(i); the cells around and between planes get fill(i), i the index
// in the buffer.
func newPlanes(l planeLayout, value, fill func(i int) float32) (buf, v []float32) {
	buf = make([]float32, planesGuard+l.span()+planesGuard)
	for i := range buf {
		if l.inPlane(i - planesGuard) {
			buf[i] = value(i)
		} else {
			buf[i] = fill(i)
		}
	}
	return buf, buf[planesGuard : planesGuard+l.span() : planesGuard+l.span()]
}

// planesInput returns input planes of l with vecInput's values (special
// ones included) and NaN in every cell around and between planes, so that
// reading one shows in the results.
func planesInput(r *rand.Rand, l planeLayout) []float32 {
	vals := vecInput(r, planesGuard+l.span()+planesGuard, 0)
	_, v := newPlanes(l, func(i int) float32 { return vals[i] }, func(int) float32 { return float32(math.NaN()) })
	return v
}

// checkPlanesGuards reports cells of buf outside the planes of l that no
// longer hold their sentinel.
func checkPlanesGuards(t *testing.T, what string, l planeLayout, buf []float32) {
	t.Helper()
	for i, v := range buf {
		if !l.inPlane(i-planesGuard) && math.Float32bits(v) != math.Float32bits(sentinel(i)) {
			t.Errorf("%s: cell %d outside the planes overwritten: %v", what, i-planesGuard, v)
			return
		}
	}
}

// vecMag is the rounding magnitude of the elementwise kernel name of
// vecCases (nil: exact).
func vecMag(name string) func(float32, []float32) float64 {
	for _, vc := range vecCases {
		if vc.name == name {
			return vc.mag
		}
	}
	panic("no vec case " + name)
}

// planesCase is an elementwise planes kernel for the shared test driver:
// run and ref write dst from the inputs, each with its own stride.
type planesCase struct {
	name   string
	inputs int
	run    func(n, s int, dst []float32, ds int, in [][]float32, is []int)
	ref    func(n, s int, dst []float32, ds int, in [][]float32, is []int)
	mag    func(dst0 float32, in []float32) float64
}

var planesCases = []planesCase{
	{name: "AffinePlanes", inputs: 1, mag: vecMag("AffineTo"),
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AffinePlanes(n, s, d, ds, alpha, beta, in[0], is[0])
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			affinePlanesGeneric(n, s, d, ds, alpha, beta, in[0], is[0])
		}},
	{name: "AffineReLUPlanes", inputs: 1, mag: vecMag("AffineTo"),
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AffineReLUPlanes(n, s, d, ds, alpha, beta, in[0], is[0])
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			affineReLUPlanesGeneric(n, s, d, ds, alpha, beta, in[0], is[0])
		}},
	{name: "AxpbyDevPlanes", inputs: 2, mag: vecMag("AxpbyDev"),
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AxpbyDevPlanes(n, s, d, ds, alpha, in[0], is[0], beta, in[1], is[1], delta, gamma)
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			axpbyDevPlanesGeneric(n, s, d, ds, alpha, in[0], is[0], beta, in[1], is[1], delta, gamma)
		}},
	{name: "ReLUBackwardPlanes", inputs: 2,
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			ReLUBackwardPlanes(n, s, d, ds, in[0], is[0], in[1], is[1])
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			reluBackwardPlanesGeneric(n, s, d, ds, in[0], is[0], in[1], is[1])
		}},
}

// TestPlanesKernels checks every elementwise planes kernel on every path
// against its reference loop: plane lengths that leave every tail, 1 to 7
// planes, dense and gapped strides (each operand its own), NaN around and
// between the input planes, sentinels around and between the output
// planes that must survive, and in place (dst the first input's planes).
func TestPlanesKernels(t *testing.T) {
	for _, pc := range planesCases {
		t.Run(pc.name, func(t *testing.T) {
			forEachVecPath(t, func(t *testing.T) {
				r := newRand(50)
				for _, s := range planeSizes {
					for _, n := range []int{1, 2, 3, 7} {
						for _, dl := range randLayouts(r, n, s) {
							checkPlanesCase(t, r, pc, dl)
							if t.Failed() {
								return
							}
						}
					}
				}
			})
		})
	}
}

func checkPlanesCase(t *testing.T, r *rand.Rand, pc planesCase, dl planeLayout) {
	t.Helper()
	n, s := dl.n, dl.s
	in := make([][]float32, pc.inputs)
	ls := make([]planeLayout, pc.inputs)
	strides := make([]int, pc.inputs)
	for j := range in {
		ls[j] = randLayouts(r, n, s)[r.IntN(2)]
		in[j], strides[j] = planesInput(r, ls[j]), ls[j].stride
	}
	d0 := planesInput(r, dl) // the output's previous contents
	buf, dst := newPlanes(dl, func(i int) float32 { return d0[i-planesGuard] }, sentinel)
	want := append([]float32(nil), dst...)
	pc.ref(n, s, want, dl.stride, in, strides)
	pc.run(n, s, dst, dl.stride, in, strides)
	what := fmt.Sprintf("%s dst %v, inputs %v", pc.name, dl, ls)
	checkPlanesGuards(t, what, dl, buf)
	checkPlanesOut(t, what, pc, dl, dst, want, in, ls)

	// In place: the output is the first input's planes.
	x := append([]float32(nil), in[0]...)
	in2 := append([][]float32{x}, in[1:]...)
	want = append([]float32(nil), x...)
	pc.ref(n, s, want, ls[0].stride, in, strides)
	pc.run(n, s, x, ls[0].stride, in2, strides)
	checkPlanesOut(t, what+" in place", pc, ls[0], x, want, in, ls)
}

// checkPlanesOut compares the planes of got and want (laid out as dl):
// bit for bit, or within the case's rounding magnitude.
func checkPlanesOut(t *testing.T, what string, pc planesCase, dl planeLayout, got, want []float32, in [][]float32, ls []planeLayout) {
	t.Helper()
	for i := range dl.n {
		for j := range dl.s {
			k := i*dl.stride + j
			ok := sameF32(got[k], want[k])
			if !ok && pc.mag != nil {
				args := make([]float32, len(in))
				for a := range in {
					args[a] = in[a][i*ls[a].stride+j]
				}
				ok = closeF32(got[k], want[k], pc.mag(0, args))
			}
			if !ok {
				t.Errorf("%s: plane %d [%d] = %v, want %v", what, i, j, got[k], want[k])
				return
			}
		}
	}
}

// TestAffineReLUPlanesIsTwoKernels checks on every path that the fused
// AffineReLUPlanes gives the bits of AffinePlanes followed by ReLUTo on
// each plane, the property BatchNormReLU's bit-equality rests on.
func TestAffineReLUPlanesIsTwoKernels(t *testing.T) {
	forEachVecPath(t, func(t *testing.T) {
		r := newRand(51)
		for _, s := range planeSizes {
			l := planeLayout{5, s, s + 3}
			x := planesInput(r, l)
			fused, two := make([]float32, l.span()), make([]float32, l.span())
			AffineReLUPlanes(l.n, s, fused, l.stride, alpha, beta, x, l.stride)
			AffinePlanes(l.n, s, two, l.stride, alpha, beta, x, l.stride)
			for i := range l.n {
				p := two[i*l.stride : i*l.stride+s]
				ReLUTo(p, p)
			}
			for k := range fused {
				if l.inPlane(k) && math.Float32bits(fused[k]) != math.Float32bits(two[k]) {
					t.Fatalf("%v [%d]: fused %v, two kernels %v", l, k, fused[k], two[k])
				}
			}
		}
	})
}

// planesReduction is a reduction planes kernel for the shared test driver.
type planesReduction struct {
	name string
	run  func(n, s int, g []float32, gs int, x []float32, xs int, mu float64) float64
	ref  func(n, s int, g []float32, gs int, x []float32, xs int, mu float64) (sum, mag float64)
}

var planesReductions = []planesReduction{
	{"Sum64Planes",
		func(n, s int, _ []float32, _ int, x []float32, xs int, _ float64) float64 {
			return Sum64Planes(n, s, x, xs)
		},
		func(n, s int, _ []float32, _ int, x []float32, xs int, _ float64) (sum, mag float64) {
			for i := range n {
				for _, v := range x[i*xs : i*xs+s] {
					mag += math.Abs(float64(v))
				}
			}
			return sum64PlanesGeneric(n, s, x, xs), mag
		}},
	{"SqDevSum64Planes",
		func(n, s int, _ []float32, _ int, x []float32, xs int, mu float64) float64 {
			return SqDevSum64Planes(n, s, x, xs, mu)
		},
		func(n, s int, _ []float32, _ int, x []float32, xs int, mu float64) (sum, mag float64) {
			sum = sqDevSum64PlanesGeneric(n, s, x, xs, mu)
			return sum, sum
		}},
	{"DotDev64Planes",
		func(n, s int, g []float32, gs int, x []float32, xs int, mu float64) float64 {
			return DotDev64Planes(n, s, g, gs, x, xs, mu)
		},
		func(n, s int, g []float32, gs int, x []float32, xs int, mu float64) (sum, mag float64) {
			for i := range n {
				for j, v := range x[i*xs : i*xs+s] {
					mag += math.Abs(float64(g[i*gs+j]) * (float64(v) - mu))
				}
			}
			return dotDev64PlanesGeneric(n, s, g, gs, x, xs, mu), mag
		}},
}

// TestPlanesReductions checks the float64-accumulating planes reductions
// on every path against their reference loops within float64 summation
// error, with NaN around and between the planes (a kernel that reads
// there, or lets a masked-off lane count, returns NaN), and checks that
// the strides do not change the bits: dense and gapped copies of the same
// values give the same result.
func TestPlanesReductions(t *testing.T) {
	for _, pr := range planesReductions {
		t.Run(pr.name, func(t *testing.T) {
			forEachVecPath(t, func(t *testing.T) {
				r := newRand(52)
				for _, s := range planeSizes {
					for _, n := range []int{1, 2, 3, 7, 128} {
						gl, xl := randLayouts(r, n, s)[r.IntN(2)], randLayouts(r, n, s)[r.IntN(2)]
						vals := randSlice(r, 2*n*s)
						_, g := newPlanes(gl, func(int) float32 { return 0 }, func(int) float32 { return float32(math.NaN()) })
						_, x := newPlanes(xl, func(int) float32 { return 0 }, func(int) float32 { return float32(math.NaN()) })
						for i := range n {
							copy(g[i*gl.stride:i*gl.stride+s], vals[2*i*s:])
							copy(x[i*xl.stride:i*xl.stride+s], vals[(2*i+1)*s:(2*i+2)*s])
						}
						mu := r.Float64() - 0.5
						want, mag := pr.ref(n, s, g, gl.stride, x, xl.stride, mu)
						got := pr.run(n, s, g, gl.stride, x, xl.stride, mu)
						if e := float64(n*s+2) * 0x1p-52 * mag; !(math.Abs(got-want) <= e) {
							t.Fatalf("g %v, x %v: %v, want %v ± %.3g", gl, xl, got, want, e)
						}
						// The same values densely.
						gd, xd := make([]float32, n*s), make([]float32, n*s)
						for i := range n {
							copy(gd[i*s:(i+1)*s], g[i*gl.stride:])
							copy(xd[i*s:(i+1)*s], x[i*xl.stride:])
						}
						if dense := pr.run(n, s, gd, s, xd, s, mu); math.Float64bits(dense) != math.Float64bits(got) {
							t.Fatalf("g %v, x %v: %v, densely %v", gl, xl, got, dense)
						}
					}
				}
			})
		})
	}
}

// TestPlanesEmpty checks that no planes, or empty ones, touch nothing.
func TestPlanesEmpty(t *testing.T) {
	forEachVecPath(t, func(t *testing.T) {
		for _, l := range []planeLayout{{0, 5, 5}, {3, 0, 2}} {
			if got := Sum64Planes(l.n, l.s, nil, l.stride); got != 0 {
				t.Errorf("%v: Sum64Planes = %v", l, got)
			}
			AffinePlanes(l.n, l.s, nil, l.stride, 1, 1, nil, l.stride)
		}
	})
}

func TestPlanesBadLayout(t *testing.T) {
	x := make([]float32, 20)
	mustPanicPrefix(t, "kernels: Sum64Planes: slice too short", func() { Sum64Planes(3, 5, x[:18], 7) })
	mustPanicPrefix(t, "kernels: Sum64Planes: stride shorter", func() { Sum64Planes(2, 5, x, 4) })
	mustPanicPrefix(t, "kernels: AffinePlanes: negative", func() { AffinePlanes(-1, 5, x, 5, 1, 0, x, 5) })
	mustPanicPrefix(t, "kernels: AxpbyDevPlanes: slice too short", func() { AxpbyDevPlanes(2, 5, x, 10, 1, x, 10, 1, x[:14], 10, 0, 0) })
	mustPanicPrefix(t, "kernels: DotDev64Planes: slice too short", func() { DotDev64Planes(4, 5, x, 5, x[:15], 5, 0) })
}

// BenchmarkBatchNormPlanes times the passes of a batch-norm channel (128
// planes of 7×7, 14×14 and 28×28 in a 32-channel tensor) as one planes
// call against one per-plane kernel call per plane, on each path.
func BenchmarkBatchNormPlanes(b *testing.B) {
	const n, c = 128, 32
	var sink float64
	for _, s := range []int{49, 196, 784} {
		r := newRand(1)
		x, y := randSlice(r, n*c*s), make([]float32, n*c*s)
		stride := c * s
		passes := []struct {
			name         string
			planes, loop func()
		}{
			{"Sum64",
				func() { sink += Sum64Planes(n, s, x, stride) },
				func() {
					for i := range n {
						sink += Sum64(x[i*stride : i*stride+s])
					}
				}},
			{"DotDev64",
				func() { sink += DotDev64Planes(n, s, y, stride, x, stride, 0.1) },
				func() {
					for i := range n {
						sink += DotDev64(y[i*stride:i*stride+s], x[i*stride:i*stride+s], 0.1)
					}
				}},
			{"AffineReLU",
				func() { AffineReLUPlanes(n, s, y, stride, 0.5, 0.25, x, stride) },
				func() {
					for i := range n {
						o := y[i*stride : i*stride+s]
						AffineTo(o, 0.5, 0.25, x[i*stride:i*stride+s])
						ReLUTo(o, o)
					}
				}},
			{"AxpbyDev",
				func() { AxpbyDevPlanes(n, s, y, stride, 0.5, x, stride, 0.25, x, stride, 0.1, 1) },
				func() {
					for i := range n {
						AxpbyDev(y[i*stride:i*stride+s], 0.5, x[i*stride:i*stride+s], 0.25, x[i*stride:i*stride+s], 0.1, 1)
					}
				}},
		}
		for _, pass := range passes {
			for _, p := range vecPaths() {
				for _, v := range []struct {
					name string
					fn   func()
				}{{"planes", pass.planes}, {"per-plane", pass.loop}} {
					b.Run(fmt.Sprintf("%s/s=%d/%v/%s", pass.name, s, p, v.name), func(b *testing.B) {
						defer setVecPath(p)()
						for b.Loop() {
							v.fn()
						}
					})
				}
			}
		}
	}
	_ = sink
}
