package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/graph"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/tensor"
)

// ortTol is the agreement asked of ONNX Runtime: |a−b| ≤ ortTol·max(1, |b|).
const ortTol = 1e-4

// ortRunner returns a function running an ONNX file through
// testdata/ort_run.js. Without node or onnxruntime-node the test is skipped,
// or fails under CI=true.
func ortRunner(t *testing.T) func(model string, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		msg := why + "; install it with: (cd tools/ort && ONNXRUNTIME_NODE_INSTALL=skip npm ci --ignore-scripts) or set FOVEA_ORT_NODE_MODULES"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node (Node.js) is not on PATH")
	}
	mods := os.Getenv("FOVEA_ORT_NODE_MODULES")
	if mods == "" {
		mods = filepath.Join("..", "tools", "ort", "node_modules")
	}
	mods, _ = filepath.Abs(mods)
	if _, err := os.Stat(filepath.Join(mods, "onnxruntime-node", "package.json")); err != nil {
		missing("onnxruntime-node is not installed in " + mods)
	}
	script, _ := filepath.Abs(filepath.Join("testdata", "ort_run.js"))
	return func(model string, x *tensor.Tensor) *tensor.Tensor {
		t.Helper()
		dir := t.TempDir()
		in, out := filepath.Join(dir, "input.bin"), filepath.Join(dir, "out.bin")
		if err := os.WriteFile(in, f32bytes(x.Contiguous().Data()), 0o644); err != nil {
			t.Fatal(err)
		}
		shape := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(x.Shape())), "x"), "[]")
		cmd := exec.Command(node, script, model, in, shape, out)
		cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.Output()
		if err != nil {
			t.Fatalf("ort_run.js: %v\n%s", err, stderr.String())
		}
		var res struct {
			Name string
			Dims []int
		}
		if err := json.Unmarshal(stdout, &res); err != nil {
			t.Fatalf("ort_run.js printed %q: %v", stdout, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]float32, len(b)/4)
		for i := range data {
			data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return tensor.FromSlice(data, res.Dims...)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// relErr is max |a−b| / max(1, |b|); it fails the test when the shapes
// differ.
func relErr(t *testing.T, got, want *tensor.Tensor) float64 {
	t.Helper()
	if fmt.Sprint(got.Shape()) != fmt.Sprint(want.Shape()) {
		t.Fatalf("ONNX Runtime output shape %v, Fovea %v", got.Shape(), want.Shape())
	}
	worst := 0.0
	for i, b := range want.Contiguous().Data() {
		a := got.Contiguous().Data()[i]
		e := math.Abs(float64(a)-float64(b)) / math.Max(1, math.Abs(float64(b)))
		if math.IsNaN(e) {
			e = math.Inf(1)
		}
		worst = math.Max(worst, e)
	}
	return worst
}

// eager runs model on x in evaluation mode without gradients.
func eager(model nn.Layer, x *tensor.Tensor) *tensor.Tensor {
	nn.SetTraining(model, false)
	return model.Forward(autograd.EvalConst(x)).Value
}

// randomizeStats gives batch norms non-trivial running statistics, so the
// export of the inference form is actually checked.
func randomizeStats(model nn.Layer, seed uint64) {
	r := tensor.NewRNG(seed)
	for _, p := range nn.StateDict(model) {
		d := p.Value.Data()
		switch {
		case strings.HasSuffix(p.Name, "running_mean"):
			for i := range d {
				d[i] = 0.1 * float32(r.NormFloat64())
			}
		case strings.HasSuffix(p.Name, "running_var"):
			for i := range d {
				d[i] = 0.5 + r.Float32()
			}
		}
	}
}

// exportAndCompare exports model at shape, runs it in ONNX Runtime at
// runShape (the same or another batch size) and returns the error.
func exportAndCompare(t *testing.T, run func(string, *tensor.Tensor) *tensor.Tensor, model nn.Layer, shape, runShape []int, opt ExportOptions) float64 {
	t.Helper()
	m, err := Export(model, shape, opt)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	x := tensor.Normal(tensor.NewRNG(7), 0, 1, runShape...)
	return relErr(t, run(path, x), eager(model, x))
}

// zooCase is the input and width each zoo model is exported at: CIFAR or
// MNIST size, ImageNet models at 32 or 64 pixels and width 0.25 where the
// architecture has a width multiplier, to keep the test quick.
func zooCase(info models.Info) (shape []int, width float64) {
	c, h, w := info.Input[0], info.Input[1], info.Input[2]
	if h >= 224 {
		h, w = 32, 32
		if info.Name == "resnet50" || info.Name == "googlenet" {
			h, w = 64, 64
		}
	}
	switch {
	case strings.HasPrefix(info.Name, "vgg"), strings.HasPrefix(info.Name, "mobilenetv2"),
		info.Name == "inception-cifar", strings.HasPrefix(info.Name, "resnet") && h == 32 && info.Input[1] == 32:
		width = 0.25
	}
	return []int{2, c, h, w}, width
}

// TestExportZooMatchesORT exports every registered model and checks that
// ONNX Runtime computes Fovea's logits.
func TestExportZooMatchesORT(t *testing.T) {
	run := ortRunner(t)
	for _, info := range models.All() {
		shape, width := zooCase(info)
		t.Run(info.Name, func(t *testing.T) {
			model, err := models.New(info.Name, models.Options{Seed: 1, Width: width})
			if err != nil {
				t.Fatal(err)
			}
			randomizeStats(model, 2)
			e := exportAndCompare(t, run, model, shape, shape, ExportOptions{})
			t.Logf("%s input %v width %g: max relative error vs ONNX Runtime %.2g", info.Name, shape, width, e)
			if e > ortTol {
				t.Fatalf("max relative error %.3g > %g", e, ortTol)
			}
		})
	}
}

// opsModel uses every traced op that the zoo does not.
type opsModel struct {
	conv *nn.Conv2d
	fc   *nn.Linear
}

func (m *opsModel) Forward(x *autograd.Var) *autograd.Var {
	x = m.conv.Forward(x) // (N, 4, 6, 6)
	a := autograd.GELU(x)
	b := autograd.SiLU(autograd.LeakyReLU(x, 0.1))
	c := autograd.ELU(autograd.Clamp(autograd.Scale(x, 1.5), -1, 2), 0.7)
	d := autograd.Tanh(autograd.Sigmoid(autograd.AddScalar(x, 0.3)))
	y := autograd.Concat(1, a, b, c, d) // (N, 16, 6, 6)
	y = autograd.Add(y, autograd.Sub(autograd.Mul(y, y), autograd.Div(y, autograd.Exp(autograd.Neg(y)))))
	y = autograd.Sqrt(autograd.AddScalar(autograd.Pow(y, 2), 1))
	y = autograd.Log(y)
	p := autograd.Permute(y, 0, 2, 3, 1)                                                                                                                       // (N, 6, 6, 16)
	s := autograd.Sum(p, 1)                                                                                                                                    // (N, 6, 16)
	mean := autograd.Mean(s, 1)                                                                                                                                // (N, 16)
	z := autograd.Reshape(autograd.AvgPool2d(y, tensor.PoolParams{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}, Pad: [2]int{1, 1}, CeilMode: true}), -1, 16*4*4) // (N, 256)
	z = m.fc.Forward(z)                                                                                                                                        // (N, 16)
	out := autograd.Add(z, mean)
	out = autograd.Add(out, autograd.Reshape(autograd.MatMul(autograd.Reshape(out, -1, 4), autograd.Const(tensor.Full(0.25, 4, 4))), -1, 16))
	return autograd.Add(autograd.Softmax(out, 1), autograd.LogSoftmax(autograd.ReLU6(out), -1))
}

