package torchref

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// TestSWA checks stochastic weight averaging against
// torch.optim.swa_utils: the mean of three sets of weights
// (AveragedModel), then train.UpdateBatchNorm against update_bn (momentum
// None) over the stored input in batches of 4, 4 and 2, starting from
// statistics that must not survive (3 and 5).
func TestSWA(t *testing.T) {
	r := load(t, "swa")
	rng := tensor.NewRNG(1)
	bn := nn.NewBatchNorm2d(3)
	model := nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 2, Out: 3, Kernel: 3, Padding: 1, NoBias: true}), // (N, 3, 4, 4)
		bn, nn.ReLU{}, nn.Flatten{},
		nn.NewLinear(rng, 48, 2, true),
	)
	names := strings.Split(r.meta("params"), ",")
	byName := map[string]*tensor.Tensor{}
	for _, p := range nn.Params(model) {
		byName[p.Name] = p.Value.Value
	}
	k := r.metaInt("snapshots")
	for _, n := range names {
		w, ok := byName[n]
		if !ok {
			t.Fatalf("PyTorch parameter %q not in the model", n)
		}
		// The mean of the snapshots in float64, as AveragedModel's
		// running mean computes it.
		mean := make([]float64, len(w.Data()))
		for s := range k {
			for j, v := range r.get(fmt.Sprintf("snap%d.%s", s, n)).Data() {
				mean[j] += float64(v) / float64(k)
			}
		}
		d := w.Data()
		for j := range d {
			d[j] = float32(mean[j])
		}
		r.check("avg."+n, w, tolOptim)
	}
	bn.RunningMean.Fill(3)
	bn.RunningVar.Fill(5)
	x := r.get("x") // (10, 2, 4, 4)
	ds := &data.Dataset{Name: "swa", X: x.Contiguous().Data(), Y: make([]int, 10), C: 2, H: 4, W: 4, NumClasses: 2}
	if got := train.UpdateBatchNorm(model, &data.Loader{Source: ds, BatchSize: r.metaInt("batch")}); got != 3 {
		t.Fatalf("UpdateBatchNorm ran %d batches, want 3", got)
	}
	r.check("avg.1.running_mean", bn.RunningMean, tolOp)
	r.check("avg.1.running_var", bn.RunningVar, tolOp)
}
