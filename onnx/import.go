package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// Import limits: a file that claims more is rejected before anything of
// that size is allocated.
const (
	maxImportDim   = 1 << 31 // largest single dimension of a tensor or input
	maxImportElems = 1 << 31 // largest element count of one tensor
	maxImportRank  = 8       // most dimensions of a tensor
)

// Model is an ONNX graph imported as a Fovea layer (see [Load]). Forward
// interprets the graph node by node with the differentiable ops of package
// autograd, so the model runs eagerly, traces into a graph for the
// inference engine, and trains: float32 initializers are its parameters,
// named by their ONNX initializer names, and batch-norm running statistics
// are its buffers.
type Model struct {
	// Name is the file name given to [Load] or [Decode], used in errors.
	Name string
	// InputName and OutputName are the graph's input and (first) output.
	InputName, OutputName string
	// InputShape is the input's shape from the graph, -1 for a symbolic or
	// unknown dimension (a dynamic batch).
	InputShape []int
	// OutputShape is the output's shape as the graph declares it, -1 for a
	// symbolic or unknown dimension; nil when the graph does not say.
	OutputShape []int
	// Opset is the version of the default ONNX operator set the graph uses.
	Opset int64
	// Producer is the producer_name of the file ("pytorch", …).
	Producer string
	// Metadata is the file's metadata_props (a Fovea export stores the
	// checkpoint's classes and normalization there).
	Metadata map[string]string

	inits    map[string]value // initializers, by ONNX name
	params   []nn.Named[*autograd.Var]
	paramOps map[string][2]string // parameter name → name and type of the node reading it
	buffers  []nn.Named[*tensor.Tensor]
	steps    []step
	training bool
	rng      *rand.Rand
}

// value is what flows along a graph edge: a float32 tensor as a Var, or an
// int64 tensor kept as Go integers (shapes, axes and indices, which
// torch-exported graphs compute with Shape, Gather, Concat and friends).
type value struct {
	f     *autograd.Var // float32 data; nil for an int64 tensor
	ints  []int64       // int64 data when f is nil
	shape []int         // shape of ints
	set   bool          // false for an absent optional input
}

func floatValue(v *autograd.Var) value { return value{f: v, set: true} }

func intsValue(v []int64, shape ...int) value {
	if shape == nil {
		shape = []int{len(v)}
	}
	return value{ints: v, shape: shape, set: true}
}

// Load reads an ONNX model file and imports it (see [Decode]).
func Load(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return Decode(b, filepath.Base(path))
}

// Decode imports the serialized ONNX model b; name (the file name) is used
// in errors. It checks the whole graph: every operator must be supported,
// every node input produced by an earlier node, the graph input or an
// initializer, and every tensor well formed and of a supported type.
func Decode(b []byte, name string) (*Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		return nil, fmt.Errorf("onnx: %s: not a valid ONNX model (protobuf): %v", name, err)
	}
	m, err := FromProto(&mp, name)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// FromProto imports a decoded ONNX model; name is used in errors.
func FromProto(mp *onnxpb.ModelProto, name string) (*Model, error) {
	m := &Model{Name: name, Producer: mp.GetProducerName(), rng: rand.New(rand.NewPCG(1, 2))}
	for _, p := range mp.GetMetadataProps() {
		if m.Metadata == nil {
			m.Metadata = map[string]string{}
		}
		m.Metadata[p.GetKey()] = p.GetValue()
	}
	g := mp.GetGraph()
	if g == nil {
		return nil, m.errorf("the model has no graph")
	}
	if err := m.readOpset(mp); err != nil {
		return nil, err
	}
	initTensors, err := m.readInitializers(g)
	if err != nil {
		return nil, err
	}
	if err := m.readInput(g); err != nil {
		return nil, err
	}
	if len(g.GetOutput()) == 0 {
		return nil, m.errorf("the graph has no output")
	}
	m.OutputName = g.GetOutput()[0].GetName()
	m.OutputShape = outputShape(g.GetOutput()[0])
	uses, firstUse, err := m.compileNodes(g, initTensors)
	if err != nil {
		return nil, err
	}
	paramName := m.placeInitializers(g, initTensors, uses)
	m.nameParamOps(paramName, firstUse)
	return m, nil
}

