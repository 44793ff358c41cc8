package classify

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/onnx"
	"github.com/fovea-ml/fovea/tensor"
)

// mnistModel returns a seeded, untrained mnist-cnn and its metadata
// (MNIST normalization, classes "0" to "9"). Its probabilities are near
// uniform but differ from image to image in every bit that matters here.
func mnistModel(t testing.TB) (nn.Layer, models.Meta) {
	t.Helper()
	opt := models.Options{NumClasses: 10, Seed: 1}
	m, err := models.New(models.DefaultMNIST, opt)
	if err != nil {
		t.Fatal(err)
	}
	meta := models.Meta{Model: models.DefaultMNIST, Options: opt, InputShape: [3]int{1, 28, 28},
		Mean: []float32{data.MNISTMean}, Std: []float32{data.MNISTStd}}
	for i := range 10 {
		meta.Classes = append(meta.Classes, fmt.Sprint(i))
	}
	return m, meta
}

// digits returns n MNIST test digits as images: light on dark, every third
// dark on light, every fifth as a larger RGB image that is resized.
func digits(t testing.TB, n int) []image.Image {
	t.Helper()
	_, test, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]image.Image, n)
	for i := range n {
		g := image.NewGray(image.Rect(0, 0, 28, 28))
		for k, v := range test.Image(i) {
			p := uint8(math.Round(float64(v) * 255))
			if i%3 == 2 {
				p = 255 - p
			}
			g.Pix[k] = p
		}
		out[i] = g
		if i%5 == 4 {
			rgb := image.NewRGBA(image.Rect(0, 0, 40, 36))
			for y := range 36 {
				for x := range 40 {
					v := g.GrayAt(x*28/40, y*28/36).Y
					rgb.SetRGBA(x, y, color.RGBA{v, v / 2, 255 - v, 255})
				}
			}
			out[i] = rgb
		}
	}
	return out
}

func newClassifier(t testing.TB, opt Options) *Classifier {
	t.Helper()
	m, meta := mnistModel(t)
	c, err := New(m, meta, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func maxDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// TestPreprocessing checks the input an image becomes: converted and
// resized as data.ImageInto does, inverted as the mode says, normalized.
func TestPreprocessing(t *testing.T) {
	_, meta := mnistModel(t)
	imgs := digits(t, 5)
	for _, c := range []struct {
		img    image.Image
		invert Invert
		want   bool
	}{
		{imgs[0], "", false}, {imgs[0], InvertAuto, false}, {imgs[0], InvertAlways, true},
		{imgs[2], "", true}, {imgs[2], InvertNever, false}, {imgs[4], InvertAuto, false},
	} {
		p, err := NewPreprocessing(meta, Options{Invert: c.invert})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, 28*28)
		inverted, err := p.Image(c.img, got)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, 28*28)
		data.ImageInto(c.img, 1, 28, 28, data.ResizeCrop, want)
		for i, v := range want {
			if c.want {
				v = 1 - v
			}
			want[i] = (v - data.MNISTMean) / data.MNISTStd
		}
		if inverted != c.want || maxDiff(got, want) != 0 {
			t.Errorf("invert %q on a %v image: inverted %v (want %v), values differ by %g", c.invert, c.img.Bounds(), inverted, c.want, maxDiff(got, want))
		}
	}
	// An RGB model's image is never inverted automatically.
	meta.InputShape, meta.Mean, meta.Std = [3]int{3, 20, 20}, []float32{0.5, 0.4, 0.3}, []float32{0.2, 0.25, 0.3}
	p, err := NewPreprocessing(meta, Options{Resize: data.ResizeStretch})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 3*20*20)
	if inverted, err := p.Image(imgs[2], got); err != nil || inverted {
		t.Errorf("RGB model, dark digit on light: inverted %v, %v", inverted, err)
	}
	want := make([]float32, 3*20*20)
	data.ImageInto(imgs[2], 3, 20, 20, data.ResizeStretch, want)
	for ch := range 3 {
		for i := range 400 {
			want[ch*400+i] = (want[ch*400+i] - meta.Mean[ch]) / meta.Std[ch]
		}
	}
	if d := maxDiff(got, want); d != 0 {
		t.Errorf("RGB stretch: values differ by %g", d)
	}
}

