// Package summary describes a model layer by layer, as torchinfo and
// Keras's model.summary do: for one input of a given shape, every layer's
// output shape, parameters, multiply-accumulates and activation memory,
// then the totals.
//
// [Of] runs the model once on a zero input, in evaluation mode without
// gradients, while package autograd reports each operation (see
// [autograd.Trace]); it needs no description of the model besides its Go
// code.
//
// # Rows
//
// A row is a layer: the operations run by one module, named by its
// [nn.Walk] path ("layer1.0.conv1"). An operation that reads a parameter
// belongs to the module owning it. A parameter-free operation belongs to
// the innermost child of an [nn.Sequential], [nn.Concat] or [nn.Residual]
// running it when that child is a leaf (the ReLU at "layers.2"); otherwise
// it gets a row of its own named after the operation under that path
// ("layer1.0.relu", "layers.4.add"; just "relu" at the top). The flatten
// that [nn.Linear] applies to its input is folded into the linear row.
//
// # Counting
//
// Parameters of a module are counted on its first row, so the rows sum to
// [nn.NumParams]; buffers (batch-norm running statistics) are reported
// apart. MACs are multiply-accumulates at batch 1, counted as torchinfo
// does for convolutions and linear layers, bias included:
//
//	conv2d     Hout·Wout·Cout·(Cin/groups)·KH·KW  (+ Hout·Wout·Cout with bias)
//	linear     In·Out                               (+ Out with bias)
//	batchnorm  one per output element (its scale and shift)
//
// Activations, pooling, additions, concatenation and reshapes count 0.
// Memory is the float32 bytes of each row's output at batch 1; the total
// sums the rows.
package summary

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// bytesPerValue is the size of a float32, Fovea's only element type.
const bytesPerValue = 4

// Row is one layer of a [Summary].
type Row struct {
	Name   string `json:"name"`   // module path, e.g. "layer1.0.conv1"
	Type   string `json:"type"`   // layer type, e.g. "Conv2d", "ReLU"
	Output []int  `json:"output"` // output shape at batch 1
	Params int64  `json:"params"` // parameters first counted on this row
	MACs   int64  `json:"macs"`   // multiply-accumulates
	Memory int64  `json:"memory"` // bytes of the output
}

// Summary is the layer table of a model for one input shape, with totals.
type Summary struct {
	Model           string `json:"model,omitempty"` // the name given to Of, for the heading
	Input           []int  `json:"input"`           // (1, C, H, W)
	Rows            []Row  `json:"layers"`
	TotalParams     int64  `json:"total_params"`
	TrainableParams int64  `json:"trainable_params"`
	TotalMACs       int64  `json:"total_macs"`
	ActivationBytes int64  `json:"activation_bytes"` // sum of the rows' Memory
	ParamBytes      int64  `json:"param_bytes"`      // TotalParams as float32
	BufferBytes     int64  `json:"buffer_bytes"`     // buffers as float32
}

