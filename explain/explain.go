// Package explain shows what a trained image classifier looks at: Grad-CAM
// heat maps (Selvaraju et al. 2017), vanilla gradient saliency (Simonyan et
// al. 2014), SmoothGrad (Smilkov et al. 2017) and the feature maps of its
// convolution stages, with helpers that render them as PNG overlays and
// grids.
//
// Every method takes a model (any nn.Layer producing logits of shape
// (1, K)) and one input x of shape (1, C, H, W), normalized as the model
// expects; a class of -1 explains the predicted class. Methods run the
// model on tapes of their own ([autograd.Tape]), so other models may train,
// trace or infer at the same time; they need their model to themselves
// while they run (its parameters' gradients are switched off for the
// while). They leave the model in evaluation mode.
//
// Inner layers are named by their nn.Walk path ("8", "layer4.1.conv2",
// "conv2"); see capture.go for which layers can be captured.
//
// # Error handling
//
// Functions return an error for an unknown or uncapturable layer, a class
// out of range, a model that panics on the input, or one whose class score
// has no gradient with respect to the input (or to the Grad-CAM layer).
package explain

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/internal/maybe"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Map is a heat map over the input image, one value per pixel in [0, 1].
type Map struct {
	// H and W are the map's height and width, the input's.
	H, W int
	// Data holds H×W values in row-major order, normalized to [0, 1].
	Data []float32
	// Class is the explained class and Score its logit.
	Class int
	Score float32
	// Layer is the nn.Walk path of the layer used (Grad-CAM only).
	Layer string
}

// CAM is a Grad-CAM result with its intermediate quantities.
type CAM struct {
	Map
	// Weights are the channel weights α_c: the spatial mean of the
	// gradient of the class score with respect to channel c.
	Weights []float32
	// Raw is ReLU(Σ_c α_c A_c) at the layer's resolution RawH×RawW,
	// before upsampling and normalization.
	Raw        []float32
	RawH, RawW int
}

// checkInput validates x as one (1, C, H, W) image.
func checkInput(x *tensor.Tensor) error {
	if s := x.Shape(); len(s) != 4 || s[0] != 1 {
		return fmt.Errorf("explain: input of shape %v; want one image (1, C, H, W)", s)
	}
	return nil
}

// pickClass resolves class (-1: the argmax of logits) and returns it with
// its score.
func pickClass(logits *autograd.Var, class int) (int, float32, error) {
	s := logits.Shape()
	if len(s) != 2 || s[0] != 1 {
		return 0, 0, fmt.Errorf("explain: model output of shape %v; want logits (1, K)", s)
	}
	d := logits.Value.Data()
	if class < 0 {
		class = 0
		for i, v := range d {
			if v > d[class] {
				class = i
			}
		}
	}
	if class >= s[1] {
		return 0, 0, fmt.Errorf("explain: class %d out of range: the model has %d classes", class, s[1])
	}
	return class, d[class], nil
}

// errNoInputGrad is returned when no gradient reaches the input.
var errNoInputGrad = errors.New("explain: the class score does not depend on the input: the model passes no gradient back to it")

// backwardClass runs the backward pass of the class score; it is an error
// if the score has no gradient history (the model passes none).
func backwardClass(logits *autograd.Var, class int) error {
	if !logits.RequiresGrad() {
		return errNoInputGrad
	}
	seed := tensor.New(logits.Shape()...)
	seed.Data()[class] = 1
	logits.BackwardWith(seed)
	return nil
}

// GradCAM computes the Grad-CAM of class (-1: the predicted one) at the
// layer with nn.Walk path layer ("" chooses [DefaultLayer]): with A the
// layer's output (1, C, h, w) and g = ∂score/∂A, the weights are
// α_c = mean_ij g_cij, the map ReLU(Σ_c α_c A_c) is upsampled bilinearly
// (half-pixel centres, PyTorch's align_corners=False) to H×W and scaled to
// [0, 1] by (v − min)/(max − min); a constant map becomes all zeros.
func GradCAM(model nn.Layer, x *tensor.Tensor, layer string, class int) (*CAM, error) {
	if err := checkInput(x); err != nil {
		return nil, err
	}
	if layer == "" {
		var err error
		if layer, err = DefaultLayer(model); err != nil {
			return nil, err
		}
	}
	nn.SetTraining(model, false)
	defer frozen(model)()
	c := &capturer{model: model, paths: []string{layer}, hooks: true}
	logits, err := c.run(&autograd.Tape{}, x)
	if err != nil {
		return nil, err
	}
	class, score, err := pickClass(logits, class)
	if err != nil {
		return nil, err
	}
	cp := c.got[layer]
	as := cp.act.Shape()
	if len(as) != 4 {
		return nil, fmt.Errorf("explain: layer %q outputs shape %v; Grad-CAM needs a feature map (1, C, h, w)", layer, as)
	}
	if err := backwardClass(logits, class); err != nil {
		return nil, err
	}
	if cp.hook.Grad == nil {
		return nil, fmt.Errorf("explain: the class score does not depend on layer %q", layer)
	}
	ch, h, w := as[1], as[2], as[3]
	a, g := cp.act.Value.Data(), cp.hook.Grad.Data()
	weights := make([]float32, ch)
	raw := make([]float64, h*w)
	for k := range ch {
		var s float64
		for _, v := range g[k*h*w : (k+1)*h*w] {
			s += float64(v)
		}
		alpha := s / float64(h*w)
		weights[k] = float32(alpha)
		for i, v := range a[k*h*w : (k+1)*h*w] {
			raw[i] += alpha * float64(v)
		}
	}
	out := &CAM{Weights: weights, Raw: make([]float32, h*w), RawH: h, RawW: w}
	for i, v := range raw {
		out.Raw[i] = float32(max(v, 0))
	}
	H, W := x.Shape()[2], x.Shape()[3]
	for i, v := range raw {
		raw[i] = max(v, 0)
	}
	out.Map = Map{H: H, W: W, Data: normalize(upsample(raw, h, w, H, W)), Class: class, Score: score, Layer: layer}
	return out, nil
}

