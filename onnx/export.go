package onnx

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// Opsets accepted by [Export]: the default and the supported range.
const (
	DefaultOpset = 17
	MinOpset     = 13
	MaxOpset     = 21
)

// IRVersion is the ONNX IR version written by [Export] (ONNX 1.10+).
const IRVersion = 8

// ExportOptions configure [Export]. The zero value exports opset 17 with
// the traced batch size fixed.
type ExportOptions struct {
	// Opset is the ONNX default-domain opset, MinOpset..MaxOpset; 0 means
	// DefaultOpset.
	Opset int
	// DynamicBatch makes the batch dimension of the input and output the
	// symbolic "batch", and writes reshapes with -1 for their first
	// dimension, so the file runs on any batch size.
	DynamicBatch bool
	// Name is the graph name; "" means "fovea".
	Name string
	// Metadata is written as the model's metadata_props, sorted by key:
	// `fovea export` stores a checkpoint's class names, normalization and
	// temperature there (the fovea.* keys of package checkpoint), so an
	// imported file is prepared and labelled like the checkpoint.
	Metadata map[string]string
}

// Export traces model on an input of inputShape (N, C, H, W) in evaluation
// mode and returns it as an ONNX model: graph input "input", graph output
// "output", parameters and batch-norm statistics as initializers named by
// their state-dict names. An operation without an ONNX mapping is an
// error naming it and its node index. The model is left in evaluation
// mode.
func Export(model nn.Layer, inputShape []int, opt ExportOptions) (*onnxpb.ModelProto, error) {
	if opt.Opset == 0 {
		opt.Opset = DefaultOpset
	}
	if opt.Opset < MinOpset || opt.Opset > MaxOpset {
		return nil, fmt.Errorf("onnx: opset %d is not supported (want %d to %d)", opt.Opset, MinOpset, MaxOpset)
	}
	if len(inputShape) < 1 || slices.ContainsFunc(inputShape, func(d int) bool { return d < 1 }) {
		return nil, fmt.Errorf("onnx: input shape %v: want positive dimensions, batch first", inputShape)
	}
	if opt.Name == "" {
		opt.Name = "fovea"
	}
	g, err := graph.Trace(model, inputShape...)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	names := map[*tensor.Tensor]string{}
	for _, p := range nn.StateDict(model) {
		names[p.Value] = p.Name
	}
	e := &exporter{g: g, opt: opt, stateNames: names, alias: map[int]int{},
		added: map[string]bool{}, scalars: map[float32]string{}}
	if err := e.run(); err != nil {
		return nil, err
	}
	return e.model(), nil
}

// WriteFile writes m to path in the protobuf binary encoding, atomically:
// the bytes go to a temporary file in the same directory, which is synced
// and then renamed over path.
func WriteFile(path string, m *onnxpb.ModelProto) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("onnx: encoding %s: %w", path, err)
	}
	if err := atomicfile.WriteBytes(path, b); err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

// exporter turns one traced graph into ONNX nodes and initializers.
type exporter struct {
	g          *graph.Graph
	opt        ExportOptions
	stateNames map[*tensor.Tensor]string // parameters and buffers by tensor

	nodes   []*onnxpb.NodeProto
	inits   []*onnxpb.TensorProto
	added   map[string]bool    // initializer names already written
	scalars map[float32]string // scalar constants by value
	alias   map[int]int        // value omitted (dropout) → value it equals
	tmp     int                // counter for intermediate names
}

// name returns the ONNX name of value id, adding an initializer for
// parameters and constants on first use.
func (e *exporter) name(id int) string {
	for {
		a, ok := e.alias[id]
		if !ok {
			break
		}
		id = a
	}
	v := e.g.Values[id]
	switch {
	case id == e.g.Input:
		return "input"
	case v.Producer >= 0:
		if id == e.g.Output {
			return "output"
		}
		return fmt.Sprintf("t%d", id)
	}
	n := v.Param
	if n == "" {
		n = fmt.Sprintf("const%d", id)
	}
	e.initializer(n, v.Data)
	return n
}

