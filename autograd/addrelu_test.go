package autograd

import (
	"math"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/tensor"
)

// TestAddReLU checks the fused op against ReLU(Add(a, b)) bit for bit:
// values and both gradients, with a NaN and exact cancellations among the
// inputs, when both inputs are intermediates of one computation (the
// gradients alias) and when one is a parameter; broadcasting and a tracing
// tape take the two recorded operations.
func TestAddReLU(t *testing.T) {
	for _, shape := range [][]int{{3, 4, 5, 6}, {2, 70000}} {
		x0 := rnd(31, shape...)
		xd := x0.Data()
		xd[1] = float32(math.NaN())
		y0 := rnd(32, shape...)
		y0.Data()[2] = -xd[2]
		g := rnd(33, shape...)
		run := func(fused bool, shared bool) []*tensor.Tensor {
			x, y := Param(x0.Clone()), Param(y0.Clone())
			a, b := Mul(x, Const(tensor.Full(2, shape...))), y
			if shared {
				b = Mul(x, y) // both inputs depend on x
			}
			var out *Var
			if fused {
				out = AddReLU(a, b)
			} else {
				out = ReLU(Add(a, b))
			}
			Sum(Mul(out, Const(g))).Backward()
			return []*tensor.Tensor{out.Value, x.Grad, y.Grad}
		}
		for _, shared := range []bool{false, true} {
			want, got := run(false, shared), run(true, shared)
			for k := range want {
				wd, gd := want[k].Data(), got[k].Data()
				for i := range wd {
					if math.Float32bits(wd[i]) != math.Float32bits(gd[i]) {
						t.Fatalf("%v shared=%v: output %d [%d] fused %v, composed %v", shape, shared, k, i, gd[i], wd[i])
					}
				}
			}
		}
	}
	var names []string
	tape := &Tape{Trace: func(op TraceOp) { names = append(names, op.Op.String()) }}
	AddReLU(tape.Const(rnd(1, 2, 3)), Const(rnd(2, 2, 3)))
	AddReLU(Const(rnd(1, 2, 3)), Const(rnd(2, 1, 3))) // broadcasting: composed, untraced
	if strings.Join(names, ",") != "add,relu" {
		t.Fatalf("traced %v, want add then relu", names)
	}
	if v := AddReLU(Const(tensor.FromSlice([]float32{-1, 2}, 2)), Const(tensor.FromSlice([]float32{0.5, -3}, 1, 2))).Value.Data(); v[0] != 0 || v[1] != 0 {
		t.Fatalf("broadcast AddReLU = %v", v)
	}
}
