package classify

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/engine"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Options configures a [Classifier]. The zero value of each field picks the
// default named in its comment.
type Options struct {
	// Resize fits images of another size to the model's input:
	// data.ResizeCrop (default: keep the aspect ratio, cut the centre, as
	// image folders are trained) or data.ResizeStretch.
	Resize string
	// Invert says when images are inverted (default [InvertAuto]).
	Invert Invert
	// MaxBatch is the most examples one engine plan or forward pass runs
	// (default 64); larger batches run in chunks of this size.
	MaxBatch int
	// Plans bounds the engine plans per batch size, and so how many calls
	// run that batch size at once; more wait for a free plan (default
	// GOMAXPROCS).
	Plans int
	// Eager runs the model's own forward pass instead of compiled engine
	// plans. Without it, a model the engine cannot compile runs eagerly
	// too ([Classifier.EngineError] says why).
	Eager bool
}

// withDefaults returns o with its zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 64
	}
	if o.Plans <= 0 {
		o.Plans = runtime.GOMAXPROCS(0)
	}
	return o
}

// Prediction is the result of classifying one image; its JSON keys are
// those of fovea predict --json and the server's /v1/predict.
type Prediction struct {
	// Inverted reports that the image was inverted before classification
	// (see [Invert]).
	Inverted bool `json:"inverted,omitempty"`
	// Top holds the k most probable classes, most probable first, with
	// the probabilities of the model's softmax at its calibrated
	// temperature ([Rank]).
	Top []metrics.Ranked `json:"top"`
	// A binary model's decision threshold and positive class would be
	// applied here; checkpoints record none yet (models.Meta has no such
	// field), so Top is ranked by probability alone.
}

// ErrClosed is returned by the methods of a closed [Classifier].
var ErrClosed = errors.New("classify: classifier is closed")

// Classifier classifies images with one model. It is safe for concurrent
// use by any number of goroutines; see the package documentation for how
// it runs the model.
type Classifier struct {
	model nn.Layer
	meta  models.Meta
	prep  Preprocessing
	opt   Options

	// compiled is what the engine compiles: the model, or a fixed-batch
	// ONNX graph itself, which takes exactly fixed examples (0: any).
	compiled nn.Layer
	fixed    int

	mu     sync.Mutex
	plans  map[int]chan *engine.Plan // by batch size; see plansFor
	closed bool

	// engineErr is why the engine does not run the model, nil while it
	// does.
	engineErr atomic.Pointer[error]
}

