package onnx

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/engine"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// importTol is the agreement asked of imported models against references:
// |a−b| ≤ importTol·max(1, |b|).
const importTol = 1e-4

// gb builds small ONNX graphs for the tests.
type gb struct {
	g     *onnxpb.GraphProto
	opset int64
}

func newGB(opset int64, inDims ...int64) *gb {
	b := &gb{g: &onnxpb.GraphProto{Name: proto.String("test")}, opset: opset}
	var dims []*onnxpb.TensorShapeProto_Dimension
	for _, d := range inDims {
		if d < 0 {
			dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}})
		} else {
			dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
		}
	}
	b.g.Input = []*onnxpb.ValueInfoProto{{Name: proto.String("x"), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}}
	return b
}

// float adds a float32 initializer stored as raw_data.
func (b *gb) float(name string, t *tensor.Tensor) string {
	d := t.Contiguous().Data()
	raw := make([]byte, 4*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), Dims: i64s(t.Shape()),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw})
	return name
}

// ints adds an int64 initializer stored in int64_data.
func (b *gb) ints(name string, v ...int64) string {
	b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String(name), Dims: []int64{int64(len(v))},
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: v})
	return name
}

func (b *gb) node(op string, ins []string, out string, attrs ...*onnxpb.AttributeProto) string {
	b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String("/" + op + "_" + out),
		Input: ins, Output: []string{out}, Attribute: attrs})
	return out
}

func (b *gb) model(out string) *onnxpb.ModelProto {
	b.g.Output = []*onnxpb.ValueInfoProto{{Name: proto.String(out)}}
	return &onnxpb.ModelProto{IrVersion: proto.Int64(8), ProducerName: proto.String("fovea-test"), Graph: b.g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(b.opset)}}}
}

