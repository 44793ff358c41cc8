// Package summary describes a model layer by layer, as torchinfo and
// Keras's model.summary do: for one input of a given shape, every layer's
// output shape, parameters, multiply-accumulates and activation memory,
// then the totals.
//
// [Of] reads the graph IR of package graph: one traced forward pass on a
// zero input, in evaluation mode without gradients, with each operation's
// shapes, parameters and module scope. It needs no description of the
// model besides its Go code.
//
// # Rows
//
// A row is a layer: the operations run by one module, named by its
// [nn.Walk] path ("layer1.0.conv1"). An operation that reads a parameter
// belongs to the module owning it. A parameter-free operation belongs to
// the innermost child of an [nn.Sequential], [nn.Concat] or [nn.Residual]
// running it when that child is a leaf (the ReLU at "layers.2"); otherwise
// it gets a row of its own named after the operation under that path
// ("layer1.0.relu", "layers.4.add"; just "relu" at the top), with the
// name and type that package ops declares for the operation
// ([ops.Op.SummaryName], [ops.Op.SummaryType]). The flatten that
// [nn.Linear] applies to its input is folded into the linear row.
// The type of a module's row is its Go type ("Conv2d"); a layer whose
// parameters belong to operations of its own rather than to modules, as an
// imported ONNX graph's, says where each goes with [OpParams] (rows
// "layer1.0.conv1" of type "Conv").
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

	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// OpParams is implemented by a layer whose parameters belong to the
// operations it runs rather than to child modules, such as an imported
// ONNX graph (onnx.Model).
type OpParams interface {
	// ParamOp returns the operation that reads the parameter called name
	// (one of the layer's OwnParams): its row name, e.g. "layer1.0.conv1"
	// or "/conv1/Conv", and its type, e.g. "Conv"; "" and "" if unknown.
	ParamOp(name string) (op, opType string)
}

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
// summary. It traces the model with [graph.Trace] (so, like it, needs the
// model to itself while it runs) and leaves it in evaluation mode. A model
// that panics on the input shape gives an error.
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
	rowOf, rowType := opRows(model)
	owner := map[string]string{} // parameter name → module path
	ownParams := map[string]int64{}
	var total, trainable, buffers int64
	seen := map[*tensor.Tensor]bool{}
	for _, p := range nn.Params(model) {
		path := rowOf(p.Name)
		if seen[p.Value.Value] {
			continue // a shared tensor is counted once
		}
		seen[p.Value.Value] = true
		owner[p.Name] = path
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

	g, err := graph.Trace(model, 1, input[0], input[1], input[2])
	if err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	shape := func(id int) []int { return g.Values[id].Shape }

	s = &Summary{Model: name, Input: []int{1, input[0], input[1], input[2]}, TotalParams: total, TrainableParams: trainable,
		ParamBytes: total * bytesPerValue, BufferBytes: buffers * bytesPerValue}
	counted := map[string]bool{}
	lastMerge := -1 // index of the op last added to a module row, for merging
	for i, o := range g.Nodes {
		if o.Op == ops.Reshape && i+1 < len(g.Nodes) {
			if next := g.Nodes[i+1]; next.Op == ops.Linear && len(next.Inputs) > 0 && next.Inputs[0] == o.Output && next.Scope == o.Scope {
				continue // nn.Linear's flatten of its input
			}
		}
		path, typ, module := "", "", false
		for _, in := range o.Inputs {
			if in < 0 {
				continue
			}
			if p, ok := owner[g.Values[in].Param]; ok {
				path, module = p, true
				typ = rowType(p, modules[p], o.Op.SummaryType())
				break
			}
		}
		if !module {
			if m, ok := modules[o.Scope]; ok && o.Scope != "" && !isParent(m) {
				path, module = o.Scope, true
				typ = typeName(m)
			} else {
				path, typ = join(o.Scope, o.Op.SummaryName()), o.Op.SummaryType()
			}
		}
		if typ == "BatchNorm" && len(o.Inputs) > 0 && o.Inputs[0] >= 0 {
			typ = "BatchNorm" + map[bool]string{true: "2d", false: "1d"}[len(shape(o.Inputs[0])) == 4]
		}
		out := shape(o.Output)
		mem := int64(size(out)) * bytesPerValue
		macs := nodeMACs(g, o)
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
		path := rowOf(p.Name)
		if !counted[path] {
			counted[path] = true
			s.Rows = append(s.Rows, Row{Name: path, Type: rowType(path, modules[path], "") + " (unused)", Params: ownParams[path]})
		}
	}
	for _, r := range s.Rows {
		s.TotalMACs += r.MACs
		s.ActivationBytes += r.Memory
	}
	return s, nil
}

// opRows returns the row path of each parameter of model, by its full
// name: the operation [OpParams] names for the parameters of such layers,
// else the parameter's module path; and the type of a row: the
// operation's type, else the module's Go type, else opType.
func opRows(model nn.Layer) (rowOf func(param string) string, rowType func(path string, module nn.Layer, opType string) string) {
	rows := map[string]string{}  // parameter name → row of its operation
	types := map[string]string{} // row → operation type
	nn.Walk(model, func(path string, l nn.Layer) {
		ops, ok := l.(OpParams)
		owner, ok2 := l.(nn.ParamOwner)
		if !ok || !ok2 {
			return
		}
		for _, p := range owner.OwnParams() {
			if op, typ := ops.ParamOp(p.Name); op != "" {
				row := join(path, op)
				rows[join(path, p.Name)], types[row] = row, typ
			}
		}
	})
	rowOf = func(param string) string {
		if r, ok := rows[param]; ok {
			return r
		}
		return parent(param)
	}
	rowType = func(path string, module nn.Layer, opType string) string {
		switch {
		case types[path] != "":
			return types[path]
		case module != nil:
			return typeName(module)
		}
		return opType
	}
	return rowOf, rowType
}

// nodeMACs counts the multiply-accumulates of one operation at the traced
// batch size.
func nodeMACs(g *graph.Graph, n graph.Node) int64 {
	out := int64(size(g.Values[n.Output].Shape))
	hasBias := len(n.Inputs) > 2 && n.Inputs[2] >= 0
	switch n.Op {
	case ops.Conv2d, ops.Linear:
		if len(n.Inputs) < 2 || n.Inputs[1] < 0 {
			return 0
		}
		// conv (Cout, Cin/groups, KH, KW): each output reads the rest;
		// linear (Out, In): each output reads In.
		w := g.Values[n.Inputs[1]].Shape
		macs := out * int64(size(w[1:]))
		if hasBias {
			macs += out
		}
		return macs
	case ops.BatchNorm:
		return out
	}
	return 0
}

// size is the number of elements of a shape.
func size(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
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
	t := reflect.TypeOf(l)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Name() == "" {
		return t.String()
	}
	return t.Name()
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
