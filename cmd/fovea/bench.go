package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/engine"
	"github.com/fovea-ml/fovea/internal/kernels"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/train"
)

// benchResult is the RESULT line of the peer-benchmark contract
// (shared/bench/peers/README.md, "The fovea bench contract").
type benchResult struct {
	Peer       string  `json:"peer"`
	Workload   string  `json:"workload"`
	Metric     string  `json:"metric"`
	Unit       string  `json:"unit"`
	Value      float64 `json:"value,omitempty"`
	IterMedian float64 `json:"iter_s_median,omitempty"`
	IterMin    float64 `json:"iter_s_min,omitempty"`
	IterMax    float64 `json:"iter_s_max,omitempty"`
	Windows    int     `json:"windows,omitempty"`
	ItersPerW  int     `json:"iters_per_window,omitempty"`
	WarmupS    float64 `json:"warmup_s,omitempty"`
	Batch      int     `json:"batch"`
	Threads    int     `json:"threads"`
	Status     string  `json:"status"`
	Note       string  `json:"note,omitempty"`
}

// workload is one benchmark of the peer harness.
type workload struct {
	metric, unit string
	batch        int
	warmup       int
	// setup builds the model and fixed input outside all timing and returns
	// one iteration; nil means Fovea cannot run it yet (note says why).
	setup func(batch int) func()
	note  string
}

// engineNote describes the inference path of W3 and W4.
const engineNote = "engine: traced graph, BN folded into conv, bias/residual-add/ReLU fused into the GEMM epilogue, buffers planned once"

var workloads = map[string]workload{
	"W1":    {metric: "train", unit: "img/s", batch: 64, warmup: 5, setup: lenetTrainStep, note: "LeNet-5 training step, SGD momentum 0.9"},
	"W2":    {metric: "train", unit: "img/s", batch: 128, warmup: 2, setup: resnet20TrainStep, note: "ResNet-20 (option-B shortcuts) training step, BN batch statistics, SGD momentum 0.9"},
	"W3b1":  {metric: "latency", unit: "ms", batch: 1, warmup: 3, setup: resnet18Infer, note: engineNote},
	"W3b16": {metric: "infer", unit: "img/s", batch: 16, warmup: 2, setup: resnet18Infer, note: engineNote},
	"W4":    {metric: "latency", unit: "us", batch: 1, warmup: 50, setup: lenetInfer, note: engineNote},
}

