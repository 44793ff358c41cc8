package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// tinyONNX writes a small MNIST-shaped classifier as an ONNX file: Conv,
// Relu, MaxPool, GlobalAveragePool, Flatten, Gemm to 10 classes. batch is
// the input's batch dimension, 0 for a symbolic one.
func tinyONNX(t *testing.T, path string, batch int64) {
	t.Helper()
	r := rand.New(rand.NewPCG(9, 9))
	var inits []*onnxpb.TensorProto
	weight := func(name string, shape ...int64) string {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.5)
		}
		inits = append(inits, &onnxpb.TensorProto{Name: proto.String(name), Dims: shape,
			DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: v})
		return name
	}
	ints := func(n string, v ...int64) *onnxpb.AttributeProto {
		return &onnxpb.AttributeProto{Name: proto.String(n), Type: onnxpb.AttributeProto_INTS.Enum(), Ints: v}
	}
	node := func(op string, ins []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String("/" + out), Input: ins, Output: []string{out}, Attribute: attrs}
	}
	dim := func(d int64) *onnxpb.TensorShapeProto_Dimension {
		if d == 0 {
			return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}
		}
		return &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}}
	}
	tensorType := func(dims ...*onnxpb.TensorShapeProto_Dimension) *onnxpb.TypeProto {
		return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}
	}
	g := &onnxpb.GraphProto{
		Name: proto.String("tiny"),
		Node: []*onnxpb.NodeProto{
			node("Conv", []string{"input", weight("conv.weight", 4, 1, 3, 3), weight("conv.bias", 4)}, "c", ints("pads", 1, 1, 1, 1)),
			node("Relu", []string{"c"}, "r"),
			node("MaxPool", []string{"r"}, "p", ints("kernel_shape", 2, 2), ints("strides", 2, 2)),
			node("GlobalAveragePool", []string{"p"}, "gap"),
			node("Flatten", []string{"gap"}, "f"),
			node("Gemm", []string{"f", weight("fc.weight", 10, 4), weight("fc.bias", 10)}, "output",
				&onnxpb.AttributeProto{Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}),
		},
		Initializer: inits,
		Input:       []*onnxpb.ValueInfoProto{{Name: proto.String("input"), Type: tensorType(dim(batch), dim(1), dim(28), dim(28))}},
		Output:      []*onnxpb.ValueInfoProto{{Name: proto.String("output"), Type: tensorType(dim(batch), dim(10))}},
	}
	mp := &onnxpb.ModelProto{IrVersion: proto.Int64(8), Graph: g,
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}}}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readNPYFile reads a .npy file written by fovea infer.
func readNPYFile(t *testing.T, path string) *tensor.Tensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || b[6] != 1 || b[7] != 0 || (10+int(binary.LittleEndian.Uint16(b[8:])))%64 != 0 {
		t.Fatalf("%s: not a 64-byte aligned .npy 1.0 file", path)
	}
	a, err := data.ReadNPY(bytes.NewReader(b), path)
	if err != nil {
		t.Fatal(err)
	}
	if a.Descr != "<f4" {
		t.Fatalf("%s: dtype %s", path, a.Descr)
	}
	return tensor.FromSlice(a.Float32s(), a.Shape...)
}

func randImages(seed uint64, shape ...int) *tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 1))
	x := tensor.New(shape...)
	for i := range x.Data() {
		x.Data()[i] = r.Float32()
	}
	return x
}

func eagerOut(t *testing.T, m nn.Layer, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	nn.SetTraining(m, false)
	return m.Forward(autograd.EvalConst(x)).Value
}

func assertClose(t *testing.T, what string, got, want *tensor.Tensor) {
	t.Helper()
	if !slices.Equal(got.Shape(), want.Shape()) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
	}
	for i, w := range want.Data() {
		if g := got.Data()[i]; math.Abs(float64(g-w)) > 1e-4*math.Max(1, math.Abs(float64(w))) {
			t.Fatalf("%s: element %d is %v, want %v", what, i, g, w)
		}
	}
}