func (m *opsModel) Children() []nn.Named[nn.Layer] {
	return []nn.Named[nn.Layer]{{Name: "conv", Value: m.conv}, {Name: "fc", Value: m.fc}}
}

// TestExportOpsAndOpsets checks the ops outside the zoo at several opsets
// (Gelu is its own op from 20, ReduceMean takes axes as input from 18),
// with the batch dimension dynamic: exported at batch 1, run at batch 3.
func TestExportOpsAndOpsets(t *testing.T) {
	run := ortRunner(t)
	r := tensor.NewRNG(4)
	m := &opsModel{
		conv: nn.NewConv2d(r, nn.Conv2dConfig{In: 3, Out: 4, Kernel: 3, Stride: 2, Padding: 1}),
		fc:   nn.NewLinear(r, 256, 16, true),
	}
	if _, err := graph.Trace(m, 1, 3, 11, 11); err != nil {
		t.Fatal(err)
	}
	for _, opset := range []int{13, 17, 18, 20, 21} {
		t.Run(fmt.Sprint(opset), func(t *testing.T) {
			e := exportAndCompare(t, run, m, []int{1, 3, 11, 11}, []int{3, 3, 11, 11}, ExportOptions{Opset: opset, DynamicBatch: true})
			t.Logf("opset %d: max relative error %.2g", opset, e)
			if e > ortTol {
				t.Fatalf("max relative error %.3g > %g", e, ortTol)
			}
		})
	}
}

