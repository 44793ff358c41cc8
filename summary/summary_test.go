package summary_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx"
	"github.com/fovea-ml/fovea/onnx/onnxpb"
	"github.com/fovea-ml/fovea/summary"
)

// of builds a zoo model with classes and summarizes it at input.
func of(t *testing.T, name string, classes int, input [3]int) (*summary.Summary, nn.Layer) {
	t.Helper()
	m, err := models.New(name, models.Options{NumClasses: classes})
	if err != nil {
		t.Fatal(err)
	}
	s, err := summary.Of(name, m, input)
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, s, m)
	return s, m
}

// checkRows checks that the rows add up to the totals and the model.
func checkRows(t *testing.T, s *summary.Summary, m nn.Layer) {
	t.Helper()
	var params, macs, mem int64
	for _, r := range s.Rows {
		params += r.Params
		macs += r.MACs
		mem += r.Memory
	}
	if want := int64(nn.NumParams(m)); params != want || s.TotalParams != want || s.TrainableParams != want {
		t.Errorf("rows sum to %d parameters, total %d, trainable %d; the model has %d", params, s.TotalParams, s.TrainableParams, want)
	}
	if macs != s.TotalMACs || mem != s.ActivationBytes || s.ParamBytes != 4*s.TotalParams {
		t.Errorf("totals %d MACs %d bytes do not match the rows' %d and %d", s.TotalMACs, s.ActivationBytes, macs, mem)
	}
}

// conv returns the MACs of a bias-free convolution producing c×h×w from
// cin channels with a k×k kernel; bn the MACs of its batch norm.
func conv(cin, c, k, h, w int) int64 { return int64(c * h * w * cin * k * k) }
func bn(c, h, w int) int64           { return int64(c * h * w) }

func TestResNet18(t *testing.T) {
	s, _ := of(t, "resnet18", 1000, [3]int{3, 224, 224})
	if s.TotalParams != 11689512 {
		t.Errorf("ResNet-18 has %d parameters, want 11,689,512", s.TotalParams)
	}
	// torchvision's layout, from the layer shapes: stem, four stages of two
	// basic blocks, downsampling shortcuts, fc.
	want := conv(3, 64, 7, 112, 112) + bn(64, 112, 112)
	in, size := 64, 56
	for stage, c := range []int{64, 128, 256, 512} {
		if stage > 0 {
			size /= 2
		}
		for blk := range 2 {
			want += conv(in, c, 3, size, size) + conv(c, c, 3, size, size) + 2*bn(c, size, size)
			if blk == 0 && in != c {
				want += conv(in, c, 1, size, size) + bn(c, size, size)
			}
			in = c
		}
	}
	want += 512*1000 + 1000
	if s.TotalMACs != want {
		t.Errorf("ResNet-18 MACs %d, want %d", s.TotalMACs, want)
	}
	if d := math.Abs(float64(s.TotalMACs)/1.8186e9 - 1); d > 0.01 {
		t.Errorf("ResNet-18 MACs %d are %.2f%% off torchinfo's 1.8186e9", s.TotalMACs, 100*d)
	}
	for _, r := range s.Rows[:5] {
		t.Logf("%+v", r)
	}
	if r := s.Rows[0]; r.Name != "conv1" || r.Type != "Conv2d" || r.Params != 9408 || r.Memory != 4*64*112*112 {
		t.Errorf("first row %+v", r)
	}
	names := map[string]bool{}
	for _, r := range s.Rows {
		names[r.Name] = true
	}
	for _, n := range []string{"bn1", "relu", "maxpool", "layer1.0.conv1", "layer2.0.downsample.0", "layer4.1.add", "avgpool", "fc"} {
		if !names[n] {
			t.Errorf("no row %q", n)
		}
	}
	t.Log(s.Totals())
}

func TestResNet20(t *testing.T) {
	s, _ := of(t, "resnet20", 10, [3]int{3, 32, 32})
	if s.TotalParams != 272474 {
		t.Errorf("ResNet-20 has %d parameters, want 272,474", s.TotalParams)
	}
	want := conv(3, 16, 3, 32, 32) + bn(16, 32, 32)
	in, size := 16, 32
	for stage, c := range []int{16, 32, 64} {
		if stage > 0 {
			size /= 2
		}
		for blk := range 3 {
			want += conv(in, c, 3, size, size) + conv(c, c, 3, size, size) + 2*bn(c, size, size)
			if blk == 0 && in != c {
				want += conv(in, c, 1, size, size) + bn(c, size, size)
			}
			in = c
		}
	}
	want += 64*10 + 10
	if s.TotalMACs != want {
		t.Errorf("ResNet-20 MACs %d, want %d", s.TotalMACs, want)
	}
	if s.TotalMACs < 40.8e6 || s.TotalMACs > 41.1e6 {
		t.Errorf("ResNet-20 MACs %d, want about 40.8M of convolutions", s.TotalMACs)
	}
}

func TestVGG16(t *testing.T) {
	if _, err := models.Lookup("vgg16"); err != nil {
		t.Skip("vgg16 is not registered:", err)
	}
	s, _ := of(t, "vgg16", 1000, [3]int{3, 224, 224})
	if s.TotalParams != 138357544 {
		t.Errorf("VGG-16 has %d parameters, want 138,357,544", s.TotalParams)
	}
	if d := math.Abs(float64(s.TotalMACs)/15.47e9 - 1); d > 0.01 {
		t.Errorf("VGG-16 MACs %d, want about 15.47e9 (torchinfo)", s.TotalMACs)
	}
}