// TestInferCheckpointAndONNX runs fovea infer on a zoo checkpoint and on
// ONNX files (dynamic and fixed batch) and compares with eager outputs.
func TestInferCheckpointAndONNX(t *testing.T) {
	dir := t.TempDir()
	m, err := models.New("lenet5", models.Options{Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "lenet.safetensors")
	if err := models.Save(ckpt, m, models.Meta{Model: "lenet5", InputShape: [3]int{1, 28, 28}}); err != nil {
		t.Fatal(err)
	}
	x := randImages(1, 5, 1, 28, 28)
	if err := writeNPY(filepath.Join(dir, "in.npy"), x); err != nil {
		t.Fatal(err)
	}
	for _, engine := range []string{"--engine=true", "--engine=false"} {
		r := mustSucceed(t, dir, "infer", "--model", "lenet.safetensors", "--input", "in.npy", "--out", "out.npy", "--batch-size", "2", engine)
		if want := "wrote out.npy: float32 (5, 10)\n"; r.stdout != want {
			t.Errorf("infer printed %q, want %q", r.stdout, want)
		}
		assertClose(t, "checkpoint "+engine, readNPYFile(t, filepath.Join(dir, "out.npy")), eagerOut(t, m, x))
	}

	for _, c := range []struct {
		file  string
		batch int64
	}{{"dyn.onnx", 0}, {"fixed.onnx", 1}} {
		path := filepath.Join(dir, c.file)
		tinyONNX(t, path, c.batch)
		om, err := onnx.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		want := tensor.New(5, 10)
		for i := range 5 {
			y := eagerOut(t, om, x.Narrow(0, i, 1).Contiguous())
			copy(want.Data()[10*i:], y.Data())
		}
		mustSucceed(t, dir, "infer", "--model", c.file, "--input", "in.npy", "--out", "o.npy", "--batch-size", "3")
		assertClose(t, c.file, readNPYFile(t, filepath.Join(dir, "o.npy")), want)
	}
}

// TestONNXPredictEvalSummary runs the checkpoint commands on an ONNX file.
func TestONNXPredictEvalSummary(t *testing.T) {
	dir := t.TempDir()
	tinyONNX(t, filepath.Join(dir, "tiny.onnx"), 0)
	writePNG(t, filepath.Join(dir, "digit.png"), 28, 28, color.RGBA{200, 200, 200, 255})
	r := mustSucceed(t, dir, "predict", "--model", "tiny.onnx", "--json", "--top", "2", "digit.png")
	// The classes have the keys of the server's /v1/predict.
	var preds []struct {
		Image string
		Top   []map[string]any
	}
	if err := json.Unmarshal([]byte(r.stdout), &preds); err != nil || len(preds) != 1 || len(preds[0].Top) != 2 {
		t.Fatalf("predict printed %q (%v)", r.stdout, err)
	}
	for _, top := range preds[0].Top {
		index, _ := top["index"].(float64)
		label, _ := top["label"].(string)
		p, _ := top["probability"].(float64)
		if len(top) != 3 || label != fmt.Sprint(index) || !(p > 0 && p <= 1) {
			t.Errorf("predict --json: class %v, want the keys index, label (here the index) and probability", top)
		}
	}

	r = mustSucceed(t, dir, "eval", "--model", "tiny.onnx", "--limit", "200", "--json")
	var ev map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("eval printed %q: %v", r.stdout, err)
	}
	if ev["images"] != 200.0 || ev["model"] != "onnx:tiny.onnx" {
		t.Errorf("eval: %s", r.stdout)
	}
	if acc, _ := ev["test_accuracy"].(float64); acc < 0 || acc > 1 {
		t.Errorf("eval accuracy %v", ev["test_accuracy"])
	}

	s := summaryJSON(t, dir, "tiny.onnx")
	if s.TotalParams != 4*9+4+40+10 {
		t.Errorf("summary: %d parameters, want %d", s.TotalParams, 4*9+4+40+10)
	}
	// The layers with weights are typed by their ONNX operators.
	var rows []string
	for _, l := range s.Layers {
		if l.Params > 0 || l.Type == "?" || l.Type == "" {
			rows = append(rows, l.Name+" "+l.Type)
		}
	}
	if strings.Join(rows, ", ") != "conv Conv, fc Gemm" {
		t.Errorf("summary rows with weights (or without a type): %s; want conv Conv, fc Gemm", strings.Join(rows, ", "))
	}
}

// TestInferBadInput checks that bad models and arrays give one clear line.
func TestInferBadInput(t *testing.T) {
	dir := t.TempDir()
	tinyONNX(t, filepath.Join(dir, "tiny.onnx"), 0)
	if err := os.WriteFile(filepath.Join(dir, "junk.onnx"), []byte("\xff\xff\xffnot onnx at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeNPY(filepath.Join(dir, "wrong.npy"), tensor.New(2, 3, 28, 28)); err != nil {
		t.Fatal(err)
	}
	if err := writeNPY(filepath.Join(dir, "good.npy"), tensor.New(2, 1, 28, 28)); err != nil {
		t.Fatal(err)
	}
	// A float64 array: header by hand.
	hdr := "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 28, 28), }"
	hdr += strings.Repeat(" ", 64-(10+len(hdr)+1)%64) + "\n"
	f64 := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	f64 = append(append(f64, hdr...), make([]byte, 8*28*28)...)
	if err := os.WriteFile(filepath.Join(dir, "f64.npy"), f64, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--model", "junk.onnx", "--input", "wrong.npy", "--out", "o.npy"}, "junk.onnx: not a valid ONNX model"},
		{[]string{"--model", "tiny.onnx", "--input", "wrong.npy", "--out", "o.npy"}, "--input wrong.npy: shape [2 3 28 28], the model takes (N, 1, 28, 28)"},
		{[]string{"--model", "tiny.onnx", "--input", "f64.npy", "--out", "o.npy"}, "--input f64.npy: dtype <f8, want float32"},
		{[]string{"--model", "tiny.onnx", "--input", "tiny.onnx", "--out", "o.npy"}, "not a .npy file"},
		{[]string{"--model", "tiny.onnx", "--input", "wrong.npy"}, "--out: an output .npy file is required"},
		{[]string{"--model", "tiny.onnx", "--input", "good.npy", "--out", filepath.Join("missing", "o.npy")},
			"--out: writing " + filepath.Join("missing", "o.npy") + ": folder missing does not exist"},
	}
	for _, c := range cases {
		r := fovea(t, dir, append([]string{"infer"}, c.args...)...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "fovea: ") || !strings.Contains(lines[0], c.want) || strings.Contains(lines[0], ".tmp-") {
			t.Errorf("fovea infer %s: exit %d, stderr %q; want one line with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "o.npy")); err == nil {
		t.Error("a failed run left an output file")
	}
	r := fovea(t, dir, "predict", "--model", "junk.onnx", "x.png")
	if r.code == 0 || !strings.Contains(r.stderr, "junk.onnx: not a valid ONNX model") {
		t.Errorf("predict on a bad ONNX file: exit %d, stderr %q", r.code, r.stderr)
	}
}