// initializer adds t as a float initializer called n, once.
func (e *exporter) initializer(n string, t *tensor.Tensor) {
	if e.added[n] {
		return
	}
	e.added[n] = true
	data := t.Contiguous().Data()
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	e.inits = append(e.inits, &onnxpb.TensorProto{
		Name: proto.String(n), Dims: int64s(t.Shape()),
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), RawData: raw,
	})
}

// ints adds an int64 initializer and returns its name.
func (e *exporter) ints(hint string, vals []int64) string {
	e.tmp++
	n := fmt.Sprintf("%s_%d", hint, e.tmp)
	raw := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	e.added[n] = true
	e.inits = append(e.inits, &onnxpb.TensorProto{
		Name: proto.String(n), Dims: []int64{int64(len(vals))},
		DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)), RawData: raw,
	})
	return n
}

// scalar returns the name of a float32 scalar initializer holding v.
func (e *exporter) scalar(v float32) string {
	if n, ok := e.scalars[v]; ok {
		return n
	}
	n := fmt.Sprintf("scalar%d", len(e.scalars))
	e.scalars[v] = n
	e.initializer(n, tensor.Scalar(v))
	return n
}

// temp returns a fresh name for an intermediate value.
func (e *exporter) temp(hint string) string {
	e.tmp++
	return fmt.Sprintf("%s_%d", hint, e.tmp)
}

// node appends an ONNX node and returns its output name.
func (e *exporter) node(op string, inputs []string, out string, attrs ...*onnxpb.AttributeProto) string {
	e.nodes = append(e.nodes, &onnxpb.NodeProto{
		OpType: proto.String(op), Name: proto.String(fmt.Sprintf("%s_%d", op, len(e.nodes))),
		Input: inputs, Output: []string{out}, Attribute: attrs,
	})
	return out
}

func attrInt(n string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func attrInts(n string, v ...int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: int64s(v)}
}

func attrFloat(n string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}

// run maps every traced node: an op of a generic form (package ops) to one
// node of its ONNX type, the others by code of their own.
func (e *exporter) run() error {
	g := e.g
	for i, n := range g.Nodes {
		if n.Op.ONNXForm() != ops.ONNXCustom {
			e.generic(n)
			continue
		}
		if err := e.custom(i, n); err != nil {
			return err
		}
	}
	if e.name(g.Output) != "output" {
		// The output is the input, a parameter or an omitted dropout's input.
		e.node("Identity", []string{e.name(g.Output)}, "output")
	}
	return nil
}

// generic writes node n of an op whose ONNX form is not ops.ONNXCustom: its
// inputs in order, then what the form adds.
func (e *exporter) generic(n graph.Node) {
	ins := make([]string, len(n.Inputs))
	for k, id := range n.Inputs {
		ins[k] = e.name(id)
	}
	var attrs []*onnxpb.AttributeProto
	switch n.Op.ONNXForm() {
	case ops.ONNXScalar:
		ins = append(ins, e.scalar(n.Attrs.(float32)))
	case ops.ONNXAxis:
		attrs = append(attrs, attrInt("axis", n.Attrs.(int)))
	case ops.ONNXAlpha:
		attrs = append(attrs, attrFloat("alpha", n.Attrs.(float32)))
	}
	e.node(n.Op.ONNX(), ins, e.name(n.Output), attrs...)
}

