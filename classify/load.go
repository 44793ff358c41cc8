package classify

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx"
	"github.com/fovea-ml/fovea/tensor"
)

// ONNXPrefix starts Meta.Model for a model imported from an ONNX file.
const ONNXPrefix = "onnx:"

// IsONNX reports whether path names an ONNX file (extension .onnx, any
// case), which [Load] imports rather than reading as a checkpoint.
func IsONNX(path string) bool { return strings.EqualFold(filepath.Ext(path), ".onnx") }

// Load opens a model file: an ONNX model (a .onnx file, imported with
// [onnx.Load]) or a Fovea checkpoint ([models.Load]). An ONNX model's
// metadata comes from its graph: the input shape (N, C, H, W) with any
// batch size, Model [ONNXPrefix] and the file name; a file exported by
// Fovea also brings its checkpoint's classes, normalization, temperature
// and training data (metadata_props), any other file has no normalization
// and classes "0" to "K-1" for its K outputs. A graph with a fixed batch
// size runs on any batch, in chunks of that size. The model is in
// evaluation mode. Errors name path.
func Load(path string) (nn.Layer, models.Meta, error) {
	if !IsONNX(path) {
		return models.Load(path)
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, models.Meta{}, err
	}
	in := m.InputShape
	if len(in) != 4 || in[1] < 1 || in[2] < 1 || in[3] < 1 {
		return nil, models.Meta{}, fmt.Errorf("%s: input %q has shape %s; Fovea needs images (N, C, H, W) with fixed C, H and W",
			path, m.InputName, shapeText(in))
	}
	meta := models.Meta{Model: ONNXPrefix + filepath.Base(path), InputShape: [3]int{in[1], in[2], in[3]}}
	if _, ok := m.Metadata[checkpoint.KeyModel]; ok {
		// Exported by Fovea: the checkpoint's classes, normalization and
		// temperature travel in the metadata_props.
		fm, err := models.ParseMetadata(path, m.Metadata)
		if err != nil {
			return nil, models.Meta{}, err
		}
		meta.Classes, meta.Mean, meta.Std, meta.Temperature, meta.Data = fm.Classes, fm.Mean, fm.Std, fm.Temperature, fm.Data
		meta.Options.NumClasses = len(fm.Classes)
	}
	nn.SetTraining(m, false)
	var model nn.Layer = m
	if in[0] > 0 {
		model = &fixedBatch{m: m, n: in[0]}
	}
	k := -1
	if out := m.OutputShape; len(out) == 2 && out[1] > 0 {
		k = out[1]
	} else {
		// The graph does not say: run it once on zeros.
		shape, err := outputShape(model, meta.InputShape)
		if err != nil {
			return nil, models.Meta{}, fmt.Errorf("%s: %v", path, err)
		}
		if len(shape) == 2 {
			k = shape[1]
		}
	}
	if k > 0 && len(meta.Classes) == k {
		// Named by the metadata.
	} else if k > 0 {
		meta.Options.NumClasses = k
		meta.Classes = make([]string, k)
		for i := range k {
			meta.Classes[i] = strconv.Itoa(i)
		}
	}
	return model, meta, nil
}

// outputShape runs model on one zero image of shape in and returns the
// output's shape, turning an expected panic (a shape the model cannot
// take) into an error.
func outputShape(model nn.Layer, in [3]int) ([]int, error) {
	y, err := maybe.Value(func() *autograd.Var { return model.Forward(autograd.EvalConst(tensor.New(1, in[0], in[1], in[2]))) })
	if err != nil {
		return nil, fmt.Errorf("running the model on a %dx%dx%d input: %w", in[0], in[1], in[2], err)
	}
	return y.Shape(), nil
}

// shapeText formats an ONNX shape, "N" for symbolic dimensions.
func shapeText(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
		if d < 0 {
			parts[i] = "N"
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// fixedBatch runs an ONNX graph whose batch dimension is fixed at n on
// inputs of any batch size, n images at a time (the last chunk padded with
// zeros). With gradients on, a batch smaller than n (explain's one image)
// is padded by autograd operations, so the gradient reaches the input;
// otherwise the chunks are copies, as inference wants.
type fixedBatch struct {
	m *onnx.Model
	n int
}

// Forward runs the graph on x in chunks of the graph's batch size.
func (f *fixedBatch) Forward(x *autograd.Var) *autograd.Var {
	total := x.Value.Dim(0)
	if total == f.n {
		return f.m.Forward(x)
	}
	if total < f.n && x.GradEnabled() {
		pad := autograd.Const(tensor.New(append([]int{f.n - total}, x.Shape()[1:]...)...))
		return firstRows(f.m.Forward(autograd.Concat(0, x, pad)), total)
	}
	var outs []*autograd.Var
	for at := 0; at < total; at += f.n {
		k := min(f.n, total-at)
		chunk := x.Value.Narrow(0, at, k).Contiguous()
		if k < f.n {
			pad := tensor.New(append([]int{f.n - k}, x.Shape()[1:]...)...)
			chunk = tensor.Concat(0, chunk, pad)
		}
		y := f.m.Forward(autograd.Const(chunk))
		if k < f.n {
			y = autograd.Const(y.Value.Narrow(0, 0, k).Contiguous())
		}
		outs = append(outs, y)
	}
	return autograd.Concat(0, outs...)
}

// firstRows returns the first k rows of y (n, ...) with its gradient: the
// product of the (k, n) selection matrix [I 0] and y flattened to (n, -1).
func firstRows(y *autograd.Var, k int) *autograd.Var {
	shape := y.Shape()
	n := shape[0]
	sel := tensor.New(k, n)
	for i := range k {
		sel.Data()[i*n+i] = 1
	}
	rows := autograd.MatMul(autograd.Const(sel), autograd.Reshape(y, n, -1))
	return autograd.Reshape(rows, append([]int{k}, shape[1:]...)...)
}

// Children exposes the ONNX model, so its parameters keep their names.
func (f *fixedBatch) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "", Value: f.m}}
}
