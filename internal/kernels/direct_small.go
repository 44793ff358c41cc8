package kernels

// SmallConv is a direct convolution for tiny layers (few output channels,
// small planes, stride 1, no dilation), where the implicit GEMM spends most
// of its time packing one short output-row segment at a time.
//
// It computes "wide" output rows: with the input padded to Wp columns, the
// output pixel (oh, ow) is column oh·Wp + ow of a product whose B operand
// row for the tap (c, kh, kw) is the padded plane c read from offset
// kh·Wp + kw on, a contiguous run. So a packed nr-column panel of B is one
// copy per tap, and the columns with ow ≥ OutW are computed and dropped.
// The bias is an extra row of A against a row of ones in B. The weights are
// packed once by [NewSmallConv] in the micro-kernel's panel layout; the
// micro-kernel (the GEMM's, chosen for the layer's shape) runs straight on
// the panels, serially.
type SmallConv struct {
	g     ConvGeom
	m     int // output channels
	kern  *gemmKernel
	k     int // C·KH·KW taps + the bias row
	wp    int // padded row length
	hp    int // padded rows
	pad   bool
	nw    int // wide columns, OutH·wp
	np    int // nw rounded up to whole panels
	mp    int // m rounded up to whole panels
	a     []float32
	xSize int // length of the padded input with its slack
}

// SmallConvScratch is the working memory of one concurrent [SmallConv.Run].
type SmallConvScratch struct {
	xp, b, c []float32
}

// SmallConvOK reports whether [NewSmallConv] accepts the geometry g (for
// one group).
func SmallConvOK(g ConvGeom) bool {
	return g.StrideH == 1 && g.StrideW == 1 && max(g.DilH, 1) == 1 && max(g.DilW, 1) == 1 &&
		g.OutH == g.H+2*g.PadH-g.KH+1 && g.OutW == g.W+2*g.PadW-g.KW+1 && g.OutH > 0 && g.OutW > 0
}

// Limits of the direct path for tiny layers: few output channels, a
// shallow reduction and a small (wide) output plane, so that its
// padded-column waste costs less than the implicit GEMM's packing of short
// row segments. LeNet-5's convolutions and ResNet-20's 32-channel 3×3
// layers (16×16) qualify; no ResNet-18 layer does.
const (
	smallMaxOut   = 32
	smallMaxDepth = 512
	smallMaxWide  = 1024
)

// SmallConvPays reports whether a convolution of geometry g (one group)
// with o output channels runs faster as a [SmallConv] than as an implicit
// GEMM: a tiny layer that [SmallConvOK] accepts.
func SmallConvPays(g ConvGeom, o int) bool {
	return o <= smallMaxOut && g.C*g.KH*g.KW < smallMaxDepth && g.OutH*(g.W+2*g.PadW) <= smallMaxWide && SmallConvOK(g)
}

// NewSmallConv packs the weights w (m, C, KH, KW) and bias (m) for the
// stride-1 geometry g (see [SmallConvOK]).
func NewSmallConv(g ConvGeom, m int, w, bias []float32) *SmallConv {
	if !SmallConvOK(g) {
		panic("kernels: NewSmallConv: unsupported geometry")
	}
	kt := g.C * g.KH * g.KW
	if len(w) < m*kt || len(bias) < m {
		panic("kernels: NewSmallConv: weights too short")
	}
	s := &SmallConv{g: g, m: m, k: kt + 1, wp: g.W + 2*g.PadW, hp: g.H + 2*g.PadH}
	s.pad = g.PadH > 0 || g.PadW > 0
	s.nw = g.OutH * s.wp
	s.kern = activeGemmKernel(m, s.nw)
	mr, nr := s.kern.mr, s.kern.nr
	s.np = ceilDiv(s.nw, nr) * nr
	s.mp = ceilDiv(m, mr) * mr
	s.a = make([]float32, s.mp*s.k)
	for i := range m {
		panel := s.a[(i/mr)*mr*s.k:]
		r := i % mr
		for p := range kt {
			panel[p*mr+r] = w[i*kt+p]
		}
		panel[kt*mr+r] = bias[i]
	}
	// The last tap of a panel reads up to (C−1)·hp·wp + (KH−1)·wp + KW−1
	// + np − 1; the padded input is that long.
	s.xSize = g.C*s.hp*s.wp + (g.KH-1)*s.wp + g.KW + s.np
	return s
}

// NewScratch returns working memory for one concurrent Run.
func (s *SmallConv) NewScratch() *SmallConvScratch {
	sc := &SmallConvScratch{b: make([]float32, s.k*s.kern.nr), c: make([]float32, s.mp*s.np)}
	if s.pad {
		sc.xp = make([]float32, s.xSize)
	}
	ones := sc.b[(s.k-1)*s.kern.nr:]
	for i := range ones {
		ones[i] = 1
	}
	return sc
}

// Run computes one image: y (m, OutH, OutW) = conv(x (C, H, W)) + bias,
// plus add (same shape as y) when non-nil, then ReLU when relu is set.
func (s *SmallConv) Run(x, y, add []float32, relu bool, sc *SmallConvScratch) {
	g := s.g
	if len(x) < g.C*g.H*g.W || len(y) < s.m*g.OutH*g.OutW || (add != nil && len(add) < len(y[:s.m*g.OutH*g.OutW])) {
		panic("kernels: SmallConv.Run: buffer too short")
	}
	src := x[:g.C*g.H*g.W]
	if s.pad {
		// Only the interior is written: the border and slack stay zero.
		for c := range g.C {
			for h := range g.H {
				o := c*s.hp*s.wp + (h+g.PadH)*s.wp + g.PadW
				copy(sc.xp[o:o+g.W], x[(c*g.H+h)*g.W:(c*g.H+h+1)*g.W])
			}
		}
		src = sc.xp
	}
	mr, nr, k := s.kern.mr, s.kern.nr, s.k
	fn := s.kern.fn
	plane := s.hp * s.wp
	for j0 := 0; j0 < s.np; j0 += nr {
		b := sc.b
		p := 0
		for c := range g.C {
			for kh := range g.KH {
				for kw := range g.KW {
					o := c*plane + kh*s.wp + kw + j0
					d := b[p*nr : p*nr+nr]
					if o+nr <= len(src) {
						copy(d, src[o:o+nr])
					} else {
						n := 0
						if o < len(src) {
							n = copy(d, src[o:])
						}
						clear(d[n:])
					}
					p++
				}
			}
		}
		for i := 0; i < s.mp; i += mr {
			fn(k, s.a[i*k:(i+mr)*k], b, sc.c[i*s.np+j0:], s.np, 0)
		}
	}
	// Compact the wide rows into y, then the residual add and ReLU in one
	// pass each over the contiguous output (short rows would run mostly
	// in the kernels' scalar tails).
	ohw := g.OutH * g.OutW
	for o := range s.m {
		for oh := range g.OutH {
			copy(y[o*ohw+oh*g.OutW:o*ohw+(oh+1)*g.OutW], sc.c[o*s.np+oh*s.wp:o*s.np+oh*s.wp+g.OutW])
		}
	}
	yy := y[:s.m*ohw]
	if add != nil {
		addTo(yy, yy, add[:len(yy)])
	}
	if relu {
		reluTo(yy, yy)
	}
}

// Flops returns the multiply-adds one Run performs, padding included.
func (s *SmallConv) Flops() int { return s.mp * s.np * s.k }