// custom writes node i, n, of an op of form ops.ONNXCustom; an op it does
// not know is an error.
func (e *exporter) custom(i int, n graph.Node) error {
	g := e.g
	in := func(k int) string { return e.name(n.Inputs[k]) }
	out := e.name(n.Output)
	inShape := func(k int) []int { return g.Values[n.Inputs[k]].Shape }
	outShape := g.Values[n.Output].Shape
	switch n.Op {
	case ops.Conv2d:
		p := n.Attrs.(tensor.ConvParams).WithDefaults()
		w := g.Values[n.Inputs[1]].Shape
		ins := []string{in(0), in(1)}
		if n.Inputs[2] >= 0 {
			ins = append(ins, in(2))
		}
		e.node(n.Op.ONNX(), ins, out,
			attrInts("kernel_shape", w[2], w[3]),
			attrInts("strides", p.Stride[0], p.Stride[1]),
			attrInts("pads", p.Pad[0], p.Pad[1], p.Pad[2], p.Pad[3]),
			attrInts("dilations", p.Dilation[0], p.Dilation[1]),
			attrInt("group", p.Groups))
	case ops.BatchNorm:
		a := n.Attrs.(autograd.BatchNormAttrs)
		if a.Training || a.RunMean == nil || a.RunVar == nil {
			return fmt.Errorf("onnx: node %d (%s): training mode or no running statistics; only inference batch norm exports", i, n.Op)
		}
		c := a.RunMean.Size()
		gamma, beta := "", ""
		if n.Inputs[1] >= 0 {
			gamma = in(1)
		} else {
			gamma = e.constTensor(tensor.Full(1, c))
		}
		if n.Inputs[2] >= 0 {
			beta = in(2)
		} else {
			beta = e.constTensor(tensor.Zeros(c))
		}
		e.node(n.Op.ONNX(), []string{in(0), gamma, beta, e.buffer(a.RunMean), e.buffer(a.RunVar)}, out,
			attrFloat("epsilon", a.Eps))
	case ops.Linear:
		if len(inShape(0)) == 2 {
			ins := []string{in(0), in(1)}
			if n.Inputs[2] >= 0 {
				ins = append(ins, in(2))
			}
			e.node(n.Op.ONNX(), ins, out, attrInt("transB", 1))
			break
		}
		wt := e.node("Transpose", []string{in(1)}, e.temp("wT"), attrInts("perm", 1, 0))
		if n.Inputs[2] < 0 {
			e.node("MatMul", []string{in(0), wt}, out)
			break
		}
		mm := e.node("MatMul", []string{in(0), wt}, e.temp("matmul"))
		e.node("Add", []string{mm, in(2)}, out)
	case ops.ReLU6:
		e.node(n.Op.ONNX(), []string{in(0), e.scalar(0), e.scalar(6)}, out)
	case ops.Clamp:
		b := n.Attrs.([2]float32)
		e.node(n.Op.ONNX(), []string{in(0), e.scalar(b[0]), e.scalar(b[1])}, out)
	case ops.GELU:
		if e.opt.Opset >= 20 {
			e.node(n.Op.ONNX(), []string{in(0)}, out)
			break
		}
		// x·½(1 + erf(x/√2))
		d := e.node("Div", []string{in(0), e.scalar(math.Sqrt2)}, e.temp("gelu_div"))
		erf := e.node("Erf", []string{d}, e.temp("gelu_erf"))
		p1 := e.node("Add", []string{erf, e.scalar(1)}, e.temp("gelu_add"))
		m := e.node("Mul", []string{in(0), p1}, e.temp("gelu_mul"))
		e.node("Mul", []string{m, e.scalar(0.5)}, out)
	case ops.SiLU:
		s := e.node("Sigmoid", []string{in(0)}, e.temp("silu_sigmoid"))
		e.node("Mul", []string{in(0), s}, out)
	case ops.MaxPool2d, ops.AvgPool2d:
		p := n.Attrs.(tensor.PoolParams)
		stride := p.WithDefaults().Stride
		attrs := []*onnxpb.AttributeProto{
			attrInts("kernel_shape", p.Kernel[0], p.Kernel[1]),
			attrInts("strides", stride[0], stride[1]),
			attrInts("pads", p.Pad[0], p.Pad[1], p.Pad[0], p.Pad[1]),
			attrInt("ceil_mode", b2i(p.CeilMode)),
		}
		if n.Op == ops.AvgPool2d {
			attrs = append(attrs, attrInt("count_include_pad", b2i(p.CountPad)))
		}
		e.node(n.Op.ONNX(), []string{in(0)}, out, attrs...)
	case ops.GlobalAvgPool2d:
		if len(outShape) == 4 {
			e.node(n.Op.ONNX(), []string{in(0)}, out)
			break
		}
		gp := e.node(n.Op.ONNX(), []string{in(0)}, e.temp("gap"))
		e.node("Flatten", []string{gp}, out, attrInt("axis", 1))
	case ops.Mean, ops.Sum:
		axes, _ := n.Attrs.([]int)
		if len(axes) == 0 {
			axes = make([]int, len(inShape(0)))
			for k := range axes {
				axes[k] = k
			}
		}
		keep := b2i(len(outShape) == len(inShape(0)))
		if n.Op == ops.Mean && e.opt.Opset < 18 {
			e.node(n.Op.ONNX(), []string{in(0)}, out, attrInts("axes", axes...), attrInt("keepdims", keep))
			break
		}
		e.node(n.Op.ONNX(), []string{in(0), e.ints("axes", int64s(axes))}, out, attrInt("keepdims", keep))
	case ops.Reshape:
		s := inShape(0)
		if len(outShape) == 2 && len(s) >= 2 && outShape[0] == s[0] && outShape[1] == prod(s[1:]) {
			e.node("Flatten", []string{in(0)}, out, attrInt("axis", 1))
			break
		}
		target := int64s(outShape)
		if e.opt.DynamicBatch && len(target) > 0 {
			target[0] = -1
		}
		e.node(n.Op.ONNX(), []string{in(0), e.ints("shape", target)}, out)
	case ops.Permute:
		e.node(n.Op.ONNX(), []string{in(0)}, out, attrInts("perm", n.Attrs.([]int)...))
	case ops.Dropout:
		// The identity in inference: later readers use the input.
		e.alias[n.Output] = n.Inputs[0]
	default:
		return fmt.Errorf("onnx: node %d: operation %q has no ONNX mapping", i, n.Op)
	}
	return nil
}