func newBenchCmd() *cobra.Command {
	var name string
	var budget float64
	var threads int
	var cpuprofile string
	var noCompile bool
	cmd := &cobra.Command{
		Use:   "bench --workload W1|W2|W3b1|W3b16|W4",
		Short: "Run one reference workload of the peer benchmark and print its RESULT line",
		Long: `Run one workload of shared/bench/peers with the harness's timing protocol and
print one line "RESULT {json}" on stdout, so run.sh can compare Fovea with
PyTorch, ONNX Runtime and the Go peers on the same machine in the same run.
The note names the kernels' instruction-set path; FOVEA_CPU=avx2 (or
generic) runs a lower one than the CPU's best, e.g. AVX2 on an AVX-512 CPU.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w, ok := workloads[name]
			if !ok {
				return fmt.Errorf("--workload %q: must be one of W1, W2, W3b1, W3b16, W4", name)
			}
			if !(budget > 0) || math.IsInf(budget, 0) {
				return fmt.Errorf("--budget %g: must be a positive number of seconds", budget)
			}
			if err := setThreads(threads); err != nil {
				return err
			}
			res := benchResult{Peer: "fovea", Workload: name, Metric: w.metric, Unit: w.unit, Batch: w.batch,
				Threads: tensor.Threads(), Note: w.note}
			if w.setup == nil {
				res.Status = "n/a"
			} else {
				res.Note += "; kernels " + kernels.Path()
				if w.metric == "train" {
					benchEager = noCompile
					res.Note += map[bool]string{false: "; compiled step", true: "; eager step (--no-compile)"}[noCompile]
				}
				iter := w.setup(w.batch)
				stop, err := startCPUProfile(cpuprofile)
				if err != nil {
					return err
				}
				defer stop()
				measure(&res, iter, w.warmup, budget)
			}
			b, err := json.Marshal(res)
			if err != nil {
				return err
			}
			fmt.Println("RESULT " + string(b))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "workload", "", "W1, W2, W3b1, W3b16 or W4 (required)")
	fl.Float64Var(&budget, "budget", 6, "seconds of timed windows")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.StringVar(&cpuprofile, "cpuprofile", "", "write a pprof CPU profile of the timed run to this file")
	fl.BoolVar(&noCompile, "no-compile", false, "training workloads: eager steps instead of the compiled step")
	return cmd
}

// measure follows the harness's timing protocol: warm-up, k = budget/5/t1
// iterations per window, up to 5 windows or until the budget is spent,
// median of the per-iteration window times.
func measure(res *benchResult, iter func(), warmup int, budget float64) {
	t0 := time.Now()
	var t1 float64
	for range max(warmup, 1) {
		s := time.Now()
		iter()
		t1 = time.Since(s).Seconds()
	}
	res.WarmupS = time.Since(t0).Seconds()
	k := max(1, int(math.Round(budget/5/t1)))
	var per []float64
	first := time.Now()
	for len(per) < 5 {
		s := time.Now()
		for range k {
			iter()
		}
		per = append(per, time.Since(s).Seconds()/float64(k))
		if time.Since(first).Seconds() >= budget {
			break
		}
	}
	slices.Sort(per)
	med := per[len(per)/2]
	if len(per)%2 == 0 {
		med = (per[len(per)/2-1] + per[len(per)/2]) / 2
	}
	res.IterMedian, res.IterMin, res.IterMax = med, per[0], per[len(per)-1]
	res.Windows, res.ItersPerW, res.Status = len(per), k, "ok"
	switch res.Unit {
	case "img/s":
		res.Value = float64(res.Batch) / med
	case "ms":
		res.Value = med * 1e3
	case "us":
		res.Value = med * 1e6
	}
}

// trainStep returns one training step of model on a fixed random batch of
// the given input shape with fixed random labels in [0, 10): forward in
// training mode, mean cross-entropy, backward, SGD with momentum 0.9 and
// learning rate 0.01 in PyTorch's form, gradients cleared.
func trainStep(model nn.Layer, rng *rand.Rand, shape ...int) func() {
	nn.SetTraining(model, true)
	x := autograd.Const(tensor.Normal(rng, 0, 1, shape...))
	y := make([]int, shape[0])
	for i := range y {
		y[i] = rng.IntN(10)
	}
	opt := optim.NewSGD(nn.ParamVars(model), optim.SGDConfig{LR: 0.01, Momentum: 0.9})
	stepper := train.NewStepper(model, nn.CrossEntropyLoss{}, opt)
	stepper.NoCompile = benchEager
	return func() { stepper.Step(x.Value, y) }
}

// benchEager makes trainStep's steps eager (bench --no-compile).
var benchEager bool

// resnet20TrainStep is W2: a ResNet-20 training step at batch 128.
func resnet20TrainStep(batch int) func() {
	model := models.NewResNet20(models.Options{NumClasses: 10, InChannels: 3, Seed: 1})
	return trainStep(model, tensor.NewRNG(2), batch, 3, 32, 32)
}

// resnet18Infer is W3b1 and W3b16: torchvision's ResNet-18 (1000 classes)
// in evaluation mode on a fixed random 3×224×224 batch, no gradient
// bookkeeping.
func resnet18Infer(batch int) func() {
	return planned(models.NewResNet18(models.Options{NumClasses: 1000, InChannels: 3, Seed: 1}), batch, 3, 224, 224)
}

// planned compiles model for inference on a fixed random input of the given
// shape, before any timing, as a server would once per input shape.
func planned(model nn.Layer, shape ...int) func() {
	plan, err := engine.Compile(model, shape...)
	if err != nil {
		panic(err) // the zoo models always compile; a failure is a bug
	}
	x := tensor.Normal(tensor.NewRNG(2), 0, 1, shape...)
	return func() { plan.Run(x) }
}

// lenetTrainStep is W1: a LeNet-5 training step on a fixed random batch.
func lenetTrainStep(batch int) func() {
	model := models.NewLeNet5(models.Options{NumClasses: 10, InChannels: 1, Seed: 1})
	return trainStep(model, tensor.NewRNG(2), batch, 1, 28, 28)
}

// lenetInfer is W4: LeNet-5 inference on one fixed random image.
func lenetInfer(batch int) func() {
	return planned(models.NewLeNet5(models.Options{NumClasses: 10, InChannels: 1, Seed: 1}), batch, 1, 28, 28)
}