// TestNewPreprocessingErrors checks that bad metadata and modes are
// errors naming what is wrong.
func TestNewPreprocessingErrors(t *testing.T) {
	_, good := mnistModel(t)
	for _, c := range []struct {
		edit func(*models.Meta, *Options)
		want string
	}{
		{func(m *models.Meta, _ *Options) { m.InputShape = [3]int{} }, "no input shape"},
		{func(m *models.Meta, _ *Options) { m.Std = nil }, "1 means and 0 stds"},
		{func(m *models.Meta, _ *Options) { m.Mean, m.Std = []float32{0, 0}, []float32{1, 1} }, "2 means and 2 stds for 1 channels"},
		{func(m *models.Meta, _ *Options) { m.Std = []float32{0} }, "std"},
		{func(m *models.Meta, _ *Options) { m.Mean = []float32{float32(math.NaN())} }, "finite"},
		{func(_ *models.Meta, o *Options) { o.Resize = "squash" }, `resize mode "squash"`},
		{func(_ *models.Meta, o *Options) { o.Invert = "maybe" }, `invert mode "maybe"`},
	} {
		meta, opt := good, Options{}
		meta.Mean, meta.Std = slices.Clone(good.Mean), slices.Clone(good.Std)
		c.edit(&meta, &opt)
		if _, err := NewPreprocessing(meta, opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPreprocessing: %v, want an error with %q", err, c.want)
		}
	}
	// A model of 2 channels runs on tensors but takes no images.
	m, meta := mnistModel(t)
	meta.InputShape, meta.Mean, meta.Std = [3]int{2, 28, 28}, nil, nil
	c, err := New(m, meta, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Classify(context.Background(), digits(t, 1)[0], 1); err == nil || !strings.Contains(err.Error(), "2-channel") {
		t.Errorf("Classify on a 2-channel model: %v", err)
	}
}

// TestLogits checks the engine's logits against the model's eager forward
// pass, and that Options.Eager gives the eager ones exactly, in chunks of
// MaxBatch.
func TestLogits(t *testing.T) {
	m, meta := mnistModel(t)
	_, test, err := data.MNIST()
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromSlice(slices.Clone(test.X[:7*784]), 7, 1, 28, 28)
	nn.SetTraining(m, false)
	want := m.Forward(autograd.EvalConst(x)).Value.Clone()
	for _, opt := range []Options{{}, {MaxBatch: 3}, {Eager: true}, {Eager: true, MaxBatch: 2}} {
		c, err := New(m, meta, opt)
		if err != nil {
			t.Fatal(err)
		}
		y, err := c.Logits(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		d := maxDiff(y.Data(), want.Data())
		// Eager on the whole batch is the same computation, to the bit;
		// split into smaller batches, a layer may pick another algorithm
		// for the smaller shape (the direct convolutions need an image
		// per thread), which sums in another order.
		if !slices.Equal(y.Shape(), []int{7, 10}) || opt.Eager && opt.MaxBatch == 0 && d != 0 || opt.Eager && d > 1e-6 || d > 1e-4 {
			t.Errorf("%+v: logits of shape %v differ from the eager ones by %g", opt, y.Shape(), d)
		}
		if (c.EngineError() != nil) != opt.Eager {
			t.Errorf("%+v: EngineError %v", opt, c.EngineError())
		}
	}
	c, _ := New(m, meta, Options{})
	for _, bad := range []*tensor.Tensor{tensor.New(2, 1, 28, 27), tensor.New(0, 1, 28, 28), tensor.New(1, 784)} {
		if _, err := c.Logits(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "(N, 1, 28, 28)") {
			t.Errorf("Logits of shape %v: %v", bad.Shape(), err)
		}
	}
	if _, err := c.Top(context.Background(), x, 0); err == nil {
		t.Error("Top with k = 0: no error")
	}
}

// addConst adds a constant (not a parameter) to its input: the engine
// cannot compile it.
type addConst struct{ c *tensor.Tensor }

func (a addConst) Forward(x *autograd.Var) *autograd.Var {
	return autograd.Add(x, autograd.Const(a.c))
}

// TestEngineFallback checks that a model the engine cannot compile runs
// eagerly, saying why.
func TestEngineFallback(t *testing.T) {
	r := tensor.NewRNG(3)
	m := nn.NewSequential(nn.Flatten{}, nn.NewLinear(r, 784, 10, true), addConst{tensor.Full(0.5, 10)})
	_, meta := mnistModel(t)
	c, err := New(m, meta, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 1, 28, 28)
	y, err := c.Logits(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EngineError(); err == nil || !strings.Contains(err.Error(), "constant") {
		t.Errorf("EngineError: %v, want the engine's reason", err)
	}
	if want := m.Forward(autograd.EvalConst(x)).Value; maxDiff(y.Data(), want.Data()) != 0 {
		t.Error("eager fallback differs from the model's forward pass")
	}
}

// TestConcurrentClassify classifies the same images from 10 goroutines,
// one by one and in batches of several sizes, with fewer plans than
// goroutines, and checks every result against a single goroutine's: no
// plan is shared, and results depend only on the input and its batch
// size. CI runs it under the race detector.
func TestConcurrentClassify(t *testing.T) {
	const goroutines, plans = 10, 3
	c := newClassifier(t, Options{Plans: plans})
	imgs := digits(t, 12)
	ctx := context.Background()
	batchSizes := []int{1, 3, 4}
	// want[b][i]: image i classified in batches of b.
	want := map[int][]Prediction{}
	for _, b := range batchSizes {
		for at := 0; at < len(imgs); at += b {
			ps, err := c.ClassifyBatch(ctx, imgs[at:min(at+b, len(imgs))], 3)
			if err != nil {
				t.Fatal(err)
			}
			want[b] = append(want[b], ps...)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for rep := range 3 {
				b := batchSizes[(g+rep)%len(batchSizes)]
				for at := 0; at < len(imgs); at += b {
					end := min(at+b, len(imgs))
					var got []Prediction
					var err error
					if b == 1 {
						var p Prediction
						p, err = c.Classify(ctx, imgs[at], 3)
						got = []Prediction{p}
					} else {
						got, err = c.ClassifyBatch(ctx, imgs[at:end], 3)
					}
					if err != nil {
						errs <- err
						return
					}
					for i, p := range got {
						if w := want[b][at+i]; !samePrediction(p, w) {
							errs <- fmt.Errorf("goroutine %d: image %d in a batch of %d: %+v, alone %+v", g, at+i, b, p, w)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The pools hold at most Plans plans per batch size, and the
	// goroutines compiled more than one of some.
	compiled := 0
	for n, pool := range c.plans {
		if len(pool) != plans {
			t.Errorf("batch size %d: %d plans returned to the pool, want %d", n, len(pool), plans)
		}
		for range len(pool) {
			p := <-pool
			if p != nil {
				compiled++
			}
			pool <- p
		}
	}
	if compiled <= len(c.plans) {
		t.Errorf("%d plans for %d batch sizes: the goroutines never ran one size at once", compiled, len(c.plans))
	}
	if want[1][2].Inverted != true || want[1][0].Inverted != false {
		t.Errorf("inversion: image 0 %v, image 2 %v", want[1][0].Inverted, want[1][2].Inverted)
	}
}

func samePrediction(a, b Prediction) bool {
	return a.Inverted == b.Inverted && slices.Equal(a.Top, b.Top)
}

// TestBatchRows checks what the package documentation promises: an
// input's result in a batch depends on the batch's size, not on the other
// inputs in it.
func TestBatchRows(t *testing.T) {
	c := newClassifier(t, Options{})
	imgs := digits(t, 5)
	ctx := context.Background()
	a, err := c.ClassifyBatch(ctx, imgs[:3], 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.ClassifyBatch(ctx, []image.Image{imgs[0], imgs[3], imgs[4]}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !samePrediction(a[0], b[0]) {
		t.Errorf("image 0 with images 1 and 2: %+v; with 3 and 4: %+v", a[0], b[0])
	}
}

// blockingModel is a model whose forward pass calls hook first.
type blockingModel struct {
	nn.Layer
	hook func()
}

func (b blockingModel) Forward(x *autograd.Var) *autograd.Var {
	b.hook()
	return b.Layer.Forward(x)
}

// TestCancel checks that a context ended before a call, while it waits
// for a plan, or between its chunks stops it with the context's error.
func TestCancel(t *testing.T) {
	c := newClassifier(t, Options{Plans: 1})
	img := digits(t, 1)[0]
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Classify(ctx, img, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	// The one plan of batch size 1 is taken: the call waits until its
	// deadline.
	pool := c.plansFor(1)
	p := <-pool
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Classify(ctx, img, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for a plan: %v", err)
	}
	pool <- p
	if _, err := c.Classify(context.Background(), img, 1); err != nil {
		t.Errorf("after the plan came back: %v", err)
	}
	// Cancelled during the first of three chunks: the first ends, the
	// others never start.
	m, meta := mnistModel(t)
	ctx, cancel = context.WithCancel(context.Background())
	calls := 0
	bm := blockingModel{Layer: m, hook: func() { calls++; cancel() }}
	c2, err := New(bm, meta, Options{Eager: true, MaxBatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.ClassifyBatch(ctx, digits(t, 6), 1); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("cancelled in the first chunk: %v after %d forward passes, want context.Canceled after 1", err, calls)
	}
	// A closed classifier refuses work.
	c.Close()
	if _, err := c.Classify(context.Background(), img, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Classify after Close: %v", err)
	}
}

// TestOpen opens a checkpoint and an ONNX export of it with a fixed batch
// size of 4, and checks that both classify like the model in memory; the
// ONNX graph runs on the engine in chunks of 4, the last padded.
func TestOpen(t *testing.T) {
	m, meta := mnistModel(t)
	dir := t.TempDir()
	ckpt := filepath.Join(dir, "m.safetensors")
	if err := models.Save(ckpt, m, meta); err != nil {
		t.Fatal(err)
	}
	md, err := meta.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	mp, err := onnx.Export(m, []int{4, 1, 28, 28}, onnx.ExportOptions{Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	onnxPath := filepath.Join(dir, "m.onnx")
	if err := onnx.WriteFile(onnxPath, mp); err != nil {
		t.Fatal(err)
	}
	ref, err := New(m, meta, Options{})
	if err != nil {
		t.Fatal(err)
	}
	imgs := digits(t, 6)
	ctx := context.Background()
	want, err := ref.ClassifyBatch(ctx, imgs, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{ckpt, onnxPath} {
		c, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Meta(); !slices.Equal(got.Classes, meta.Classes) || got.InputShape != meta.InputShape || !slices.Equal(got.Mean, meta.Mean) {
			t.Errorf("%s: metadata %+v", path, got)
		}
		got, err := c.ClassifyBatch(ctx, imgs, 3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i].Inverted != want[i].Inverted || got[i].Top[0].Index != want[i].Top[0].Index ||
				math.Abs(got[i].Top[0].Probability-want[i].Top[0].Probability) > 1e-5 {
				t.Errorf("%s: image %d: %+v, in memory %+v", path, i, got[i], want[i])
			}
		}
		if err := c.EngineError(); err != nil {
			t.Errorf("%s: runs eagerly: %v", path, err)
		}
		if IsONNX(path) && (c.fixed != 4 || len(c.plans) != 1 || c.plans[4] == nil) {
			t.Errorf("%s: fixed batch %d, plans for sizes %v; want only 4", path, c.fixed, slices.Collect(maps.Keys(c.plans)))
		}
	}
	missing := filepath.Join(dir, "nope.safetensors")
	if _, err := Open(missing, Options{}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Open of a missing file: %v", err)
	}
	if _, err := Open(ckpt, Options{Invert: "sometimes"}); err == nil || !strings.Contains(err.Error(), ckpt) || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("Open with a bad invert mode: %v", err)
	}
}
