package kernels

import (
	"fmt"
	"math"
	"math/big"
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
	{name: "AffineAddReLUPlanes", inputs: 2, mag: affineAddMag,
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AffineAddReLUPlanes(n, s, d, ds, alpha, beta, in[0], is[0], in[1], is[1])
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			affineAddReLUPlanesGeneric(n, s, d, ds, alpha, beta, in[0], is[0], in[1], is[1])
		}},
	{name: "AxpbyDevPlanes", inputs: 2, mag: vecMag("AxpbyDev"),
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AxpbyDevPlanes(n, s, d, ds, alpha, in[0], is[0], beta, in[1], is[1], delta, gamma)
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			axpbyDevPlanesGeneric(n, s, d, ds, alpha, in[0], is[0], beta, in[1], is[1], delta, gamma)
		}},
	{name: "AxpbyDevReLUPlanes", inputs: 3, mag: axpbyDevReLUMag,
		run: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			AxpbyDevReLUPlanes(n, s, d, ds, alpha, in[0], is[0], in[1], is[1], beta, in[2], is[2], delta, gamma)
		},
		ref: func(n, s int, d []float32, ds int, in [][]float32, is []int) {
			axpbyDevReLUPlanesGeneric(n, s, d, ds, alpha, in[0], is[0], in[1], is[1], beta, in[2], is[2], delta, gamma)
		}},
}

// affineAddMag is the rounding magnitude of AffineAddReLUPlanes for the
// inputs x, y: that of a·x + b, carried into the sum with y.
func affineAddMag(d0 float32, in []float32) float64 {
	return vecMag("AffineTo")(d0, in[:1]) + math.Abs(float64(alpha*in[0]+beta+in[1]))
}

