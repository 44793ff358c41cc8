package torchref

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/optim"
)

// Optimizers: two steps on parameters w (4,3) and b (3), with the stored
// gradients grad1.* and grad2.*, compared after each step with step1.* and
// step2.*. Two steps make the momentum buffer / Adam moments and bias
// correction matter.

func TestOptimizers(t *testing.T) {
	for _, name := range []string{"sgd_momentum", "sgd_nesterov", "adam", "adam_l2", "adamw"} {
		t.Run(name, func(t *testing.T) {
			r := load(t, name)
			names := strings.Split(r.meta("params"), ",")
			params := make([]*autograd.Var, len(names))
			for i, n := range names {
				params[i] = autograd.Param(r.get(n))
			}
			var opt optim.Optimizer
			switch r.meta("op") {
			case "sgd":
				opt = optim.NewSGD(params, optim.SGDConfig{
					LR: r.metaFloat("lr"), Momentum: r.metaFloat("momentum"), Dampening: r.metaFloat("dampening"),
					WeightDecay: r.metaFloat("weight_decay"), Nesterov: r.metaBool("nesterov"),
				})
			case "adam", "adamw":
				cfg := optim.AdamConfig{
					LR: r.metaFloat("lr"), Beta1: r.metaFloat("beta1"), Beta2: r.metaFloat("beta2"),
					Eps: r.metaFloat("eps"), WeightDecay: r.metaFloat("weight_decay"),
				}
				if r.meta("op") == "adamw" {
					opt = optim.NewAdamW(params, cfg)
				} else {
					opt = optim.NewAdam(params, cfg)
				}
			default:
				t.Fatalf("unknown optimizer %q", r.meta("op"))
			}
			for step := 1; step <= r.metaInt("steps"); step++ {
				for i, n := range names {
					params[i].Grad = r.get(fmt.Sprintf("grad%d.%s", step, n))
				}
				opt.Step()
				for i, n := range names {
					r.check(fmt.Sprintf("step%d.%s", step, n), params[i].Value, tolOptim)
				}
			}
		})
	}
}