// TestExportModelProto checks the model's header, names and errors
// without ONNX Runtime.
func TestExportModelProto(t *testing.T) {
	model, err := models.New("lenet5", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := Export(model, []int{1, 1, 28, 28}, ExportOptions{DynamicBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if m.GetIrVersion() != 8 || m.GetProducerName() != "fovea" || m.GetOpsetImport()[0].GetVersion() != 17 || m.GetOpsetImport()[0].GetDomain() != "" {
		t.Fatalf("header: ir %d producer %q opset %v", m.GetIrVersion(), m.GetProducerName(), m.GetOpsetImport())
	}
	g := m.GetGraph()
	if g.GetInput()[0].GetName() != "input" || g.GetOutput()[0].GetName() != "output" {
		t.Fatalf("graph input %q output %q", g.GetInput()[0].GetName(), g.GetOutput()[0].GetName())
	}
	if d := g.GetInput()[0].GetType().GetTensorType().GetShape().GetDim()[0]; d.GetDimParam() != "batch" {
		t.Fatalf("batch dim %v, want symbolic", d)
	}
	inits := map[string]bool{}
	for _, in := range g.GetInitializer() {
		inits[in.GetName()] = true
	}
	for _, p := range nn.StateDict(model) {
		if !inits[p.Name] {
			t.Errorf("parameter %s is not an initializer", p.Name)
		}
	}
	// The bytes round-trip through the protobuf encoding.
	path := filepath.Join(t.TempDir(), "lenet.onnx")
	if err := WriteFile(path, m); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back onnxpb.ModelProto
	if err := proto.Unmarshal(b, &back); err != nil || !proto.Equal(&back, m) {
		t.Fatalf("round trip: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}

	for _, opset := range []int{12, 22} {
		if _, err := Export(model, []int{1, 1, 28, 28}, ExportOptions{Opset: opset}); err == nil || !strings.Contains(err.Error(), "opset") {
			t.Errorf("opset %d: err = %v", opset, err)
		}
	}
	if _, err := Export(model, []int{1, 1, 20, 20}, ExportOptions{}); err == nil {
		t.Error("bad input shape: no error")
	}
	// An op without a mapping names itself and its node.
	tg, _ := graph.Trace(model, 1, 1, 28, 28)
	tg.Nodes[3].Op = ops.None
	e := &exporter{g: tg, opt: ExportOptions{Opset: 17}, alias: map[int]int{}, added: map[string]bool{}, scalars: map[float32]string{}}
	if err := e.run(); err == nil || !strings.Contains(err.Error(), `node 3: operation "none"`) {
		t.Errorf("unknown op: err = %v", err)
	}
}

// TestExportRoundTrip imports an exported file with [Load] and exports it
// again: ONNX → Fovea → ONNX computes what the original model does.
func TestExportRoundTrip(t *testing.T) {
	run := ortRunner(t)
	model, err := models.New("resnet20", models.Options{Seed: 3, Width: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	randomizeStats(model, 4)
	shape := []int{2, 3, 32, 32}
	m, err := Export(model, shape, ExportOptions{DynamicBatch: true})
	if err != nil {
		t.Fatal(err)
	}
	first := filepath.Join(t.TempDir(), "first.onnx")
	if err := WriteFile(first, m); err != nil {
		t.Fatal(err)
	}
	imported, err := Load(first)
	if err != nil {
		t.Fatal(err)
	}
	e := exportAndCompare(t, run, imported, shape, shape, ExportOptions{})
	x := tensor.Normal(tensor.NewRNG(7), 0, 1, shape...)
	if d := relErr(t, eager(imported, x), eager(model, x)); d > ortTol {
		t.Fatalf("imported model differs from the original by %.3g", d)
	}
	t.Logf("round trip: max relative error vs ONNX Runtime %.2g", e)
	if e > ortTol {
		t.Fatalf("max relative error %.3g > %g", e, ortTol)
	}
}