// axpbyDevReLUMag is AxpbyDev's rounding magnitude for the inputs x, r, y
// of AxpbyDevReLUPlanes: x masked by r > 0.
func axpbyDevReLUMag(d0 float32, in []float32) float64 {
	var x float32
	if in[1] > 0 {
		x = in[0]
	}
	return vecMag("AxpbyDev")(d0, []float32{x, in[2]})
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

// planesReduction is a reduction planes kernel for the shared test
// driver: run and ref take the operands g, r and x (each kernel reads the
// ones it has) and return its two sums; ref also returns the magnitude
// (the sum of absolute terms) of each.
type planesReduction struct {
	name string
	run  func(n, s int, g []float32, gs int, r []float32, rs int, x []float32, xs int, mu float64) (float64, float64)
	ref  func(n, s int, g []float32, gs int, r []float32, rs int, x []float32, xs int, mu float64) (sums, mags [2]float64)
}

// reluMasked is g where r > 0, else 0, in float64.
func reluMasked(g, r float32) float64 {
	if r > 0 {
		return float64(g)
	}
	return 0
}

// sumDotDevMags returns Σ|g′| and Σ|g′·(x − mu)| over the planes, g′ the
// value of g that mask gives.
func sumDotDevMags(n, s int, g []float32, gs int, r []float32, rs int, x []float32, xs int, mu float64, mask func(g, r float32) float64) (mags [2]float64) {
	for i := range n {
		for j := range s {
			var rv float32
			if r != nil {
				rv = r[i*rs+j]
			}
			gm := mask(g[i*gs+j], rv)
			mags[0] += math.Abs(gm)
			mags[1] += math.Abs(gm * (float64(x[i*xs+j]) - mu))
		}
	}
	return mags
}

var planesReductions = []planesReduction{
	{"DevSums64Planes",
		func(n, s int, _ []float32, _ int, _ []float32, _ int, x []float32, xs int, mu float64) (float64, float64) {
			return DevSums64Planes(n, s, x, xs, mu)
		},
		func(n, s int, _ []float32, _ int, _ []float32, _ int, x []float32, xs int, mu float64) (sums, mags [2]float64) {
			for i := range n {
				for _, v := range x[i*xs : i*xs+s] {
					mags[0] += math.Abs(float64(v) - mu)
				}
			}
			sums[0], sums[1] = devSums64PlanesGeneric(n, s, x, xs, mu)
			mags[1] = sums[1]
			return sums, mags
		}},
	{"SumDotDev64Planes",
		func(n, s int, g []float32, gs int, _ []float32, _ int, x []float32, xs int, mu float64) (float64, float64) {
			return SumDotDev64Planes(n, s, g, gs, x, xs, mu)
		},
		func(n, s int, g []float32, gs int, _ []float32, _ int, x []float32, xs int, mu float64) (sums, mags [2]float64) {
			sums[0], sums[1] = sumDotDev64PlanesGeneric(n, s, g, gs, x, xs, mu)
			return sums, sumDotDevMags(n, s, g, gs, nil, 0, x, xs, mu, func(g, _ float32) float64 { return float64(g) })
		}},
	{"SumDotDev64ReLUPlanes",
		func(n, s int, g []float32, gs int, r []float32, rs int, x []float32, xs int, mu float64) (float64, float64) {
			return SumDotDev64ReLUPlanes(n, s, g, gs, r, rs, x, xs, mu)
		},
		func(n, s int, g []float32, gs int, r []float32, rs int, x []float32, xs int, mu float64) (sums, mags [2]float64) {
			sums[0], sums[1] = sumDotDev64ReLUPlanesGeneric(n, s, g, gs, r, rs, x, xs, mu)
			return sums, sumDotDevMags(n, s, g, gs, r, rs, x, xs, mu, reluMasked)
		}},
}

// closeF64 reports whether got is within tol of want, or, for a NaN or
// infinite want, the same (any NaN matching any NaN).
func closeF64(got, want, tol float64) bool {
	if math.IsNaN(want) || math.IsInf(want, 0) {
		return got == want || math.IsNaN(got) && math.IsNaN(want)
	}
	return math.Abs(got-want) <= tol
}

// TestPlanesReductions checks the float64-accumulating planes reductions
// on every path against their reference loops within float64 summation
// error, with NaN around and between the planes (a kernel that reads
// there, or lets a masked-off lane count, returns NaN), and checks that
// the strides do not change the bits: dense and gapped copies of the same
// values give the same result. In a second round the planes hold vecInput's
// special values (±0, NaN, ±Inf, subnormals), which must come out as in the
// reference: NaN where it is NaN, the same infinity, and the ReLU mask
// dropping a NaN or infinite g where r is not positive.
func TestPlanesReductions(t *testing.T) {
	for _, pr := range planesReductions {
		t.Run(pr.name, func(t *testing.T) {
			forEachVecPath(t, func(t *testing.T) {
				r := newRand(52)
				for _, special := range []bool{false, true} {
					for _, s := range planeSizes {
						for _, n := range []int{1, 2, 3, 7, 128} {
							checkPlanesReduction(t, r, pr, n, s, special)
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

func checkPlanesReduction(t *testing.T, r *rand.Rand, pr planesReduction, n, s int, special bool) {
	t.Helper()
	var ls [3]planeLayout // g, r, x
	var ops [3][]float32
	vals := randSlice(r, 3*n*s)
	if special {
		vals = vecInput(r, 3*n*s, 0)
	}
	for k := range ops {
		ls[k] = randLayouts(r, n, s)[r.IntN(2)]
		_, ops[k] = newPlanes(ls[k], func(int) float32 { return 0 }, func(int) float32 { return float32(math.NaN()) })
		for i := range n {
			copy(ops[k][i*ls[k].stride:i*ls[k].stride+s], vals[(3*i+k)*s:])
		}
	}
	g, rr, x := ops[0], ops[1], ops[2]
	mu := r.Float64() - 0.5
	want, mag := pr.ref(n, s, g, ls[0].stride, rr, ls[1].stride, x, ls[2].stride, mu)
	var got [2]float64
	got[0], got[1] = pr.run(n, s, g, ls[0].stride, rr, ls[1].stride, x, ls[2].stride, mu)
	for k := range got {
		if e := float64(n*s+2) * 0x1p-52 * mag[k]; !closeF64(got[k], want[k], e) {
			t.Fatalf("g %v, r %v, x %v: sum %d = %v, want %v ± %.3g", ls[0], ls[1], ls[2], k, got[k], want[k], e)
		}
	}
	// The same values densely.
	var dense [3][]float32
	for k := range dense {
		dense[k] = make([]float32, n*s)
		for i := range n {
			copy(dense[k][i*s:(i+1)*s], ops[k][i*ls[k].stride:])
		}
	}
	var d [2]float64
	d[0], d[1] = pr.run(n, s, dense[0], s, dense[1], s, dense[2], s, mu)
	for k := range d {
		if math.Float64bits(d[k]) != math.Float64bits(got[k]) && !(math.IsNaN(d[k]) && math.IsNaN(got[k])) {
			t.Fatalf("g %v, r %v, x %v: sum %d = %v, densely %v", ls[0], ls[1], ls[2], k, got[k], d[k])
		}
	}
}

// TestDevSums64PlanesLargeMean checks on every path the one-pass variance
// autograd.BatchNorm computes from DevSums64Planes, shifted by the first
// value K: σ² = Σd²/M − (Σd/M)², d = x − K, on values of mean 10³ and
// standard deviation 10⁻² (128 planes of 14×14, gapped), against the exact
// variance of the float32 values (math/big), within the bound BatchNorm
// documents, (L+3)·2⁻⁵³·(2σ² + 3(μ−K)²) with L = M. The same sums unshifted
// (K = 0) must miss by far more than that, or the data would not test the
// shift.
func TestDevSums64PlanesLargeMean(t *testing.T) {
	const n, s = 128, 14 * 14
	l := planeLayout{n, s, s + 5}
	r := newRand(54)
	_, x := newPlanes(l, func(int) float32 { return float32(1e3 + 1e-2*r.NormFloat64()) }, func(int) float32 { return float32(math.NaN()) })
	m := float64(n * s)
	// The exact mean and variance of the planes' values.
	exactMean := new(big.Float).SetPrec(256)
	for i := range n {
		for _, v := range x[i*l.stride : i*l.stride+s] {
			exactMean.Add(exactMean, big.NewFloat(float64(v)))
		}
	}
	exactMean.Quo(exactMean, big.NewFloat(m))
	exactSq := new(big.Float).SetPrec(256)
	for i := range n {
		for _, v := range x[i*l.stride : i*l.stride+s] {
			d := new(big.Float).SetPrec(256).Sub(big.NewFloat(float64(v)), exactMean)
			exactSq.Add(exactSq, d.Mul(d, d))
		}
	}
	want, _ := exactSq.Quo(exactSq, big.NewFloat(m)).Float64()
	mu, _ := exactMean.Float64()
	variance := func(k float64) float64 {
		dev, sqDev := DevSums64Planes(n, s, x, l.stride, k)
		d := dev / m
		return sqDev/m - d*d
	}
	k := float64(x[0])
	bound := (m + 3) * 0x1p-53 * (2*want + 3*(mu-k)*(mu-k))
	forEachVecPath(t, func(t *testing.T) {
		got := variance(k)
		if e := math.Abs(got - want); e > bound {
			t.Errorf("shifted by K = %v: variance %.17g, exact %.17g: error %.3g > bound %.3g", k, got, want, e, bound)
		} else {
			t.Logf("shifted: relative error %.3g (bound %.3g)", e/want, bound/want)
		}
		if e := math.Abs(variance(0) - want); e <= 1e3*bound {
			t.Errorf("unshifted: error %.3g, within 1000 times the bound %.3g: the data does not test the shift", e, bound)
		} else {
			t.Logf("unshifted: relative error %.3g", e/want)
		}
	})
}

// TestReLUPlanesAreTwoKernels checks on every path that the kernels with
// the ReLU mask built in give the bits of ReLUBackward into a buffer
// followed by the kernel without it, the property BatchNormReLU's
// bit-equality with ReLU(BatchNorm(…)) rests on; the inputs hold special
// values (NaN, ±Inf, ±0 among them).
func TestReLUPlanesAreTwoKernels(t *testing.T) {
	forEachVecPath(t, func(t *testing.T) {
		rnd := newRand(53)
		for _, s := range planeSizes {
			l := planeLayout{5, s, s + 3}
			g, r, x := planesInput(rnd, l), planesInput(rnd, l), planesInput(rnd, l)
			masked := make([]float32, l.span())
			for i := range l.n {
				p := i * l.stride
				ReLUBackward(masked[p:p+s], g[p:p+s], r[p:p+s])
			}
			for _, mu := range []float64{0, 0.375} {
				sum, dot := SumDotDev64ReLUPlanes(l.n, s, g, l.stride, r, l.stride, x, l.stride, mu)
				sum2, dot2 := SumDotDev64Planes(l.n, s, masked, l.stride, x, l.stride, mu)
				if !sameF64(sum, sum2) || !sameF64(dot, dot2) {
					t.Fatalf("%v mu=%v: SumDotDev64ReLUPlanes %v, %v; masked then SumDotDev64Planes %v, %v", l, mu, sum, dot, sum2, dot2)
				}
			}
			fused, two := make([]float32, l.span()), make([]float32, l.span())
			AxpbyDevReLUPlanes(l.n, s, fused, l.stride, alpha, g, l.stride, r, l.stride, beta, x, l.stride, delta, gamma)
			AxpbyDevPlanes(l.n, s, two, l.stride, alpha, masked, l.stride, beta, x, l.stride, delta, gamma)
			for k := range fused {
				if l.inPlane(k) && math.Float32bits(fused[k]) != math.Float32bits(two[k]) {
					t.Fatalf("%v [%d]: AxpbyDevReLUPlanes %v, masked then AxpbyDevPlanes %v", l, k, fused[k], two[k])
				}
			}
		}
	})
}

// TestAffineAddReLUPlanesIsThreeKernels checks on every vector path that
// AffineAddReLUPlanes gives the bits of AffinePlanes, AddTo and ReLUTo one
// after the other (batch norm, a residual sum, its ReLU), special values
// included.
func TestAffineAddReLUPlanesIsThreeKernels(t *testing.T) {
	forEachVecPath(t, func(t *testing.T) {
		rnd := newRand(54)
		for _, s := range planeSizes {
			l := planeLayout{5, s, s + 3}
			x, y := planesInput(rnd, l), planesInput(rnd, l)
			fused, three := make([]float32, l.span()), make([]float32, l.span())
			AffineAddReLUPlanes(l.n, s, fused, l.stride, alpha, beta, x, l.stride, y, l.stride)
			AffinePlanes(l.n, s, three, l.stride, alpha, beta, x, l.stride)
			for i := range l.n {
				p := three[i*l.stride : i*l.stride+s]
				AddTo(p, p, y[i*l.stride:i*l.stride+s])
				ReLUTo(p, p)
			}
			for k := range fused {
				if l.inPlane(k) && math.Float32bits(fused[k]) != math.Float32bits(three[k]) {
					t.Fatalf("%v [%d]: AffineAddReLUPlanes %v, the three kernels %v", l, k, fused[k], three[k])
				}
			}
		}
	})
}

// sameF64 reports whether a and b have the same bits, any NaN matching any
// NaN.
func sameF64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
}

// TestPlanesEmpty checks that no planes, or empty ones, touch nothing.
func TestPlanesEmpty(t *testing.T) {
	forEachVecPath(t, func(t *testing.T) {
		for _, l := range []planeLayout{{0, 5, 5}, {3, 0, 2}} {
			if d, q := DevSums64Planes(l.n, l.s, nil, l.stride, 1); d != 0 || q != 0 {
				t.Errorf("%v: DevSums64Planes = %v, %v", l, d, q)
			}
			if a, b := SumDotDev64ReLUPlanes(l.n, l.s, nil, l.stride, nil, l.stride, nil, l.stride, 1); a != 0 || b != 0 {
				t.Errorf("%v: SumDotDev64ReLUPlanes = %v, %v", l, a, b)
			}
			AffinePlanes(l.n, l.s, nil, l.stride, 1, 1, nil, l.stride)
			AxpbyDevReLUPlanes(l.n, l.s, nil, l.stride, 1, nil, l.stride, nil, l.stride, 1, nil, l.stride, 0, 1)
		}
	})
}

func TestPlanesBadLayout(t *testing.T) {
	x := make([]float32, 20)
	mustPanicPrefix(t, "kernels: DevSums64Planes: slice too short", func() { DevSums64Planes(3, 5, x[:18], 7, 0) })
	mustPanicPrefix(t, "kernels: DevSums64Planes: stride shorter", func() { DevSums64Planes(2, 5, x, 4, 0) })
	mustPanicPrefix(t, "kernels: AffinePlanes: negative", func() { AffinePlanes(-1, 5, x, 5, 1, 0, x, 5) })
	mustPanicPrefix(t, "kernels: AxpbyDevPlanes: slice too short", func() { AxpbyDevPlanes(2, 5, x, 10, 1, x, 10, 1, x[:14], 10, 0, 0) })
	mustPanicPrefix(t, "kernels: SumDotDev64Planes: slice too short", func() { SumDotDev64Planes(4, 5, x, 5, x[:15], 5, 0) })
	mustPanicPrefix(t, "kernels: SumDotDev64ReLUPlanes: slice too short", func() { SumDotDev64ReLUPlanes(4, 5, x, 5, x[:15], 5, x, 5, 0) })
	mustPanicPrefix(t, "kernels: AxpbyDevReLUPlanes: stride shorter", func() { AxpbyDevReLUPlanes(2, 5, x, 5, 1, x, 5, x, 4, 1, x, 5, 0, 0) })
}

// BenchmarkBatchNormPlanes times the passes of a batch-norm channel (128
// planes of 7×7, 14×14 and 28×28 in a 32-channel tensor) as one planes
// call against per-plane kernel calls, on each path: the fused planes
// kernels against the separate passes they replace, one call per plane.
func BenchmarkBatchNormPlanes(b *testing.B) {
	const n, c = 128, 32
	var sink float64
	for _, s := range []int{49, 196, 784} {
		r := newRand(1)
		x, y, g := randSlice(r, n*c*s), make([]float32, n*c*s), randSlice(r, n*c*s)
		stride := c * s
		plane := func(v []float32, i int) []float32 { return v[i*stride : i*stride+s] }
		passes := []struct {
			name         string
			planes, loop func()
		}{
			{"DevSums64",
				func() {
					d, q := DevSums64Planes(n, s, x, stride, 0.1)
					sink += d + q
				},
				func() {
					for i := range n {
						sink += Sum64(plane(x, i))
					}
					for i := range n {
						sink += SqDevSum64(plane(x, i), 0.1)
					}
				}},
			{"SumDotDev64ReLU",
				func() {
					a, d := SumDotDev64ReLUPlanes(n, s, g, stride, x, stride, x, stride, 0.1)
					sink += a + d
				},
				func() {
					for i := range n {
						ReLUBackward(plane(y, i), plane(g, i), plane(x, i))
					}
					for i := range n {
						sink += Sum64(plane(y, i))
					}
					for i := range n {
						sink += DotDev64(plane(y, i), plane(x, i), 0.1)
					}
				}},
			{"AffineReLU",
				func() { AffineReLUPlanes(n, s, y, stride, 0.5, 0.25, x, stride) },
				func() {
					for i := range n {
						o := plane(y, i)
						AffineTo(o, 0.5, 0.25, plane(x, i))
						ReLUTo(o, o)
					}
				}},
			{"AxpbyDevReLU",
				func() { AxpbyDevReLUPlanes(n, s, y, stride, 0.5, g, stride, x, stride, 0.25, x, stride, 0.1, 1) },
				func() {
					for i := range n {
						o := plane(y, i)
						ReLUBackward(o, plane(g, i), plane(x, i))
						AxpbyDev(o, 0.5, o, 0.25, plane(x, i), 0.1, 1)
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