// errorf returns an error about the file.
func (m *Model) errorf(format string, args ...any) error {
	return fmt.Errorf("onnx: %s: %s", m.Name, fmt.Sprintf(format, args...))
}

// readOpset sets m.Opset, the version of the default domain.
func (m *Model) readOpset(mp *onnxpb.ModelProto) error {
	m.Opset = -1
	for _, o := range mp.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			m.Opset = o.GetVersion()
		}
	}
	if m.Opset < 0 {
		// IR version 2 files may omit it; opset 1 is what they meant.
		m.Opset = 1
	}
	if m.Opset < 6 || m.Opset > 23 {
		return m.errorf("opset %d of the default domain is not supported (6 to 23)", m.Opset)
	}
	return nil
}

// readInitializers decodes the initializers into m.inits and returns the
// float32 ones as tensors by name; their values in m.inits are set by
// [Model.placeInitializers].
func (m *Model) readInitializers(g *onnxpb.GraphProto) (map[string]*tensor.Tensor, error) {
	m.inits = map[string]value{}
	initTensors := map[string]*tensor.Tensor{}
	for i, t := range g.GetInitializer() {
		n := t.GetName()
		if n == "" {
			return nil, m.errorf("initializer %d has no name", i)
		}
		if _, dup := m.inits[n]; dup {
			return nil, m.errorf("initializer %q is defined twice", n)
		}
		v, ft, err := decodeTensor(t)
		if err != nil {
			return nil, m.errorf("initializer %q: %v", n, err)
		}
		m.inits[n] = v
		if ft != nil {
			initTensors[n] = ft
		}
	}
	if len(g.GetSparseInitializer()) > 0 {
		return nil, m.errorf("sparse initializers are not supported")
	}
	return initTensors, nil
}

// readInput sets m.InputName and m.InputShape from the one graph input
// that is not an initializer, a float32 tensor.
func (m *Model) readInput(g *onnxpb.GraphProto) error {
	var inputs []*onnxpb.ValueInfoProto
	for _, in := range g.GetInput() {
		if _, ok := m.inits[in.GetName()]; !ok {
			inputs = append(inputs, in)
		}
	}
	if len(inputs) != 1 {
		return m.errorf("the graph has %d inputs besides its initializers; Fovea models take exactly one", len(inputs))
	}
	in := inputs[0]
	m.InputName = in.GetName()
	if m.InputName == "" {
		return m.errorf("the graph input has no name")
	}
	tt := in.GetType().GetTensorType()
	if tt == nil {
		return m.errorf("graph input %q is not a tensor", m.InputName)
	}
	if et := onnxpb.TensorProto_DataType(tt.GetElemType()); et != onnxpb.TensorProto_FLOAT {
		return m.errorf("graph input %q has data type %v; only float32 activations are supported", m.InputName, et)
	}
	if tt.GetShape() == nil {
		return m.errorf("graph input %q has no shape", m.InputName)
	}
	dims := tt.GetShape().GetDim()
	if len(dims) > maxImportRank {
		return m.errorf("graph input %q has %d dimensions", m.InputName, len(dims))
	}
	for _, d := range dims {
		v := -1
		if _, ok := d.GetValue().(*onnxpb.TensorShapeProto_Dimension_DimValue); ok {
			if d.GetDimValue() < 1 || d.GetDimValue() > maxImportDim {
				return m.errorf("graph input %q has dimension %d", m.InputName, d.GetDimValue())
			}
			v = int(d.GetDimValue())
		}
		m.InputShape = append(m.InputShape, v)
	}
	return nil
}

