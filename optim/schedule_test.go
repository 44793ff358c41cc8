package optim

import (
	"math"
	"strings"
	"testing"
)

func checkLR(t *testing.T, name string, s Schedule, want map[int]float64) {
	t.Helper()
	for step, w := range want {
		if got := s.LR(step); math.Abs(got-w) > 1e-12*math.Max(1, math.Abs(w)) {
			t.Errorf("%s.LR(%d) = %.15g, want %.15g", name, step, got, w)
		}
	}
}

func TestConstantStepMultiStep(t *testing.T) {
	checkLR(t, "Constant", Constant{Base: 0.3}, map[int]float64{0: 0.3, 1000: 0.3})
	checkLR(t, "StepLR", StepLR{Base: 1, StepSize: 10, Gamma: 0.1},
		map[int]float64{0: 1, 9: 1, 10: 0.1, 19: 0.1, 20: 0.1 * 0.1, 35: 0.1 * 0.1 * 0.1})
	checkLR(t, "StepLR no size", StepLR{Base: 1, Gamma: 0.1}, map[int]float64{100: 1})
	checkLR(t, "MultiStepLR", MultiStepLR{Base: 2, Milestones: []int{30, 10, 30}, Gamma: 0.5},
		map[int]float64{0: 2, 9: 2, 10: 1, 29: 1, 30: 0.25, 1000: 0.25})
}

func TestCosineWarmup(t *testing.T) {
	s := CosineWarmup{Base: 1, WarmupSteps: 4, TotalSteps: 104, MinLR: 0.1}
	checkLR(t, "CosineWarmup", s, map[int]float64{
		0:    0.25, // warmup from 1/W of Base
		1:    0.5,
		3:    1,                                      // Base at the end of warmup
		4:    1,                                      // cosine starts at Base
		54:   0.55,                                   // half way: (Base + Min)/2
		29:   0.1 + 0.9*(1+math.Cos(math.Pi*0.25))/2, // a quarter
		103:  0.1 + 0.9*(1+math.Cos(math.Pi*0.99))/2,
		104:  0.1,
		1000: 0.1,
	})
	checkLR(t, "CosineWarmup no warmup", CosineWarmup{Base: 2, TotalSteps: 10},
		map[int]float64{0: 2, 5: 1, 10: 0})
}

