package kernels

// Winograd F(2×2, 3×3) transforms (Lavin & Gray 2015). A 3×3, stride-1
// convolution becomes, per 2×2 output tile, 16 independent products in the
// transformed domain: M[ξ] = U[ξ]·V[ξ] with U[ξ] (O×C) the transformed
// filters and V[ξ] (C×T) the transformed 4×4 input tiles, then each tile's
// 4×4 M is folded back to 2×2 outputs. With B, G and A from the paper:
//
//	U = G g Gᵀ,  G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]
//	V = Bᵀ d B,  Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
//	Y = Aᵀ M A,  Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// Matrices are stored as 16 planes, ξ = 4·row + column of the 4×4 tile.

// WinogradTiles returns the tile grid (rows, columns) of an OutH×OutW output.
func WinogradTiles(outH, outW int) (th, tw int) { return (outH + 1) / 2, (outW + 1) / 2 }

// WinogradFilter transforms o×c 3×3 filters w (O, C, 3, 3) into u: plane ξ
// at u[ξ*o*c:] is O×C. With transpose, the filters used are the flipped
// transposes w'[c][o] = w[o][c] rotated 180°, so u's planes are C×O (the
// filters of the input gradient).
func WinogradFilter(o, c int, w, u []float32, transpose bool) {
	plane := o * c
	for oi := range o {
		for ci := range c {
			g := w[(oi*c+ci)*9 : (oi*c+ci)*9+9]
			var k [9]float32
			if transpose {
				for i := range 9 {
					k[i] = g[8-i]
				}
			} else {
				copy(k[:], g)
			}
			// t = G·k (4×3), then U = t·Gᵀ (4×4).
			var t [12]float32
			for j := range 3 {
				a, b, d := k[j], k[3+j], k[6+j]
				t[j] = a
				t[3+j] = 0.5 * (a + b + d)
				t[6+j] = 0.5 * (a - b + d)
				t[9+j] = d
			}
			pos := oi*c + ci
			if transpose {
				pos = ci*o + oi
			}
			for i := range 4 {
				a, b, d := t[3*i], t[3*i+1], t[3*i+2]
				u[(4*i+0)*plane+pos] = a
				u[(4*i+1)*plane+pos] = 0.5 * (a + b + d)
				u[(4*i+2)*plane+pos] = 0.5 * (a - b + d)
				u[(4*i+3)*plane+pos] = d
			}
		}
	}
}

// WinogradInput transforms channels [c0, c1) of one image x (C×H×W) into v:
// the tile t (row-major over the OutH×OutW tile grid of g) of channel c goes
// to v[(ξ*g.C+c)*ldv + col0 + t]. Input outside the image (padding g.PadH
// top, g.PadW left, any amount bottom/right) reads as 0.
func WinogradInput(g ConvGeom, x []float32, c0, c1 int, v []float32, ldv, col0 int) {
	th, tw := WinogradTiles(g.OutH, g.OutW)
	ps := g.C * ldv // plane stride
	for c := c0; c < c1; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		base := c*ldv + col0
		for ty := range th {
			y0 := 2*ty - g.PadH
			inside := y0 >= 0 && y0+4 <= g.H
			for tx := range tw {
				x0 := 2*tx - g.PadW
				var d [16]float32
				if inside && x0 >= 0 && x0+4 <= g.W {
					for r := range 4 {
						row := plane[(y0+r)*g.W+x0 : (y0+r)*g.W+x0+4]
						d[4*r], d[4*r+1], d[4*r+2], d[4*r+3] = row[0], row[1], row[2], row[3]
					}
				} else {
					for r := range 4 {
						iy := y0 + r
						if iy < 0 || iy >= g.H {
							continue
						}
						for s := range 4 {
							if ix := x0 + s; ix >= 0 && ix < g.W {
								d[4*r+s] = plane[iy*g.W+ix]
							}
						}
					}
				}
				// t = Bᵀ·d, then V = t·B.
				var t [16]float32
				for s := range 4 {
					a0, a1, a2, a3 := d[s], d[4+s], d[8+s], d[12+s]
					t[s] = a0 - a2
					t[4+s] = a1 + a2
					t[8+s] = a2 - a1
					t[12+s] = a1 - a3
				}
				o := base + ty*tw + tx
				for r := range 4 {
					a0, a1, a2, a3 := t[4*r], t[4*r+1], t[4*r+2], t[4*r+3]
					v[(4*r+0)*ps+o] = a0 - a2
					v[(4*r+1)*ps+o] = a1 + a2
					v[(4*r+2)*ps+o] = a2 - a1
					v[(4*r+3)*ps+o] = a1 - a3
				}
			}
		}
	}
}

// WinogradOutput folds output channels [o0, o1) of the 16 product planes m
// (plane ξ is O×ldm, tile t of this image at column col0+t) back into y
// (O×OutH×OutW), adding bias[o] when bias is not nil. Tiles cut by the
// bottom/right edge store only their inside part.
func WinogradOutput(g ConvGeom, o int, m []float32, ldm, col0, o0, o1 int, bias, y []float32) {
	th, tw := WinogradTiles(g.OutH, g.OutW)
	ps := o * ldm
	hw := g.OutH * g.OutW
	for oc := o0; oc < o1; oc++ {
		var b float32
		if bias != nil {
			b = bias[oc]
		}
		out := y[oc*hw : (oc+1)*hw]
		base := oc*ldm + col0
		for ty := range th {
			for tx := range tw {
				i := base + ty*tw + tx
				var t [8]float32 // Aᵀ·M, 2×4
				for s := range 4 {
					m0, m1, m2, m3 := m[(0+s)*ps+i], m[(4+s)*ps+i], m[(8+s)*ps+i], m[(12+s)*ps+i]
					t[s] = m0 + m1 + m2
					t[4+s] = m1 - m2 - m3
				}
				y0, x0 := 2*ty, 2*tx
				for r := range 2 {
					if y0+r >= g.OutH {
						break
					}
					a0, a1, a2, a3 := t[4*r], t[4*r+1], t[4*r+2], t[4*r+3]
					row := out[(y0+r)*g.OutW:]
					row[x0] = a0 + a1 + a2 + b
					if x0+1 < g.OutW {
						row[x0+1] = a1 - a2 - a3 + b
					}
				}
			}
		}
	}
}