// outputShape returns the shape that the graph declares for out, -1 for a
// symbolic or unknown dimension; nil when it declares none.
func outputShape(out *onnxpb.ValueInfoProto) []int {
	sh := out.GetType().GetTensorType().GetShape()
	if sh == nil || len(sh.GetDim()) > maxImportRank {
		return nil
	}
	shape := []int{}
	for _, d := range sh.GetDim() {
		v := -1
		if dv := d.GetDimValue(); dv > 0 && dv <= maxImportDim {
			v = int(dv)
		}
		shape = append(shape, v)
	}
	return shape
}

// compileNodes compiles the nodes into m.steps, checking that each input
// exists and that the graph output is produced. It returns the strongest
// use of each float initializer (initTensors) and the step first reading
// each as a weight.
func (m *Model) compileNodes(g *onnxpb.GraphProto, initTensors map[string]*tensor.Tensor) (map[string]useKind, map[string]int, error) {
	known := map[string]bool{m.InputName: true}
	for n := range m.inits {
		known[n] = true
	}
	uses, firstUse := map[string]useKind{}, map[string]int{}
	for i, n := range g.GetNode() {
		c := &nodeCtx{m: m, n: n, idx: i}
		for _, inName := range n.GetInput() {
			if inName != "" && !known[inName] {
				return nil, nil, c.errorf("input %q is not a graph input, an initializer or the output of an earlier node", inName)
			}
		}
		s, err := c.compile()
		if err != nil {
			return nil, nil, err
		}
		for j, inName := range n.GetInput() {
			if _, ok := initTensors[inName]; ok {
				k := useParam
				if j < len(s.roles) {
					k = s.roles[j]
				}
				uses[inName] = max(uses[inName], k)
				if _, seen := firstUse[inName]; !seen && k == useParam {
					firstUse[inName] = len(m.steps)
				}
			}
		}
		for _, out := range n.GetOutput() {
			if out != "" {
				known[out] = true
			}
		}
		m.steps = append(m.steps, s)
	}
	if !known[m.OutputName] {
		return nil, nil, m.errorf("graph output %q is not produced by any node", m.OutputName)
	}
	return uses, firstUse, nil
}

// placeInitializers makes the float initializers, in file order,
// parameters (trained), buffers (batch-norm statistics) or plain constants
// (Clip bounds and the like) by their uses, and returns the parameter name
// of each parameter's ONNX name.
func (m *Model) placeInitializers(g *onnxpb.GraphProto, initTensors map[string]*tensor.Tensor, uses map[string]useKind) map[string]string {
	taken := map[string]bool{}
	paramName := map[string]string{}
	for _, init := range g.GetInitializer() {
		n := init.GetName()
		t, ok := initTensors[n]
		if !ok {
			continue
		}
		switch uses[n] {
		case useParam:
			v := autograd.Param(t)
			m.inits[n] = floatValue(v)
			paramName[n] = sanitizeName(n, taken)
			m.params = append(m.params, nn.Named[*autograd.Var]{Name: paramName[n], Value: v})
		case useBuffer:
			m.inits[n] = floatValue(autograd.Const(t))
			m.buffers = append(m.buffers, nn.Named[*tensor.Tensor]{Name: sanitizeName(n, taken), Value: t})
		default:
			m.inits[n] = floatValue(autograd.Const(t))
		}
	}
	return paramName
}

// nameParamOps fills m.paramOps: each parameter belongs to the first node
// reading it as a weight, named after its first parameter's module path
// when that name has one ("layer1.0.conv1" for "layer1.0.conv1.weight"),
// else by the node's name ("/conv1/Conv" for the "onnx::Conv_193" of a
// constant-folded PyTorch export), else by its operator and index.
// paramName maps ONNX initializer names to parameter names, firstUse to
// the index of their node.
func (m *Model) nameParamOps(paramName map[string]string, firstUse map[string]int) {
	m.paramOps = map[string][2]string{}
	nodeName := map[int]string{}
	for i, s := range m.steps {
		for _, in := range s.inputs {
			p, ok := paramName[in]
			if !ok || firstUse[in] != i {
				continue
			}
			if _, named := nodeName[i]; !named {
				switch dot := strings.LastIndexByte(p, '.'); {
				case dot > 0:
					nodeName[i] = p[:dot]
				case s.name != "":
					nodeName[i] = s.name
				default:
					nodeName[i] = fmt.Sprintf("%s_%d", s.op, i)
				}
			}
			m.paramOps[p] = [2]string{nodeName[i], s.op}
		}
	}
}