func TestOneCycle(t *testing.T) {
	// Formulas: initial 0.5/25 = 0.02, final 0.02/1e4 = 2e-6, phase 1 ends at
	// 0.3·20 − 1 = 5, phase 2 at 19.
	s := OneCycle{Max: 0.5, TotalSteps: 20}
	cos := func(a, b, pct float64) float64 { return b + (a-b)/2*(1+math.Cos(math.Pi*pct)) }
	checkLR(t, "OneCycle", s, map[int]float64{
		0:   0.02,
		2:   cos(0.02, 0.5, 2.0/5),
		5:   0.5,
		12:  cos(0.5, 2e-6, 7.0/14),
		19:  2e-6,
		100: 2e-6,
	})
	// PyTorch 1.13, OneCycleLR stepped once per optimizer step:
	//
	//	p = torch.nn.Parameter(torch.zeros(1))
	//	o = torch.optim.SGD([p], lr=0.5)
	//	s = torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=20)
	//	out = []
	//	for i in range(20):
	//	    out.append(o.param_groups[0]['lr']); o.step(); s.step()
	torch := []float64{0.020000000000000018, 0.06583592135001265, 0.18583592135001265, 0.3341640786499874,
		0.45416407864998737, 0.5, 0.49373200311754367, 0.47524231600673683, 0.445458088785525,
		0.40587282697488153, 0.3584715008956504, 0.30563101096814466, 0.250001, 0.19437098903185537,
		0.14153049910434962, 0.09412917302511849, 0.05454391121447502, 0.024759683993263143,
		0.006269996882456277, 2e-06}
	for step, w := range torch {
		if got := s.LR(step); math.Abs(got-w) > 1e-12 {
			t.Errorf("OneCycle.LR(%d) = %.17g, PyTorch %.17g", step, got, w)
		}
	}
	checkLR(t, "OneCycle custom", OneCycle{Max: 1, TotalSteps: 11, PctStart: 0.5, DivFactor: 10, FinalDivFactor: 100},
		map[int]float64{0: 0.1, 4.0: 1 - 0.9/2*(1+math.Cos(math.Pi*4/4.5)), 10: 0.001})
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("step", 0.1, 90, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.(StepLR) != (StepLR{Base: 0.1, StepSize: 30, Gamma: 0.1}) {
		t.Errorf("step: %+v", s)
	}
	// 100 steps of 8 per epoch: a third is 33, rounded to 32 (4 epochs).
	if s, _ := ParseSchedule("step", 0.1, 100, 8); s.(StepLR).StepSize != 32 {
		t.Errorf("step with epochs: %+v, want StepSize 32", s)
	}
	s, _ = ParseSchedule("MultiStep", 0.1, 100, 0)
	if m := s.(MultiStepLR); len(m.Milestones) != 2 || m.Milestones[0] != 50 || m.Milestones[1] != 75 || m.Gamma != 0.1 {
		t.Errorf("multistep: %+v", s)
	}
	s, _ = ParseSchedule("cosine", 0.1, 100, 0)
	if s.(CosineWarmup) != (CosineWarmup{Base: 0.1, WarmupSteps: 5, TotalSteps: 100}) {
		t.Errorf("cosine: %+v", s)
	}
	s, _ = ParseSchedule("onecycle", 0.1, 100, 0)
	if s.(OneCycle) != (OneCycle{Max: 0.1, TotalSteps: 100}) {
		t.Errorf("onecycle: %+v", s)
	}
	if s, err := ParseSchedule("constant", 0.1, 0, 0); err != nil || s.LR(7) != 0.1 {
		t.Errorf("constant: %v, %v", s, err)
	}
	_, err = ParseSchedule("linear", 0.1, 100, 0)
	if err == nil || !strings.Contains(err.Error(), `"linear"`) || !strings.Contains(err.Error(), "constant, step, multistep, cosine, onecycle") {
		t.Errorf("unknown schedule error: %v", err)
	}
	if _, err := ParseSchedule("cosine", 0.1, 0, 0); err == nil {
		t.Error("cosine with 0 steps: no error")
	}
}

// TestTriangular checks airbench's schedule against the reference's get_lr
// (computed here by hand for 476 steps: warm-up 109 steps) and the parsing
// of its arguments.
func TestTriangular(t *testing.T) {
	s, err := ParseSchedule("triangular", 2, 476, 48)
	if err != nil {
		t.Fatal(err)
	}
	getLR := func(step int) float64 { // legacy/airbench94.py
		warm := 109 // int(476·0.23)
		if step < warm {
			f := float64(step) / float64(warm)
			return 0.2*(1-f) + 1.0*f
		}
		f := float64(step-warm) / float64(476-warm)
		return 1.0*(1-f) + 0.07*f
	}
	for _, step := range []int{0, 1, 54, 108, 109, 110, 300, 475} {
		if got, want := s.LR(step), 2*getLR(step); math.Abs(got-want) > 1e-12 {
			t.Errorf("LR(%d) = %v, want %v", step, got, want)
		}
	}
	c, err := ParseSchedule("Triangular:0.5:0:1", 1, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := []float64{c.LR(0), c.LR(5), c.LR(9)}; got[0] != 0 || got[1] != 1 || got[2] != 1 {
		t.Errorf("triangular:0.5:0:1 gives %v at steps 0, 5, 9", got)
	}
	for _, bad := range []string{"triangular:1", "triangular:x", "triangular:0.2:-1", "triangular:0.1:0.2:0.3:0.4", "cosine:0.1"} {
		if _, err := ParseSchedule(bad, 1, 10, 0); err == nil {
			t.Errorf("ParseSchedule(%q): no error", bad)
		}
	}
}