func (b *gb) bytes(t testing.TB, out string) []byte {
	t.Helper()
	raw, err := proto.Marshal(b.model(out))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func i64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

func aInt(n string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func aInts(n string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
}

func aFloat(n string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func aString(n, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func importRand(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	d := t.Data()
	for i := range d {
		d[i] = float32(r.NormFloat64())
	}
	return t
}

// maxRel is max |a−b| / max(1, |b|) over two tensors of the same shape.
func maxRel(t *testing.T, got, want *tensor.Tensor) float64 {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
	}
	g, w := got.Contiguous().Data(), want.Contiguous().Data()
	worst := 0.0
	for i := range w {
		e := math.Abs(float64(g[i])-float64(w[i])) / math.Max(1, math.Abs(float64(w[i])))
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		worst = math.Max(worst, e)
	}
	return worst
}

func runEager(m nn.Layer, x *tensor.Tensor) *tensor.Tensor {
	nn.SetTraining(m, false)
	return m.Forward(autograd.EvalConst(x)).Value
}

// opCase is one hand-built graph and the Fovea computation it must match.
type opCase struct {
	name  string
	opset int64
	in    []int64 // input dims (-1: symbolic batch), run with batch 2
	build func(b *gb, r *rand.Rand) (out string, ref func(x *autograd.Var) *autograd.Var)
}

// opCases cover every supported operator (the list is checked against
// ImportedOps).
var opCases = []opCase{
	{"Conv", 13, []int64{-1, 4, 7, 6}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w, bias := importRand(r, 6, 2, 3, 2), importRand(r, 6)
		out := b.node("Conv", []string{"x", b.float("w", w), b.float("b", bias)}, "y",
			aInt("group", 2), aInts("strides", 2, 1), aInts("pads", 1, 0, 2, 1), aInts("dilations", 1, 2), aInts("kernel_shape", 3, 2))
		return out, func(x *autograd.Var) *autograd.Var {
			return autograd.Conv2d(x, autograd.Const(w), autograd.Const(bias), tensor.ConvParams{Stride: [2]int{2, 1}, Pad: [4]int{1, 0, 2, 1}, Dilation: [2]int{1, 2}, Groups: 2})
		}
	}},
	{"ConvSameUpper", 13, []int64{1, 3, 7, 8}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w := importRand(r, 4, 3, 4, 3)
		out := b.node("Conv", []string{"x", b.float("w", w)}, "y", aInts("strides", 2, 2), aString("auto_pad", "SAME_UPPER"))
		// out 4x4: total pad H (3·2+4−7)=3 → 1,2; W (3·2+3−8)=1 → 0,1.
		return out, func(x *autograd.Var) *autograd.Var {
			return autograd.Conv2d(x, autograd.Const(w), nil, tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{1, 0, 2, 1}})
		}
	}},
	{"ConvSameLowerValid", 13, []int64{1, 3, 7, 8}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w := importRand(r, 4, 3, 4, 3)
		h := b.node("Conv", []string{"x", b.float("w", w)}, "h", aInts("strides", 2, 2), aString("auto_pad", "SAME_LOWER"))
		out := b.node("Conv", []string{h, b.float("w2", w.Narrow(1, 0, 1).Contiguous().Reshape(4, 1, 4, 3))}, "y", aInt("group", 4), aString("auto_pad", "VALID"))
		return out, func(x *autograd.Var) *autograd.Var {
			h := autograd.Conv2d(x, autograd.Const(w), nil, tensor.ConvParams{Stride: [2]int{2, 2}, Pad: [4]int{2, 1, 1, 0}})
			return autograd.Conv2d(h, autograd.Const(w.Narrow(1, 0, 1).Contiguous()), nil, tensor.ConvParams{Groups: 4})
		}
	}},
	{"GemmLinear", 13, []int64{-1, 5}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w, bias := importRand(r, 3, 5), importRand(r, 3)
		out := b.node("Gemm", []string{"x", b.float("fc.weight", w), b.float("fc.bias", bias)}, "y", aInt("transB", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			return autograd.Linear(x, autograd.Const(w), autograd.Const(bias))
		}
	}},
	{"GemmGeneral", 13, []int64{5, 2}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w, c := importRand(r, 5, 3), importRand(r, 2, 3)
		out := b.node("Gemm", []string{"x", b.float("w", w), b.float("c", c)}, "y", aInt("transA", 1), aFloat("alpha", 0.5), aFloat("beta", 2))
		return out, func(x *autograd.Var) *autograd.Var {
			xt := autograd.Const(x.Value.Permute(1, 0).Contiguous())
			return autograd.Add(autograd.Scale(autograd.MatMul(xt, autograd.Const(w)), 0.5), autograd.Const(tensor.Scale(c, 2)))
		}
	}},
	{"MatMulArith", 13, []int64{-1, 3, 4}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		w, c, d := importRand(r, 4, 2), importRand(r, 2), importRand(r, 3, 1)
		h := b.node("MatMul", []string{"x", b.float("w", w)}, "h")
		h = b.node("Add", []string{h, b.float("c", c)}, "h2")
		h = b.node("Mul", []string{h, b.float("d", d)}, "h3")
		h = b.node("Sub", []string{h, b.float("c2", c)}, "h4")
		out := b.node("Div", []string{h, b.float("d2", tensor.AddScalar(tensor.Abs(d), 1))}, "y")
		return out, func(x *autograd.Var) *autograd.Var {
			n := x.Value.Dim(0)
			y := autograd.Reshape(autograd.MatMul(autograd.Reshape(x, -1, 4), autograd.Const(w)), n, 3, 2)
			y = autograd.Mul(autograd.Add(y, autograd.Const(c)), autograd.Const(d))
			return autograd.Div(autograd.Sub(y, autograd.Const(c)), autograd.Const(tensor.AddScalar(tensor.Abs(d), 1)))
		}
	}},
	{"Activations", 13, []int64{-1, 3, 4, 5}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		a := b.node("Relu", []string{"x"}, "a")
		l := b.node("LeakyRelu", []string{"x"}, "l", aFloat("alpha", 0.2))
		e := b.node("Elu", []string{"x"}, "e", aFloat("alpha", 0.7))
		s := b.node("Sigmoid", []string{"x"}, "s")
		t := b.node("Tanh", []string{"x"}, "t")
		hs := b.node("HardSigmoid", []string{"x"}, "hs", aFloat("alpha", 0.3), aFloat("beta", 0.4))
		hw := b.node("HardSwish", []string{"x"}, "hw")
		id := b.node("Identity", []string{"x"}, "id")
		out := b.node("Concat", []string{a, l, e, s, t, hs, hw, id}, "y", aInt("axis", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			hsig := autograd.Clamp(autograd.AddScalar(autograd.Scale(x, 0.3), 0.4), 0, 1)
			hswish := autograd.Mul(x, autograd.Scale(autograd.ReLU6(autograd.AddScalar(x, 3)), 1.0/6))
			return autograd.Concat(1, autograd.ReLU(x), autograd.LeakyReLU(x, 0.2), autograd.ELU(x, 0.7),
				autograd.Sigmoid(x), autograd.Tanh(x), hsig, hswish, x)
		}
	}},
	{"Gelu", 20, []int64{2, 7}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		g := b.node("Gelu", []string{"x"}, "g")
		gt := b.node("Gelu", []string{"x"}, "gt", aString("approximate", "tanh"))
		out := b.node("Concat", []string{g, gt}, "y", aInt("axis", 0))
		return out, func(x *autograd.Var) *autograd.Var {
			v := x.Value.Contiguous().Data()
			tanhRef := tensor.New(x.Shape()...)
			for i, u := range v {
				u := float64(u)
				tanhRef.Data()[i] = float32(0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u))))
			}
			return autograd.Concat(0, autograd.GELU(x), autograd.Const(tanhRef))
		}
	}},
	{"ClipInputs", 13, []int64{2, 3, 4, 4}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		h := b.node("Mul", []string{"x", b.float("four", tensor.Scalar(4))}, "h")
		c6 := b.node("Clip", []string{h, b.float("zero", tensor.Scalar(0)), b.float("six", tensor.Scalar(6))}, "c6")
		lo := b.node("Constant", nil, "lo", &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: &onnxpb.TensorProto{DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: []float32{-0.5}}})
		c := b.node("Clip", []string{"x", lo, ""}, "c")
		cmax := b.node("Clip", []string{"x", "", b.float("half", tensor.Scalar(0.5))}, "cmax")
		out := b.node("Concat", []string{c6, c, cmax}, "y", aInt("axis", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			h := autograd.Scale(x, 4)
			return autograd.Concat(1, autograd.ReLU6(h), autograd.Clamp(x, -0.5, math.MaxFloat32), autograd.Clamp(x, -math.MaxFloat32, 0.5))
		}
	}},
	{"ClipAttrs", 9, []int64{2, 3}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		out := b.node("Clip", []string{"x"}, "y", aFloat("min", -0.25), aFloat("max", 0.75))
		return out, func(x *autograd.Var) *autograd.Var { return autograd.Clamp(x, -0.25, 0.75) }
	}},
	{"MaxPoolCeil", 13, []int64{-1, 2, 9, 8}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		out := b.node("MaxPool", []string{"x"}, "y", aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1), aInt("ceil_mode", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			return autograd.MaxPool2d(x, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true})
		}
	}},
	{"MaxPoolAsymmetric", 13, []int64{1, 2, 5, 5}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		out := b.node("MaxPool", []string{"x"}, "y", aInts("kernel_shape", 2, 2), aInts("strides", 2, 2), aString("auto_pad", "SAME_UPPER"),
			aInts("pads", 0, 0, 0, 0))
		b.node("MaxPool", []string{"x"}, "unused", aInts("kernel_shape", 3, 3), aInts("pads", 0, 1, 2, 0)) // runs, result unused
		return out, func(x *autograd.Var) *autograd.Var {
			// SAME_UPPER pads one row and column at the end: ceil mode.
			return autograd.MaxPool2d(x, tensor.PoolParams{Kernel: [2]int{2, 2}, Stride: [2]int{2, 2}, CeilMode: true})
		}
	}},
	{"AveragePool", 13, []int64{-1, 2, 7, 7}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		a := b.node("AveragePool", []string{"x"}, "a", aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1), aInt("ceil_mode", 1))
		c := b.node("AveragePool", []string{"x"}, "c", aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1), aInt("count_include_pad", 1))
		out := b.node("Concat", []string{a, c}, "y", aInt("axis", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			p := tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true}
			q := p
			q.CeilMode, q.CountPad = false, true
			return autograd.Concat(1, autograd.AvgPool2d(x, p), autograd.AvgPool2d(x, q))
		}
	}},
	{"BatchNormGAP", 13, []int64{-1, 3, 4, 5}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		g, beta, mean := importRand(r, 3), importRand(r, 3), importRand(r, 3)
		vr := tensor.AddScalar(tensor.Abs(importRand(r, 3)), 0.5)
		h := b.node("BatchNormalization", []string{"x", b.float("bn.weight", g), b.float("bn.bias", beta), b.float("bn.running_mean", mean), b.float("bn.running_var", vr)}, "h", aFloat("epsilon", 1e-3))
		h = b.node("GlobalAveragePool", []string{h}, "h2")
		out := b.node("Flatten", []string{h}, "y")
		return out, func(x *autograd.Var) *autograd.Var {
			h := autograd.BatchNorm(x, autograd.Const(g), autograd.Const(beta), mean, vr, false, 0.1, 1e-3)
			return autograd.Flatten(autograd.GlobalAvgPool2d(h))
		}
	}},
	{"TorchFlattenChain", 13, []int64{-1, 2, 3, 4}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		// x.view(x.size(0), -1) as torch exports it with a dynamic batch.
		s := b.node("Shape", []string{"x"}, "s")
		i0 := b.node("Constant", nil, "i0", &onnxpb.AttributeProto{Name: proto.String("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(),
			T: &onnxpb.TensorProto{DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), Int64Data: []int64{0}}})
		n := b.node("Gather", []string{s, i0}, "n", aInt("axis", 0))
		nu := b.node("Unsqueeze", []string{n, b.ints("axes0", 0)}, "nu")
		shape := b.node("Concat", []string{nu, b.ints("minus1", -1)}, "shape", aInt("axis", 0))
		h := b.node("Reshape", []string{"x", shape}, "h")
		h = b.node("Unsqueeze", []string{h, b.ints("axes1", 1, -1)}, "h2")                  // (N,1,24,1)
		h = b.node("Squeeze", []string{h, b.ints("axes3", 3)}, "h3")                        // (N,1,24)
		h = b.node("Reshape", []string{h, b.ints("shape0", 0, 4, -1)}, "h4")                // (N,4,6)
		h = b.node("Transpose", []string{h}, "h5", aInts("perm", 0, 2, 1))                  // (N,6,4)
		h = b.node("ReduceMean", []string{h}, "h6", aInts("axes", -1), aInt("keepdims", 1)) // (N,6,1)
		out := b.node("Squeeze", []string{h}, "y")                                          // (N,6)
		return out, func(x *autograd.Var) *autograd.Var {
			h := autograd.Permute(autograd.Reshape(x, x.Value.Dim(0), 4, 6), 0, 2, 1)
			return autograd.Mean(h, 2)
		}
	}},
	{"SoftmaxPadDropout", 13, []int64{-1, 2, 3, 3}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		p := b.node("Pad", []string{"x", b.ints("pads", 0, 0, 1, 0, 0, 0, 0, 2)}, "p")
		d := b.node("Dropout", []string{p}, "d")
		s := b.node("Softmax", []string{d}, "s", aInt("axis", 1))
		l := b.node("LogSoftmax", []string{d}, "l")
		out := b.node("Concat", []string{s, l}, "y", aInt("axis", 1))
		return out, func(x *autograd.Var) *autograd.Var {
			n := x.Value.Dim(0)
			pad := tensor.New(n, 2, 4, 5)
			for i := range n {
				for c := range 2 {
					for h := range 3 {
						for w := range 3 {
							pad.Set(x.Value.At(i, c, h, w), i, c, h+1, w)
						}
					}
				}
			}
			pv := autograd.Const(pad)
			return autograd.Concat(1, autograd.Softmax(pv, 1), autograd.LogSoftmax(pv, -1))
		}
	}},
	{"SoftmaxOpset11Cast", 11, []int64{2, 3, 4}, func(b *gb, r *rand.Rand) (string, func(*autograd.Var) *autograd.Var) {
		// Before opset 13 Softmax flattens the trailing axes from axis on.
		h := b.node("Cast", []string{"x"}, "h", aInt("to", int64(onnxpb.TensorProto_FLOAT)))
		h = b.node("Softmax", []string{h}, "s")
		h = b.node("Exp", []string{h}, "e")
		h = b.node("Log", []string{h}, "lg")
		h = b.node("Sqrt", []string{h}, "sq")
		out := b.node("Neg", []string{h}, "y")
		return out, func(x *autograd.Var) *autograd.Var {
			s := autograd.Reshape(autograd.Softmax(autograd.Reshape(x, 2, 12), 1), 2, 3, 4)
			return autograd.Neg(autograd.Sqrt(autograd.Log(autograd.Exp(s))))
		}
	}},
}