// upsample resizes the h×w plane p to H×W bilinearly with half-pixel
// centres (PyTorch F.interpolate, mode "bilinear", align_corners=False).
func upsample(p []float64, h, w, H, W int) []float64 {
	out := make([]float64, H*W)
	src := func(d, in, outN int) (int, int, float64) {
		s := (float64(d)+0.5)*float64(in)/float64(outN) - 0.5
		s = max(s, 0)
		i0 := min(int(s), in-1)
		i1 := min(i0+1, in-1)
		return i0, i1, s - float64(i0)
	}
	for y := range H {
		y0, y1, fy := src(y, h, H)
		for x := range W {
			x0, x1, fx := src(x, w, W)
			top := p[y0*w+x0]*(1-fx) + p[y0*w+x1]*fx
			bot := p[y1*w+x0]*(1-fx) + p[y1*w+x1]*fx
			out[y*W+x] = top*(1-fy) + bot*fy
		}
	}
	return out
}

// normalize scales p to [0, 1] by (v − min)/(max − min), all zeros when
// p is constant.
func normalize(p []float64) []float32 {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range p {
		lo, hi = min(lo, v), max(hi, v)
	}
	out := make([]float32, len(p))
	if !(hi > lo) {
		return out
	}
	for i, v := range p {
		out[i] = float32((v - lo) / (hi - lo))
	}
	return out
}

// inputGrad returns |∂score/∂x| maxed over channels (H×W) for class
// (-1: predicted), with the class and score.
func inputGrad(model nn.Layer, x *tensor.Tensor, class int) ([]float64, int, float32, error) {
	in := autograd.Param(x.Clone())
	logits, err := maybe.Value(func() *autograd.Var { return model.Forward(in) })
	if err != nil {
		return nil, 0, 0, fmt.Errorf("explain: running the model: %w", err)
	}
	class, score, err := pickClass(logits, class)
	if err != nil {
		return nil, 0, 0, err
	}
	if err := backwardClass(logits, class); err != nil {
		return nil, 0, 0, err
	}
	if in.Grad == nil {
		return nil, 0, 0, errNoInputGrad
	}
	s := x.Shape()
	c, h, w := s[1], s[2], s[3]
	out := make([]float64, h*w)
	g := in.Grad.Data()
	for k := range c {
		for i, v := range g[k*h*w : (k+1)*h*w] {
			out[i] = max(out[i], math.Abs(float64(v)))
		}
	}
	return out, class, score, nil
}

// Saliency computes vanilla gradient saliency: |∂score/∂x| maxed over
// channels, scaled to [0, 1] by its maximum.
func Saliency(model nn.Layer, x *tensor.Tensor, class int) (*Map, error) {
	if err := checkInput(x); err != nil {
		return nil, err
	}
	nn.SetTraining(model, false)
	defer frozen(model)()
	g, class, score, err := inputGrad(model, x, class)
	if err != nil {
		return nil, err
	}
	s := x.Shape()
	return &Map{H: s[2], W: s[3], Data: scaleMax(g), Class: class, Score: score}, nil
}

// SmoothGrad averages the saliency of n copies of x with Gaussian noise of
// standard deviation sigma·(max(x) − min(x)) added (Smilkov et al. use
// sigma = 0.15), then scales to [0, 1] by the maximum. The class (-1:
// predicted) is chosen on the clean input; the noise comes from seed.
func SmoothGrad(model nn.Layer, x *tensor.Tensor, class, n int, sigma float64, seed uint64) (*Map, error) {
	if err := checkInput(x); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("explain: SmoothGrad needs at least one sample, got %d", n)
	}
	nn.SetTraining(model, false)
	defer frozen(model)()
	// The class and score of the clean input.
	_, class, score, err := inputGrad(model, x, class)
	if err != nil {
		return nil, err
	}
	d := x.Data()
	lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range d {
		lo, hi = min(lo, v), max(hi, v)
	}
	std := sigma * float64(hi-lo)
	rng := rand.New(rand.NewPCG(seed, 0x5300f6a1))
	s := x.Shape()
	sum := make([]float64, s[2]*s[3])
	noisy := x.Clone()
	for range n {
		nd := noisy.Data()
		for i, v := range d {
			nd[i] = v + float32(rng.NormFloat64()*std)
		}
		g, _, _, err := inputGrad(model, noisy, class)
		if err != nil {
			return nil, err
		}
		for i, v := range g {
			sum[i] += v / float64(n)
		}
	}
	return &Map{H: s[2], W: s[3], Data: scaleMax(sum), Class: class, Score: score}, nil
}