// buffer returns the initializer name of a batch-norm statistic: its
// state-dict name, or a constant name when the model does not list it.
func (e *exporter) buffer(t *tensor.Tensor) string {
	if n, ok := e.stateNames[t]; ok {
		e.initializer(n, t)
		return n
	}
	return e.constTensor(t)
}

// constTensor adds t as an anonymous initializer.
func (e *exporter) constTensor(t *tensor.Tensor) string {
	n := e.temp("const")
	e.initializer(n, t)
	return n
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func prod(s []int) int {
	p := 1
	for _, d := range s {
		p *= d
	}
	return p
}

// model assembles the ModelProto.
func (e *exporter) model() *onnxpb.ModelProto {
	g := e.g
	vi := func(name string, shape []int) *onnxpb.ValueInfoProto {
		dims := make([]*onnxpb.TensorShapeProto_Dimension, len(shape))
		for k, d := range shape {
			if k == 0 && e.opt.DynamicBatch {
				dims[k] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}
				continue
			}
			dims[k] = &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}}
		}
		return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{
			Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
				ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
				Shape:    &onnxpb.TensorShapeProto{Dim: dims},
			}},
		}}
	}
	var props []*onnxpb.StringStringEntryProto
	for _, k := range slices.Sorted(maps.Keys(e.opt.Metadata)) {
		props = append(props, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(e.opt.Metadata[k])})
	}
	return &onnxpb.ModelProto{
		IrVersion:     proto.Int64(IRVersion),
		ProducerName:  proto.String("fovea"),
		MetadataProps: props,
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(int64(e.opt.Opset))}},
		Graph: &onnxpb.GraphProto{
			Name:        proto.String(e.opt.Name),
			Node:        e.nodes,
			Initializer: e.inits,
			Input:       []*onnxpb.ValueInfoProto{vi("input", g.Values[g.Input].Shape)},
			Output:      []*onnxpb.ValueInfoProto{vi("output", g.Values[g.Output].Shape)},
		},
	}
}