// TestImportOps runs hand-built graphs covering every supported operator
// and compares each with the same computation written with autograd.
func TestImportOps(t *testing.T) {
	covered := map[string]bool{}
	for ci, c := range opCases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 7))
			b := newGB(c.opset, c.in...)
			out, ref := c.build(b, r)
			m, err := Decode(b.bytes(t, out), c.name+".onnx")
			if err != nil {
				t.Fatal(err)
			}
			for _, op := range m.Ops() {
				covered[op] = true
			}
			shape := make([]int, len(c.in))
			for i, d := range c.in {
				shape[i] = int(d)
				if d < 0 {
					shape[i] = 2
				}
			}
			x := importRand(r, shape...)
			got := runEager(m, x)
			want := func() *tensor.Tensor {
				return ref(autograd.EvalConst(x)).Value
			}()
			if e := maxRel(t, got, want); e > importTol {
				t.Errorf("max relative error %.3g", e)
			}
		})
	}
	for _, op := range ImportedOps {
		if !covered[op] {
			t.Errorf("operator %s is not covered by TestImportOps", op)
		}
	}
}

// TestImportParamsTrainAndEngine checks the imported model as a Fovea
// layer: parameter names, gradients, a training step and the engine.
func TestImportParamsTrainAndEngine(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	b := newGB(13, -1, 3, 8, 8)
	h := b.node("Conv", []string{"x", b.float("conv1.weight", importRand(r, 4, 3, 3, 3)), b.float("onnx::Conv_7", importRand(r, 4))}, "h", aInts("pads", 1, 1, 1, 1))
	h = b.node("BatchNormalization", []string{h, b.float("bn.weight", importRand(r, 4)), b.float("bn.bias", importRand(r, 4)),
		b.float("bn.running_mean", importRand(r, 4)), b.float("bn.running_var", tensor.Full(1.5, 4))}, "h1")
	h = b.node("Relu", []string{h}, "h2")
	h = b.node("MaxPool", []string{h}, "h3", aInts("kernel_shape", 2, 2), aInts("strides", 2, 2))
	h = b.node("GlobalAveragePool", []string{h}, "h4")
	h = b.node("Flatten", []string{h}, "h5", aInt("axis", 1))
	out := b.node("Gemm", []string{h, b.float("fc.weight", importRand(r, 5, 4)), b.float("fc.bias", importRand(r, 5))}, "y", aInt("transB", 1))
	m, err := Decode(b.bytes(t, out), "small.onnx")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range nn.Params(m) {
		names = append(names, p.Name)
	}
	if want := []string{"conv1.weight", "onnx__Conv_7", "bn.weight", "bn.bias", "fc.weight", "fc.bias"}; !slices.Equal(names, want) {
		t.Errorf("params %v, want %v", names, want)
	}
	if bs := nn.Buffers(m); len(bs) != 2 || bs[0].Name != "bn.running_mean" {
		t.Errorf("buffers %v", bs)
	}
	if !slices.Equal(m.InputShape, []int{-1, 3, 8, 8}) {
		t.Errorf("input shape %v", m.InputShape)
	}

	x := importRand(r, 3, 3, 8, 8)
	want := runEager(m, x).Clone()
	plan, err := engine.Compile(m, 3, 3, 8, 8)
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	if e := maxRel(t, plan.Run(x), want); e > importTol {
		t.Errorf("engine differs from eager by %.3g", e)
	}

	// One SGD step on a squared loss lowers it.
	loss := func() *autograd.Var {
		y := m.Forward(autograd.Const(x))
		return autograd.Mean(autograd.Mul(y, y))
	}
	nn.SetTraining(m, true)
	l0 := loss()
	l0.Backward()
	for _, p := range nn.ParamVars(m) {
		if p.Grad == nil {
			t.Fatal("a parameter got no gradient")
		}
		p.Value.Axpy(-0.05, p.Grad)
		p.ZeroGrad()
	}
	nn.SetTraining(m, false)
	if l1 := loss().Value.Data()[0]; !(l1 < l0.Value.Data()[0]) {
		t.Errorf("loss %v after a step, %v before", l1, l0.Value.Data()[0])
	}
}