// Of summarizes model for one input of shape (C, H, W); name labels the
// summary. The model is left in evaluation mode. While it runs, Of wraps
// the children of the model's nn.Sequential, nn.Concat and nn.Residual
// containers to know which one is running, and restores them before it
// returns: do not use the model concurrently. A model that panics on the
// input shape gives an error.
func Of(name string, model nn.Layer, input [3]int) (s *Summary, err error) {
	for _, d := range input {
		if d < 1 {
			return nil, fmt.Errorf("summary: input %dx%dx%d: sizes must be positive", input[0], input[1], input[2])
		}
	}
	nn.SetTraining(model, false)

	// Modules, parameter owners and parameter counts by path, taken before
	// wrapping.
	modules := map[string]nn.Layer{}
	nn.Walk(model, func(path string, l nn.Layer) {
		if _, dup := modules[path]; !dup {
			modules[path] = l
		}
	})
	owner := map[*tensor.Tensor]string{}
	ownParams := map[string]int64{}
	var total, trainable, buffers int64
	for _, p := range nn.Params(model) {
		path := parent(p.Name)
		if _, seen := owner[p.Value.Value]; seen {
			continue // a shared tensor is counted once
		}
		owner[p.Value.Value] = path
		n := int64(p.Value.Value.Size())
		ownParams[path] += n
		total += n
		if p.Value.RequiresGrad() {
			trainable += n
		}
	}
	for _, b := range nn.Buffers(model) {
		buffers += int64(b.Value.Size())
	}

	t := &tracer{}
	restore := t.wrap(model)
	defer restore()

	var ops []op
	stop := autograd.Trace(func(o autograd.TraceOp) {
		ops = append(ops, op{TraceOp: o, scope: t.scope()})
	})
	defer stop()
	defer autograd.NoGrad()()
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("summary: running the model on input %dx%dx%d: %v", input[0], input[1], input[2], r)
		}
	}()
	x := autograd.Const(tensor.New(1, input[0], input[1], input[2]))
	model.Forward(x)
	stop()

	s = &Summary{Model: name, Input: []int{1, input[0], input[1], input[2]}, TotalParams: total, TrainableParams: trainable,
		ParamBytes: total * bytesPerValue, BufferBytes: buffers * bytesPerValue}
	counted := map[string]bool{}
	lastMerge := -1 // index of the op last added to a module row, for merging
	for i, o := range ops {
		if o.Name == "reshape" && i+1 < len(ops) && ops[i+1].Name == "linear" && len(ops[i+1].Inputs) > 0 && ops[i+1].Inputs[0] == o.Output && ops[i+1].scope == o.scope {
			continue // nn.Linear's flatten of its input
		}
		path, typ, module := "", "", false
		for _, in := range o.Inputs {
			if in == nil {
				continue
			}
			if p, ok := owner[in.Value]; ok {
				path, module = p, true
				typ = typeName(modules[p])
				break
			}
		}
		if !module {
			if m, ok := modules[o.scope]; ok && o.scope != "" && !isParent(m) {
				path, module = o.scope, true
				typ = typeName(m)
			} else {
				path, typ = join(o.scope, opLabel(o.Name)), opType(o.Name)
			}
		}
		if typ == "BatchNorm" && len(o.Inputs) > 0 && o.Inputs[0] != nil {
			typ = "BatchNorm" + map[bool]string{true: "2d", false: "1d"}[len(o.Inputs[0].Shape()) == 4]
		}
		out := o.Output.Shape()
		mem := int64(o.Output.Value.Size()) * bytesPerValue
		macs := opMACs(o.TraceOp)
		if module && lastMerge == i-1 && len(s.Rows) > 0 && s.Rows[len(s.Rows)-1].Name == path {
			r := &s.Rows[len(s.Rows)-1]
			r.Output, r.MACs, r.Memory = out, r.MACs+macs, mem
			lastMerge = i
			continue
		}
		r := Row{Name: path, Type: typ, Output: out, MACs: macs, Memory: mem}
		if module {
			lastMerge = i
			if !counted[path] {
				counted[path] = true
				r.Params = ownParams[path]
			}
		}
		s.Rows = append(s.Rows, r)
	}
	// Parameters no operation read still count, on rows of their own.
	for _, p := range nn.Params(model) {
		path := parent(p.Name)
		if !counted[path] {
			counted[path] = true
			s.Rows = append(s.Rows, Row{Name: path, Type: typeName(modules[path]) + " (unused)", Params: ownParams[path]})
		}
	}
	for _, r := range s.Rows {
		s.TotalMACs += r.MACs
		s.ActivationBytes += r.Memory
	}
	return s, nil
}

// op is a traced operation and the path of the innermost wrapped module
// that ran it.
type op struct {
	autograd.TraceOp
	scope string
}

// tracer keeps the stack of wrapped modules running.
type tracer struct {
	stack []string
}

// scope returns the path of the innermost running wrapped module.
func (t *tracer) scope() string {
	if len(t.stack) == 0 {
		return ""
	}
	return t.stack[len(t.stack)-1]
}

// scoped runs a child of a container with its path pushed on the stack.
// It delegates the nn interfaces so that walks of the model see through it.
type scoped struct {
	inner nn.Layer
	path  string
	t     *tracer
}

// Forward runs the wrapped layer inside its scope.
func (s *scoped) Forward(x *autograd.Var) *autograd.Var {
	s.t.stack = append(s.t.stack, s.path)
	defer func() { s.t.stack = s.t.stack[:len(s.t.stack)-1] }()
	return s.inner.Forward(x)
}