// Open loads the model at path ([Load]: a Fovea checkpoint, or an ONNX
// file when its name ends in .onnx) and returns its classifier.
func Open(path string, opt Options) (*Classifier, error) {
	model, meta, err := Load(path)
	if err != nil {
		return nil, err
	}
	c, err := New(model, meta, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// New returns the classifier of a model already in memory, with the
// metadata [models.Load] returns for it (input shape, classes,
// normalization, temperature). It puts the model in evaluation mode; from
// then on nothing may train it or change its weights.
func New(model nn.Layer, meta models.Meta, opt Options) (*Classifier, error) {
	if model == nil {
		return nil, errors.New("classify: no model")
	}
	opt = opt.withDefaults()
	prep, err := NewPreprocessing(meta, opt)
	if err != nil {
		return nil, err
	}
	nn.SetTraining(model, false)
	c := &Classifier{model: model, meta: meta, prep: prep, opt: opt, compiled: model, plans: map[int]chan *engine.Plan{}}
	if fb, ok := model.(*fixedBatch); ok {
		c.compiled, c.fixed = fb.m, fb.n
	}
	if opt.Eager {
		err := errors.New("classify: Options.Eager is set")
		c.engineErr.Store(&err)
	}
	return c, nil
}

// Meta returns the model's metadata: input shape, classes, normalization,
// temperature. The caller must not modify its slices.
func (c *Classifier) Meta() models.Meta { return c.meta }

// Model returns the model, in evaluation mode, for what needs the layers
// themselves (explanations); it may be run concurrently with the
// classifier but not trained.
func (c *Classifier) Model() nn.Layer { return c.model }

// Preprocessing returns the classifier's input preparation.
func (c *Classifier) Preprocessing() Preprocessing { return c.prep }

// EngineError returns why the model runs eagerly rather than on compiled
// engine plans, or nil while it runs on the engine.
func (c *Classifier) EngineError() error {
	if p := c.engineErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Preprocess returns img as the model's input, a (1, C, H, W) tensor,
// and whether it was inverted (see [Preprocessing.Image]).
func (c *Classifier) Preprocess(img image.Image) (x *tensor.Tensor, inverted bool, err error) {
	x = tensor.New(1, c.prep.C, c.prep.H, c.prep.W)
	inverted, err = c.prep.Image(img, x.Data())
	if err != nil {
		return nil, false, err
	}
	return x, inverted, nil
}

// Classify returns the k most probable classes of img.
func (c *Classifier) Classify(ctx context.Context, img image.Image, k int) (Prediction, error) {
	ps, err := c.ClassifyBatch(ctx, []image.Image{img}, k)
	if err != nil {
		return Prediction{}, err
	}
	return ps[0], nil
}

// ClassifyBatch returns the k most probable classes of each image, run
// together in batches of at most Options.MaxBatch. An image's
// probabilities may differ from those [Classifier.Classify] gives it alone
// in the last bits (see the package documentation).
func (c *Classifier) ClassifyBatch(ctx context.Context, imgs []image.Image, k int) ([]Prediction, error) {
	if err := ctx.Err(); err != nil || len(imgs) == 0 {
		return nil, err
	}
	size := c.prep.Size()
	x := tensor.New(len(imgs), c.prep.C, c.prep.H, c.prep.W)
	out := make([]Prediction, len(imgs))
	for i, img := range imgs {
		inverted, err := c.prep.Image(img, x.Data()[i*size:(i+1)*size])
		if err != nil {
			return nil, err
		}
		out[i].Inverted = inverted
	}
	tops, err := c.Top(ctx, x, k)
	if err != nil {
		return nil, err
	}
	for i, top := range tops {
		out[i].Top = top
	}
	return out, nil
}

// Top returns the k most probable classes of each of the N preprocessed
// inputs x (N, C, H, W) (see [Rank]).
func (c *Classifier) Top(ctx context.Context, x *tensor.Tensor, k int) ([][]metrics.Ranked, error) {
	if k < 1 {
		return nil, fmt.Errorf("classify: top %d classes: want at least 1", k)
	}
	logits, err := c.Logits(ctx, x)
	if err != nil {
		return nil, err
	}
	n, classes := logits.Dim(0), logits.Dim(1)
	out := make([][]metrics.Ranked, n)
	for i := range n {
		out[i] = Rank(c.meta, logits.Data()[i*classes:(i+1)*classes], k)
	}
	return out, nil
}

// Logits runs the model on N preprocessed inputs x (N, C, H, W), in
// chunks of at most Options.MaxBatch, and returns its (N, K) outputs. It
// returns ctx's error if ctx ends before a chunk starts; a chunk that has
// started runs to its end.
func (c *Classifier) Logits(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	s := x.Shape()
	if len(s) != 4 || s[0] < 1 || s[1] != c.prep.C || s[2] != c.prep.H || s[3] != c.prep.W {
		return nil, fmt.Errorf("classify: input of shape %v; the model takes (N, %d, %d, %d) with N ≥ 1", s, c.prep.C, c.prep.H, c.prep.W)
	}
	chunk := c.opt.MaxBatch
	if c.fixed > 0 {
		chunk = c.fixed
	}
	n := s[0]
	var outs []*tensor.Tensor
	for at := 0; at < n; at += chunk {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.isClosed() {
			return nil, ErrClosed
		}
		size := min(chunk, n-at)
		y, err := c.forward(ctx, x.Narrow(0, at, size).Contiguous())
		if err != nil {
			return nil, err
		}
		if ys := y.Shape(); len(ys) != 2 || ys[0] != size || len(outs) > 0 && ys[1] != outs[0].Dim(1) {
			return nil, fmt.Errorf("classify: the model returned shape %v for %d inputs; want (N, K) logits", ys, size)
		}
		outs = append(outs, y)
	}
	if len(outs) == 1 {
		return outs[0], nil
	}
	return tensor.Concat(0, outs...), nil
}

// forward runs one chunk x (n, C, H, W) of at most the chunk size: on an
// engine plan for its batch size unless the engine cannot run the model,
// else eagerly. The result is the caller's.
func (c *Classifier) forward(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	if c.EngineError() == nil {
		y, err := c.runPlan(ctx, x)
		if y != nil || err != nil {
			return y, err
		}
	}
	return c.runEager(x)
}

// runEager runs the model's forward pass on x, turning an expected panic
// (a shape the model cannot take, an ONNX graph that cannot run on it)
// into an error.
func (c *Classifier) runEager(x *tensor.Tensor) (*tensor.Tensor, error) {
	y, err := maybe.Value(func() *autograd.Var { return c.model.Forward(autograd.EvalConst(x)) })
	if err != nil {
		return nil, fmt.Errorf("classify: the model failed: %w", err)
	}
	return y.Value, nil
}

// runPlan runs x (n, C, H, W) on a plan for batch size n (a fixed-batch
// graph's size, x padded with zero rows) taken from its pool, and returns
// a copy of the output. It returns nil and no error when the engine
// cannot run the model, having recorded why: the caller runs it eagerly.
func (c *Classifier) runPlan(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	n := x.Dim(0)
	in := x
	if c.fixed > n {
		in = tensor.Concat(0, x, tensor.New(append([]int{c.fixed - n}, x.Shape()[1:]...)...))
	}
	pool := c.plansFor(in.Dim(0))
	var p *engine.Plan
	select {
	case p = <-pool:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { pool <- p }() // p as it is on return
	y, err := runPlanSafely(&p, c.compiled, in)
	if err != nil {
		c.engineErr.CompareAndSwap(nil, &err)
		p = nil
		return nil, nil
	}
	return y.Narrow(0, 0, n).Clone(), nil
}

// runPlanSafely runs in on *p, compiling *p for in's shape first if it is
// nil, and turns a panic of either into an error: any panic, since the
// caller then runs the model eagerly, which gives the same result where
// the engine has a limitation and reports the model's own errors.
func runPlanSafely(p **engine.Plan, model nn.Layer, in *tensor.Tensor) (y *tensor.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			y, err = nil, fmt.Errorf("engine: %v", r)
		}
	}()
	if *p == nil {
		if *p, err = engine.Compile(model, in.Shape()...); err != nil {
			return nil, err
		}
	}
	return (*p).Run(in), nil
}

// plansFor returns the plan pool of batch size n: a channel holding
// Options.Plans slots, each a compiled plan or nil (not compiled yet). A
// caller takes a slot, waiting while all are in use, compiles a plan into
// it if it is empty, runs it, and puts it back: no two calls share a plan,
// at most Options.Plans exist per size, and compiled plans stay for the
// next call (a sync.Pool would drop them at garbage collections, and a
// compile costs many runs).
func (c *Classifier) plansFor(n int) chan *engine.Plan {
	c.mu.Lock()
	defer c.mu.Unlock()
	pool, ok := c.plans[n]
	if !ok {
		pool = make(chan *engine.Plan, c.opt.Plans)
		for range c.opt.Plans {
			pool <- nil
		}
		c.plans[n] = pool
	}
	return pool
}

// isClosed reports whether Close has been called.
func (c *Classifier) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close releases the compiled plans. A chunk already running finishes;
// later chunks and calls return [ErrClosed]. It always returns nil.
func (c *Classifier) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.plans = map[int]chan *engine.Plan{}
	return nil
}

// Temperature returns the softmax temperature meta records (fitted by
// fovea calibrate), or 1 when it records none.
func Temperature(meta models.Meta) float64 {
	if meta.Temperature > 0 {
		return meta.Temperature
	}
	return 1
}

// Rank returns the k most probable classes of one row of logits of the
// model meta describes: softmax(logits / T) at its [Temperature], most
// probable first (ties in class order), named by meta.Classes.
func Rank(meta models.Meta, logits []float32, k int) []metrics.Ranked {
	return metrics.TopClasses(metrics.Softmax(logits, Temperature(meta)), meta.Classes, k)
}