// useKind is how a node uses an initializer input, weakest first.
type useKind int

const (
	useConst  useKind = iota // read as a Go value (Clip bounds, Pad value)
	useBuffer                // batch-norm running statistics
	useParam                 // a weight: trainable
)

// sanitizeName turns an ONNX initializer name into a state-dict name:
// characters other than letters, digits, '_' and '.' become '_', empty
// path segments are dropped, and a suffix keeps the names unique.
func sanitizeName(n string, taken map[string]bool) string {
	b := []byte(n)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	var segs []string
	for _, s := range strings.Split(string(b), ".") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	s := strings.Join(segs, ".")
	if s == "" {
		s = "param"
	}
	out := s
	for i := 2; taken[out]; i++ {
		out = fmt.Sprintf("%s_%d", s, i)
	}
	taken[out] = true
	return out
}

// decodeTensor reads a TensorProto: float32 data as a tensor (returned
// twice, as the value's Var is made later), integer data as Go ints.
func decodeTensor(t *onnxpb.TensorProto) (value, *tensor.Tensor, error) {
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL || len(t.GetExternalData()) > 0 {
		return value{}, nil, errors.New("external data is not supported (save the model as one file)")
	}
	if t.GetSegment() != nil {
		return value{}, nil, errors.New("segmented tensors are not supported")
	}
	shape, n, err := tensorShape(t.GetDims())
	if err != nil {
		return value{}, nil, err
	}
	switch dt := onnxpb.TensorProto_DataType(t.GetDataType()); dt {
	case onnxpb.TensorProto_FLOAT:
		data, err := floatData(t, n)
		if err != nil {
			return value{}, nil, err
		}
		return value{set: true}, tensor.FromSlice(data, shape...), nil
	case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32, onnxpb.TensorProto_BOOL:
		data, err := intData(t, dt, n)
		if err != nil {
			return value{}, nil, err
		}
		return intsValue(data, shape...), nil, nil
	default:
		return value{}, nil, fmt.Errorf("data type %v is not supported (float32, int64, int32 and bool are)", dt)
	}
}

// tensorShape checks a tensor's dims and returns them as a shape with its
// element count.
func tensorShape(dims []int64) ([]int, int, error) {
	if len(dims) > maxImportRank {
		return nil, 0, fmt.Errorf("%d dimensions", len(dims))
	}
	shape := make([]int, len(dims))
	n := 1
	for i, d := range dims {
		if d < 0 || d > maxImportDim {
			return nil, 0, fmt.Errorf("dimension %d of shape %v", d, dims)
		}
		shape[i] = int(d)
		if d > 0 && n > maxImportElems/int(d) {
			return nil, 0, fmt.Errorf("shape %v is too large", dims)
		}
		n *= int(d)
	}
	return shape, n, nil
}