// OwnParams delegates to the wrapped layer.
func (s *scoped) OwnParams() []nn.Named[*autograd.Var] {
	if p, ok := s.inner.(nn.ParamOwner); ok {
		return p.OwnParams()
	}
	return nil
}

// OwnBuffers delegates to the wrapped layer.
func (s *scoped) OwnBuffers() []nn.Named[*tensor.Tensor] {
	if b, ok := s.inner.(nn.BufferOwner); ok {
		return b.OwnBuffers()
	}
	return nil
}

// Children delegates to the wrapped layer.
func (s *scoped) Children() []nn.Named[nn.Layer] {
	if p, ok := s.inner.(nn.Parent); ok {
		return p.Children()
	}
	return nil
}

// SetTraining delegates to the wrapped layer.
func (s *scoped) SetTraining(on bool) {
	if tr, ok := s.inner.(nn.Trainable); ok {
		tr.SetTraining(on)
	}
}

// wrap puts the children of every Sequential, Concat and Residual under
// model in scoped wrappers and returns the function undoing it.
func (t *tracer) wrap(model nn.Layer) (restore func()) {
	var undo []func()
	seen := map[nn.Layer]bool{}
	wrapOne := func(path, name string, l nn.Layer) nn.Layer {
		return &scoped{inner: l, path: join(path, name), t: t}
	}
	nn.Walk(model, func(path string, l nn.Layer) {
		if sc, ok := l.(*scoped); ok {
			l = sc.inner // Walk reaches children wrapped a moment ago
		}
		if !reflect.TypeOf(l).Comparable() || seen[l] {
			return
		}
		seen[l] = true
		switch c := l.(type) {
		case *nn.Sequential:
			old := c.Layers
			c.Layers = make([]nn.Layer, len(old))
			for i, x := range old {
				c.Layers[i] = wrapOne(path, strconv.Itoa(i), x)
			}
			undo = append(undo, func() { c.Layers = old })
		case *nn.Concat:
			old := c.Branches
			c.Branches = make([]nn.Layer, len(old))
			for i, x := range old {
				c.Branches[i] = wrapOne(path, strconv.Itoa(i), x)
			}
			undo = append(undo, func() { c.Branches = old })
		case *nn.Residual:
			old := *c
			if c.Body != nil {
				c.Body = wrapOne(path, "body", c.Body)
			}
			if c.Shortcut != nil {
				c.Shortcut = wrapOne(path, "shortcut", c.Shortcut)
			}
			if c.Post != nil {
				c.Post = wrapOne(path, "post", c.Post)
			}
			undo = append(undo, func() { *c = old })
		}
	})
	return func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
}

// opMACs counts the multiply-accumulates of one operation at the traced
// batch size.
func opMACs(o autograd.TraceOp) int64 {
	out := int64(o.Output.Value.Size())
	switch o.Name {
	case "conv2d":
		if len(o.Inputs) < 2 || o.Inputs[1] == nil {
			return 0
		}
		w := o.Inputs[1].Shape() // (Cout, Cin/groups, KH, KW)
		macs := out * int64(w[1]*w[2]*w[3])
		if len(o.Inputs) > 2 && o.Inputs[2] != nil {
			macs += out
		}
		return macs
	case "linear":
		if len(o.Inputs) < 2 || o.Inputs[1] == nil {
			return 0
		}
		w := o.Inputs[1].Shape() // (Out, In)
		macs := out * int64(w[1])
		if len(o.Inputs) > 2 && o.Inputs[2] != nil {
			macs += out
		}
		return macs
	case "batchnorm":
		return out
	}
	return 0
}

// parent returns the module path of a parameter name: all but the last
// dotted element.
func parent(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		return name[:i]
	}
	return ""
}

// join joins two path elements with a dot.
func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// isParent reports whether l has children.
func isParent(l nn.Layer) bool {
	p, ok := l.(nn.Parent)
	return ok && len(p.Children()) > 0
}

// typeName is the Go type name of l without package or pointer: "Conv2d".
func typeName(l nn.Layer) string {
	if l == nil {
		return "?"
	}
	t := reflect.TypeOf(l)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return t.String()
	}
	return t.Name()
}