// scaleMax divides p by its maximum (all zeros stay zeros).
func scaleMax(p []float64) []float32 {
	hi := 0.0
	for _, v := range p {
		hi = max(hi, v)
	}
	out := make([]float32, len(p))
	if hi > 0 {
		for i, v := range p {
			out[i] = float32(v / hi)
		}
	}
	return out
}

// pointwise reports whether l keeps its input's shape elementwise or per
// channel (batch norm, activations, dropout): a conv block's tail.
func pointwise(l nn.Layer) bool {
	switch l.(type) {
	case *nn.BatchNorm, nn.ReLU, *nn.ReLU, nn.ReLU6, *nn.ReLU6, nn.SiLU, *nn.SiLU, nn.GELU, *nn.GELU,
		nn.Tanh, *nn.Tanh, nn.Sigmoid, *nn.Sigmoid, *nn.LeakyReLU, nn.LeakyReLU, *nn.ELU, nn.ELU, *nn.Dropout:
		return true
	}
	return false
}

// convPaths returns the nn.Walk paths of the Conv2d layers of model, in
// walk order, each extended over the batch norm and activation layers that
// follow it in the same Sequential (the conv block's output).
func convPaths(model nn.Layer) []string {
	var out []string
	nn.Walk(model, func(path string, l nn.Layer) {
		if _, ok := l.(*nn.Conv2d); ok {
			out = append(out, path)
		}
	})
	// Extend through the pointwise siblings that follow in a Sequential.
	nn.Walk(model, func(path string, l nn.Layer) {
		seq, ok := l.(*nn.Sequential)
		if !ok {
			return
		}
		for i, child := range seq.Layers {
			if _, ok := child.(*nn.Conv2d); !ok {
				continue
			}
			j := i
			for j+1 < len(seq.Layers) && pointwise(seq.Layers[j+1]) {
				j++
			}
			from, to := joinPath(path, fmt.Sprint(i)), joinPath(path, fmt.Sprint(j))
			for k, p := range out {
				if p == from {
					out[k] = to
				}
			}
		}
	})
	return out
}

// joinPath joins nn.Walk path elements.
func joinPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// DefaultLayer returns the Grad-CAM layer used when none is named: the
// last Conv2d layer in nn.Walk order or, when batch norm and activation
// layers follow it in the same Sequential, the last of those (the output
// of the last conv block, as Grad-CAM's authors use the last convolutional
// feature map after its ReLU).
func DefaultLayer(model nn.Layer) (string, error) {
	ps := convPaths(model)
	if len(ps) == 0 {
		return "", errors.New("explain: the model has no Conv2d layer; name one with a layer path")
	}
	return ps[len(ps)-1], nil
}

// FeatureMap is the output of one stage of the model on an input.
type FeatureMap struct {
	// Layer is the stage's nn.Walk path.
	Layer string
	// C, H and W are the output's channels, height and width.
	C, H, W int
	// Data holds C×H×W values, channels first.
	Data []float32
}

// Stages returns the layers whose outputs FeatureMaps shows: the output of
// every conv block (see [DefaultLayer]) in walk order, at most max of them
// (the last max, if there are more; max < 1 means all).
func Stages(model nn.Layer, max int) []string {
	ps := convPaths(model)
	if max > 0 && len(ps) > max {
		ps = ps[len(ps)-max:]
	}
	return ps
}

// FeatureMaps runs model on x and returns the outputs of the layers at
// paths (nil: [Stages] with at most 8), without gradients.
func FeatureMaps(model nn.Layer, x *tensor.Tensor, paths []string) ([]FeatureMap, error) {
	if s := x.Shape(); len(s) != 4 || s[0] != 1 {
		return nil, fmt.Errorf("explain: input of shape %v; want one image (1, C, H, W)", s)
	}
	if paths == nil {
		paths = Stages(model, 8)
	}
	nn.SetTraining(model, false)
	c := &capturer{model: model, paths: paths}
	if _, err := c.run(&autograd.Tape{NoGrad: true}, x); err != nil {
		return nil, err
	}
	var out []FeatureMap
	for _, p := range paths {
		v := c.got[p].act
		s := v.Shape()
		if len(s) != 4 {
			return nil, fmt.Errorf("explain: layer %q outputs shape %v, not a feature map (1, C, h, w)", p, s)
		}
		out = append(out, FeatureMap{Layer: p, C: s[1], H: s[2], W: s[3], Data: v.Value.Clone().Data()})
	}
	return out, nil
}