// floatData returns the n float32 values of t, from raw_data or
// float_data.
func floatData(t *onnxpb.TensorProto, n int) ([]float32, error) {
	raw, dims := t.GetRawData(), t.GetDims()
	if raw == nil && (n > 0 || len(t.GetFloatData()) > 0) {
		if len(t.GetFloatData()) != n {
			return nil, fmt.Errorf("shape %v needs %d float32 values, found %d", dims, n, len(t.GetFloatData()))
		}
		return slices.Clone(t.GetFloatData()), nil
	}
	if len(raw) != 4*n {
		return nil, fmt.Errorf("shape %v needs %d bytes of float32 data, found %d", dims, 4*n, len(raw))
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return data, nil
}

// intData returns the n values of t, of type dt (INT64, INT32 or BOOL),
// from raw_data, int64_data or int32_data.
func intData(t *onnxpb.TensorProto, dt onnxpb.TensorProto_DataType, n int) ([]int64, error) {
	size, src := 8, t.GetInt64Data()
	if dt != onnxpb.TensorProto_INT64 {
		size, src = 4, nil
		if dt == onnxpb.TensorProto_BOOL {
			size = 1
		}
		for _, v := range t.GetInt32Data() {
			src = append(src, int64(v))
		}
	}
	raw, dims := t.GetRawData(), t.GetDims()
	if raw == nil && (n > 0 || len(src) > 0) {
		if len(src) != n {
			return nil, fmt.Errorf("shape %v needs %d %v values, found %d", dims, n, dt, len(src))
		}
		return slices.Clone(src), nil
	}
	if len(raw) != size*n {
		return nil, fmt.Errorf("shape %v needs %d bytes of %v data, found %d", dims, size*n, dt, len(raw))
	}
	data := make([]int64, n)
	for i := range data {
		switch size {
		case 8:
			data[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		case 4:
			data[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
		default:
			data[i] = int64(raw[i])
		}
	}
	return data, nil
}

// Forward runs the graph on x, whose shape must match [Model.InputShape]
// (any size where that is -1). It panics with an [*Error] naming the node
// when an operation cannot run on the shapes it receives.
func (m *Model) Forward(x *autograd.Var) *autograd.Var {
	if x.Value.Dims() != len(m.InputShape) {
		errorf("%s: input of shape %v, the graph takes %v", m.Name, x.Shape(), m.InputShape)
	}
	for i, d := range m.InputShape {
		if d > 0 && x.Value.Dim(i) != d {
			errorf("%s: input of shape %v, the graph takes %v", m.Name, x.Shape(), m.InputShape)
		}
	}
	env := make(map[string]value, len(m.inits)+len(m.steps)+1)
	for n, v := range m.inits {
		env[n] = v
	}
	env[m.InputName] = floatValue(x)
	for i := range m.steps {
		m.steps[i].exec(m, env)
	}
	out := env[m.OutputName]
	if out.f == nil {
		errorf("%s: graph output %q is an integer tensor, not float32", m.Name, m.OutputName)
	}
	return out.f
}

// OwnParams lists the float32 initializers that nodes use as weights, in
// file order, named by their (sanitized) ONNX names.
func (m *Model) OwnParams() []nn.Named[*autograd.Var] { return m.params }

// ParamOp returns the node that reads the parameter called name (one of
// [Model.OwnParams]) as a weight: its name, the parameter's module path
// where the initializer name has one ("layer1.0.conv1"), else the node's
// own ("/conv1/Conv"), and its operator type ("Conv", "Gemm"). Both are ""
// for another name. Package summary shows the parameters on such rows.
func (m *Model) ParamOp(name string) (op, opType string) {
	p := m.paramOps[name]
	return p[0], p[1]
}

// OwnBuffers lists the batch-norm running statistics.
func (m *Model) OwnBuffers() []nn.Named[*tensor.Tensor] { return m.buffers }

// SetTraining switches dropout and batch normalization between training
// and inference behaviour (inference by default).
func (m *Model) SetTraining(on bool) { m.training = on }

// Ops returns the distinct operator types of the graph in order of first
// use.
func (m *Model) Ops() []string {
	var out []string
	for _, s := range m.steps {
		if !slices.Contains(out, s.op) {
			out = append(out, s.op)
		}
	}
	return out
}

var (
	_ nn.Layer       = (*Model)(nil)
	_ nn.ParamOwner  = (*Model)(nil)
	_ nn.BufferOwner = (*Model)(nil)
	_ nn.Trainable   = (*Model)(nil)
)