// opNames maps operation names to the row name and type of a
// parameter-free operation outside a leaf module.
var opNames = map[string][2]string{
	"relu":             {"relu", "ReLU"},
	"leaky_relu":       {"leakyrelu", "LeakyReLU"},
	"elu":              {"elu", "ELU"},
	"gelu":             {"gelu", "GELU"},
	"silu":             {"silu", "SiLU"},
	"sigmoid":          {"sigmoid", "Sigmoid"},
	"tanh":             {"tanh", "Tanh"},
	"maxpool2d":        {"maxpool", "MaxPool2d"},
	"avgpool2d":        {"avgpool", "AvgPool2d"},
	"global_avgpool2d": {"avgpool", "GlobalAvgPool2d"},
	"add":              {"add", "Add"},
	"concat":           {"concat", "Concat"},
	"reshape":          {"flatten", "Flatten"},
	"dropout":          {"dropout", "Dropout"},
	"softmax":          {"softmax", "Softmax"},
	"log_softmax":      {"log_softmax", "LogSoftmax"},
}

// opLabel is the row name of a parameter-free operation.
func opLabel(name string) string {
	if n, ok := opNames[name]; ok {
		return n[0]
	}
	return name
}

// opType is the row type of a parameter-free operation.
func opType(name string) string {
	if n, ok := opNames[name]; ok {
		return n[1]
	}
	return name
}

// MB formats a byte count in megabytes (10⁶ bytes), as torchinfo does.
func MB(bytes int64) string { return fmt.Sprintf("%.2f MB", float64(bytes)/1e6) }

// Commas formats n with thousands separators: 11,689,512.
func Commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// shapeString formats a shape as torchinfo does: [1, 64, 112, 112].
func shapeString(s []int) string {
	if s == nil {
		return "-"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// macs formats a MAC count in G (10⁹) or, below that, M (10⁶).
func macs(n int64) string {
	if n >= 1e9 {
		return fmt.Sprintf("%.2f G", float64(n)/1e9)
	}
	return fmt.Sprintf("%.2f M", float64(n)/1e6)
}

// Totals is the one-line digest of the totals, e.g.
//
//	Total params: 11,689,512 (46.76 MB), trainable 11,689,512; MACs: 1.82 G; activations: 25.38 MB
func (s *Summary) Totals() string {
	return fmt.Sprintf("Total params: %s (%s), trainable %s; MACs: %s; activations: %s",
		Commas(s.TotalParams), MB(s.ParamBytes), Commas(s.TrainableParams), macs(s.TotalMACs), MB(s.ActivationBytes))
}

// WriteText writes the summary as an aligned table followed by the totals.
func (s *Summary) WriteText(w io.Writer) error {
	head := []string{"Layer", "Type", "Output shape", "Params", "MACs", "Memory"}
	cells := [][]string{head}
	for _, r := range s.Rows {
		cells = append(cells, []string{r.Name, r.Type, shapeString(r.Output), Commas(r.Params), Commas(r.MACs), MB(r.Memory)})
	}
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len(c))
		}
	}
	total := 2 * (len(head) - 1)
	for _, wd := range width {
		total += wd
	}
	rule := strings.Repeat("=", total)
	var b strings.Builder
	if s.Model != "" {
		fmt.Fprintf(&b, "Model: %s, input %s\n", s.Model, shapeString(s.Input))
	}
	b.WriteString(rule + "\n")
	for n, row := range cells {
		for i, c := range row {
			if i < 3 {
				fmt.Fprintf(&b, "%-*s", width[i], c)
			} else {
				fmt.Fprintf(&b, "%*s", width[i], c)
			}
			if i < len(row)-1 {
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
		if n == 0 {
			b.WriteString(strings.Repeat("-", total) + "\n")
		}
	}
	b.WriteString(rule + "\n")
	fmt.Fprintf(&b, "Total params: %s\n", Commas(s.TotalParams))
	fmt.Fprintf(&b, "Trainable params: %s\n", Commas(s.TrainableParams))
	fmt.Fprintf(&b, "Non-trainable params: %s\n", Commas(s.TotalParams-s.TrainableParams))
	fmt.Fprintf(&b, "Total MACs: %s (%s)\n", macs(s.TotalMACs), Commas(s.TotalMACs))
	fmt.Fprintf(&b, "Activation memory (batch 1): %s\n", MB(s.ActivationBytes))
	fmt.Fprintf(&b, "Parameter memory: %s (buffers %s)\n", MB(s.ParamBytes), MB(s.BufferBytes))
	b.WriteString(rule + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}