// TestImportErrors checks that bad files give one clear error naming the
// problem.
func TestImportErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		name  string
		bytes func() []byte
		want  string
	}{
		{"garbage", func() []byte { return []byte("this is not protobuf \xff\xff\xff") }, "bad.onnx: not a valid ONNX model"},
		{"empty", func() []byte { return nil }, "no graph"},
		{"unsupported", func() []byte {
			b := newGB(13, 1, 3)
			h := b.node("Relu", []string{"x"}, "h")
			b.g.Node = append(b.g.Node, &onnxpb.NodeProto{OpType: proto.String("Foo"), Name: proto.String("/layer1/Foo"), Input: []string{h}, Output: []string{"y"}})
			return b.bytes(t, "y")
		}, `bad.onnx: node 1 ("/layer1/Foo"): unsupported operator Foo`},
		{"missing input", func() []byte {
			b := newGB(13, 1, 3)
			return b.bytes(t, b.node("Add", []string{"x", "bias"}, "y"))
		}, `node 0 ("/Add_y"): input "bias" is not a graph input, an initializer or the output of an earlier node`},
		{"missing output", func() []byte {
			b := newGB(13, 1, 3)
			b.node("Relu", []string{"x"}, "h")
			return b.bytes(t, "nowhere")
		}, `graph output "nowhere" is not produced`},
		{"int input", func() []byte {
			b := newGB(13, 1, 3)
			b.g.Input[0].Type.GetTensorType().ElemType = proto.Int32(int32(onnxpb.TensorProto_INT64))
			return b.bytes(t, b.node("Relu", []string{"x"}, "y"))
		}, "only float32 activations are supported"},
		{"double initializer", func() []byte {
			b := newGB(13, 1, 3)
			b.g.Initializer = append(b.g.Initializer, &onnxpb.TensorProto{Name: proto.String("d"), Dims: []int64{3},
				DataType: proto.Int32(int32(onnxpb.TensorProto_DOUBLE)), DoubleData: []float64{1, 2, 3}})
			return b.bytes(t, b.node("Add", []string{"x", "d"}, "y"))
		}, `initializer "d": data type DOUBLE is not supported`},
		{"short initializer", func() []byte {
			b := newGB(13, 1, 3)
			b.float("w", importRand(r, 3))
			b.g.Initializer[0].Dims = []int64{1 << 30, 1 << 30}
			return b.bytes(t, b.node("Add", []string{"x", "w"}, "y"))
		}, `initializer "w": shape [1073741824 1073741824] is too large`},
		{"truncated raw data", func() []byte {
			b := newGB(13, 1, 3)
			b.float("w", importRand(r, 3))
			b.g.Initializer[0].Dims = []int64{4}
			return b.bytes(t, b.node("Add", []string{"x", "w"}, "y"))
		}, `initializer "w": shape [4] needs 16 bytes of float32 data, found 12`},
		{"negative dim", func() []byte {
			b := newGB(13, 1, 3)
			b.float("w", importRand(r, 3))
			b.g.Initializer[0].Dims = []int64{-3}
			return b.bytes(t, b.node("Add", []string{"x", "w"}, "y"))
		}, `initializer "w": dimension -3`},
		{"bad attribute", func() []byte {
			b := newGB(13, 1, 1, 4, 4)
			return b.bytes(t, b.node("MaxPool", []string{"x"}, "y", aInts("kernel_shape", 2, 2, 2)))
		}, `node 0 ("/MaxPool_y"): attribute kernel_shape has 3 values, want 2`},
		{"custom domain", func() []byte {
			b := newGB(13, 1, 3)
			b.node("Relu", []string{"x"}, "y")
			b.g.Node[0].Domain = proto.String("com.microsoft")
			return b.bytes(t, "y")
		}, `unsupported operator Relu of domain "com.microsoft"`},
		{"reflect pad", func() []byte {
			b := newGB(13, 1, 1, 4, 4)
			return b.bytes(t, b.node("Pad", []string{"x", b.ints("p", 0, 0, 1, 1, 0, 0, 1, 1)}, "y", aString("mode", "reflect")))
		}, `node 0 ("/Pad_y"): Pad mode "reflect" is not supported (only constant)`},
		{"integer alpha", func() []byte {
			b := newGB(13, 1, 3)
			return b.bytes(t, b.node("LeakyRelu", []string{"x"}, "y", aInt("alpha", 1)))
		}, `node 0 ("/LeakyRelu_y"): attribute alpha is INT, want FLOAT`},
		{"integer beta", func() []byte {
			b := newGB(13, 1, 3)
			return b.bytes(t, b.node("HardSigmoid", []string{"x"}, "y", aInt("beta", 1)))
		}, `node 0 ("/HardSigmoid_y"): attribute beta is INT, want FLOAT`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.bytes(), "bad.onnx")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q, want one line containing %q", err, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.onnx")); err == nil || !strings.Contains(err.Error(), "none.onnx") {
		t.Errorf("missing file: %v", err)
	}
	// A forward on the wrong shape panics with an *Error naming the node,
	// which maybe.Do recovers; its cause is the reshape's own panic.
	b := newGB(13, -1, 2)
	m, err := Decode(b.bytes(t, b.node("Reshape", []string{"x", b.ints("s", 5, -1)}, "y")), "r.onnx")
	if err != nil {
		t.Fatal(err)
	}
	err = maybe.Do(func() { runEager(m, tensor.New(3, 2)) })
	var oe *Error
	if !errors.As(err, &oe) || !strings.Contains(err.Error(), `r.onnx: node 0 ("/Reshape_y") Reshape`) {
		t.Errorf("panic %v (%T), want an *onnx.Error naming the node", err, err)
	}
}