const spec = `
name: tiny
input: [1, 8, 8]
classes: 3
layers:
  - conv: {out: 4, kernel: 3, pad: 1}
  - relu
  - residual:
      body: [conv: {out: 4, kernel: 3, pad: 1, bias: false}, batchnorm]
      activation: relu
  - concat: {branches: [[conv: {out: 2, kernel: 1}], [maxpool: {kernel: 3, stride: 1, pad: 1}]]}
  - maxpool: {kernel: 2}
  - flatten
  - linear: {out: classes}
`

func TestSpecRows(t *testing.T) {
	sp, err := models.ParseSpec("tiny.yaml", []byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	m, err := sp.Build(models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := summary.Of("tiny", m, sp.Input())
	if err != nil {
		t.Fatal(err)
	}
	checkRows(t, s, m)
	var got []string
	for _, r := range s.Rows {
		got = append(got, r.Name+" "+r.Type)
	}
	want := []string{"layers.0 Conv2d", "layers.1 ReLU", "layers.2.body.0 Conv2d", "layers.2.body.1 BatchNorm2d",
		"layers.2.add Add", "layers.2.post ReLU", "layers.3.0.0 Conv2d", "layers.3.1.0 MaxPool2d", "layers.3.concat Concat",
		"layers.4 MaxPool2d", "layers.5 Flatten", "layers.6 Linear"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := s.Rows[0]; r.MACs != 4*8*8*9+4*8*8 || r.Params != 40 {
		t.Errorf("conv row %+v", r)
	}
	// The model is restored: its walk sees no wrappers and it still runs.
	if n := len(nn.Params(m)); n != 9 {
		t.Errorf("after Of the model has %d parameter tensors", n)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"layers.2.body.0", "Total params: " + summary.Commas(s.TotalParams), "Total MACs:"} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("text lacks %q:\n%s", w, buf.String())
		}
	}
	b, err := json.Marshal(s)
	if err != nil || !strings.Contains(string(b), `"total_params":`) {
		t.Errorf("JSON %s %v", b, err)
	}
}

func TestBadInput(t *testing.T) {
	m, _ := models.New("resnet20", models.Options{})
	if _, err := summary.Of("x", m, [3]int{0, 32, 32}); err == nil {
		t.Error("zero channels: no error")
	}
	if _, err := summary.Of("x", m, [3]int{5, 32, 32}); err == nil || !strings.HasPrefix(err.Error(), "summary: ") {
		t.Errorf("wrong channels: %v", err)
	}
	if got := summary.Commas(1234567); got != "1,234,567" {
		t.Errorf("Commas %q", got)
	}
}

// TestONNXRows summarizes imported ONNX graphs: a parameter's row is the
// operation reading it, named as in the state dict (or by its ONNX node
// when the initializer name says nothing, as in constant-folded PyTorch
// exports) and typed by its ONNX operator.
func TestONNXRows(t *testing.T) {
	m, err := models.New("lenet5", models.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, err := summary.Of("lenet5", m, [3]int{1, 28, 28})
	if err != nil {
		t.Fatal(err)
	}
	mp, err := onnx.Export(m, []int{1, 1, 28, 28}, onnx.ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{"Conv2d": "Conv", "Linear": "Gemm"}
	check := func(mp *onnxpb.ModelProto, rename func(string) string) {
		t.Helper()
		im, err := onnx.FromProto(mp, "lenet5.onnx")
		if err != nil {
			t.Fatal(err)
		}
		s, err := summary.Of("lenet5.onnx", im, [3]int{1, 28, 28})
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, s, im)
		var got []string
		for _, r := range s.Rows {
			if r.Params > 0 {
				got = append(got, r.Name+" "+r.Type)
			}
		}
		var exp []string
		for _, r := range want.Rows {
			if r.Params > 0 {
				exp = append(exp, rename(r.Name)+" "+types[r.Type])
			}
		}
		if strings.Join(got, ", ") != strings.Join(exp, ", ") {
			t.Errorf("rows with parameters: %s; want %s", strings.Join(got, ", "), strings.Join(exp, ", "))
		}
	}
	check(mp, func(s string) string { return s })

	// The same graph with initializers named as constant folding names
	// them ("onnx::Conv_7"): the rows take the nodes' names.
	nodeOf := map[string]string{}
	for _, n := range mp.GetGraph().GetNode() {
		for _, in := range n.GetInput() {
			nodeOf[in] = n.GetName()
		}
	}
	rename := map[string]string{}
	var rowNames []string
	for i, init := range mp.GetGraph().GetInitializer() {
		n := init.GetName()
		rename[n] = fmt.Sprintf("onnx::%s_%d", "W", i)
		if strings.HasSuffix(n, ".weight") {
			rowNames = append(rowNames, nodeOf[n])
		}
		init.Name = proto.String(rename[n])
	}
	for _, n := range mp.GetGraph().GetNode() {
		for j, in := range n.Input {
			if r, ok := rename[in]; ok {
				n.Input[j] = r
			}
		}
	}
	k := 0
	check(mp, func(string) string { k++; return rowNames[k-1] })
}