// FuzzDecode feeds corrupt and truncated models to Decode: it must return
// a model or an error, never panic or hang.
func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, c := range opCases {
		b := newGB(c.opset, c.in...)
		out, _ := c.build(b, r)
		raw := b.bytes(f, out)
		f.Add(raw)
		f.Add(raw[:len(raw)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b, "fuzz.onnx")
		if err == nil && m == nil {
			t.Fatal("nil model without error")
		}
	})
}

// TestTorchvisionModels exports torchvision models with
// tools/refgen/onnx_models.py into a temporary directory, imports them and
// compares Fovea's output (eager and engine) with torch's and, when
// onnxruntime-node is installed, ONNX Runtime's. Without torch the test is
// skipped, or fails under CI=true.
func TestTorchvisionModels(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("exports four torchvision models: skipped with -short")
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import torch, torchvision, numpy").Run(); err != nil {
		msg := py + " lacks torch and torchvision (apt-get install python3-torch python3-torchvision): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	script := filepath.Join("..", "tools", "refgen", "onnx_models.py")
	if out, err := exec.Command(py, script, dir).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	readNPY := func(t *testing.T, path string) *tensor.Tensor {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		a, err := data.ReadNPY(f, path)
		if err != nil {
			t.Fatal(err)
		}
		return tensor.FromSlice(a.Float32s(), a.Shape...)
	}
	for _, name := range []string{"resnet18", "mobilenet_v2", "googlenet", "vgg11"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".onnx")
			m, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			x, want := readNPY(t, filepath.Join(dir, name+".input.npy")), readNPY(t, filepath.Join(dir, name+".output.npy"))
			got := runEager(m, x)
			eagerErr := maxRel(t, got, want)
			plan, err := engine.Compile(m, x.Shape()...)
			if err != nil {
				t.Fatalf("engine: %v", err)
			}
			engineErr := maxRel(t, plan.Run(x), want)
			t.Logf("%s %v: max relative error vs torch: eager %.3g, engine %.3g (ops %v)", name, x.Shape(), eagerErr, engineErr, m.Ops())
			if eagerErr > importTol || engineErr > importTol {
				t.Errorf("error above %g", importTol)
			}
			t.Run("ort", func(t *testing.T) {
				ort := ortRunner(t)
				e := maxRel(t, ort(file, x), got)
				t.Logf("%s: max relative error Fovea vs ONNX Runtime %.3g", name, e)
				if e > importTol {
					t.Errorf("error above %g", importTol)
				}
			})
			os.Remove(file) // the VGG file is 0.5 GB
		})
	}
}
