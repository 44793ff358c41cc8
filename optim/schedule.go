package optim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Schedule gives the learning rate for an optimizer step. Steps are counted
// in optimizer steps from 0: LR(0) is the rate of the first update.
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant struct {
	Base float64
}

// LR returns Base.
func (s Constant) LR(int) float64 { return s.Base }

// StepLR decays the rate by Gamma every StepSize steps, as
// torch.optim.lr_scheduler.StepLR stepped once per optimizer step:
// Base·Gamma^⌊step/StepSize⌋. A StepSize ≤ 0 means no decay.
type StepLR struct {
	Base     float64
	StepSize int
	Gamma    float64
}

// LR returns the rate at step.
func (s StepLR) LR(step int) float64 {
	if s.StepSize <= 0 || step < 0 {
		return s.Base
	}
	return s.Base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// MultiStepLR decays the rate by Gamma at each milestone, as
// torch.optim.lr_scheduler.MultiStepLR: Base·Gamma^k where k counts the
// milestones ≤ step (a repeated milestone counts again).
type MultiStepLR struct {
	Base       float64
	Milestones []int
	Gamma      float64
}

// LR returns the rate at step.
func (s MultiStepLR) LR(step int) float64 {
	k := 0
	for _, m := range s.Milestones {
		if m <= step {
			k++
		}
	}
	return s.Base * math.Pow(s.Gamma, float64(k))
}

// CosineWarmup ramps the rate linearly up to Base over WarmupSteps steps,
// then follows a half cosine from Base down to MinLR at TotalSteps, and
// stays at MinLR after that:
//
//	step < W:       Base·(step+1)/W
//	W ≤ step < T:   MinLR + (Base − MinLR)·(1 + cos(π·(step−W)/(T−W)))/2
//	step ≥ T:       MinLR
//
// The warmup starts at the fraction 1/W of Base, not at zero, so no step is
// wasted, and reaches Base on its last step. WarmupSteps 0 means none.
type CosineWarmup struct {
	Base        float64
	WarmupSteps int
	TotalSteps  int
	MinLR       float64
}

// LR returns the rate at step.
func (s CosineWarmup) LR(step int) float64 {
	step = max(step, 0)
	if step < s.WarmupSteps {
		return s.Base * float64(step+1) / float64(s.WarmupSteps)
	}
	w := max(s.WarmupSteps, 0)
	if step >= s.TotalSteps || s.TotalSteps <= w {
		return s.MinLR
	}
	pct := float64(step-w) / float64(s.TotalSteps-w)
	return s.MinLR + (s.Base-s.MinLR)*(1+math.Cos(math.Pi*pct))/2
}

// OneCycle is torch.optim.lr_scheduler.OneCycleLR with cosine annealing and
// two phases (three_phase=False), for the learning rate only: momentum
// cycling (cycle_momentum) is not done. The rate rises from Max/DivFactor to
// Max over the first PctStart·TotalSteps steps, then falls to
// Max/(DivFactor·FinalDivFactor) at step TotalSteps−1, and stays there. Zero
// PctStart, DivFactor and FinalDivFactor mean PyTorch's defaults 0.3, 25 and
// 1e4.
type OneCycle struct {
	Max            float64
	TotalSteps     int
	PctStart       float64
	DivFactor      float64
	FinalDivFactor float64
}

// LR returns the rate at step.
func (s OneCycle) LR(step int) float64 {
	pctStart, div, finalDiv := s.PctStart, s.DivFactor, s.FinalDivFactor
	if pctStart == 0 {
		pctStart = 0.3
	}
	if div == 0 {
		div = 25
	}
	if finalDiv == 0 {
		finalDiv = 1e4
	}
	initial := s.Max / div
	final := initial / finalDiv
	// Phase ends as PyTorch computes them: float(pct_start·total) − 1 and
	// total − 1.
	end1 := pctStart*float64(s.TotalSteps) - 1
	end2 := float64(s.TotalSteps - 1)
	x := float64(max(step, 0))
	if x <= end1 {
		return cosAnneal(initial, s.Max, x/end1)
	}
	if end2 <= end1 {
		return final
	}
	return cosAnneal(s.Max, final, (x-end1)/(end2-end1))
}

// Triangular is airbench's piecewise-linear schedule (Jordan 2024): the
// factor of Base rises linearly from Start at step 0 to 1 at step
// W = ⌊Peak·TotalSteps⌋, then falls linearly to End at TotalSteps:
//
//	step < W:   Base·(Start·(1 − step/W) + step/W)
//	step ≥ W:   Base·((1 − f) + End·f),  f = (step − W)/(TotalSteps − W)
//
// as the reference's get_lr with LR(0) the rate of the first update. Past
// TotalSteps it keeps falling along the same line (f > 1); [Fit] never goes
// there.
type Triangular struct {
	Base             float64
	TotalSteps       int
	Peak, Start, End float64
}

// LR returns the rate at step.
func (s Triangular) LR(step int) float64 {
	w := int(float64(s.TotalSteps) * s.Peak)
	x := float64(max(step, 0))
	if step < w {
		f := x / float64(w)
		return s.Base * (s.Start*(1-f) + f)
	}
	if s.TotalSteps <= w {
		return s.Base * s.End
	}
	f := (x - float64(w)) / float64(s.TotalSteps-w)
	return s.Base * ((1 - f) + s.End*f)
}

// triangularDefaults are airbench94's peak fraction, start and end factors.
var triangularDefaults = [3]float64{0.23, 0.2, 0.07}

// parseTriangular reads "triangular[:PEAK[:START[:END]]]" (defaults
// triangularDefaults): PEAK in [0, 1), START and END ≥ 0.
func parseTriangular(name string, args []string) ([3]float64, error) {
	v := triangularDefaults
	if len(args) > 3 {
		return v, fmt.Errorf("optim: schedule %q: triangular takes at most PEAK:START:END", name)
	}
	for i, a := range args {
		f, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
		if err != nil || math.IsInf(f, 0) || !(f >= 0) || (i == 0 && f >= 1) {
			return v, fmt.Errorf("optim: schedule %q: %q is not a valid %s (want a number%s)", name, a,
				[]string{"peak fraction", "start factor", "end factor"}[i], []string{" in [0, 1)", " ≥ 0", " ≥ 0"}[i])
		}
		v[i] = f
	}
	return v, nil
}

// cosAnneal goes from start (pct 0) to end (pct ≥ 1) along a half cosine.
// A NaN pct (an empty phase) counts as the end.
func cosAnneal(start, end, pct float64) float64 {
	if !(pct < 1) {
		return end
	}
	return end + (start-end)/2*(math.Cos(math.Pi*pct)+1)
}

// ScheduleNames lists the schedule names accepted by [ParseSchedule].
var ScheduleNames = []string{"constant", "step", "multistep", "cosine", "onecycle", "triangular"}

// ParseSchedule builds the schedule named name (case insensitive) for a run
// of totalSteps optimizer steps with base learning rate base. Decay points
// are rounded to whole epochs when stepsPerEpoch > 0 (0 means unknown):
//
//   - "constant": [Constant] base;
//   - "step": [StepLR] ×0.1 every third of the run;
//   - "multistep": [MultiStepLR] ×0.1 at 50% and 75% of the run;
//   - "cosine": [CosineWarmup] with 5% warmup, down to 0;
//   - "onecycle": [OneCycle] peaking at base with PyTorch's defaults;
//   - "triangular[:PEAK[:START[:END]]]": [Triangular], airbench's linear
//     warm-up from START·base to base over the first PEAK of the run and
//     linear decay to END·base (defaults 0.23, 0.2, 0.07).
//
// It returns an error naming the value for an unknown name, and for a
// non-positive totalSteps with any schedule but "constant".
func ParseSchedule(name string, base float64, totalSteps, stepsPerEpoch int) (Schedule, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n, rest, hasArgs := strings.Cut(n, ":")
	if hasArgs && n != "triangular" {
		return nil, fmt.Errorf("optim: schedule %q takes no arguments (only triangular does)", name)
	}
	if n == "constant" {
		return Constant{Base: base}, nil
	}
	valid := false
	for _, v := range ScheduleNames {
		valid = valid || v == n
	}
	if !valid {
		return nil, fmt.Errorf("optim: unknown schedule %q (valid: %s)", name, strings.Join(ScheduleNames, ", "))
	}
	if totalSteps <= 0 {
		return nil, fmt.Errorf("optim: schedule %q needs a positive number of steps, have %d", name, totalSteps)
	}
	// atEpoch rounds a step count to the nearest whole epoch, keeping it
	// at least one step.
	atEpoch := func(steps int) int {
		if stepsPerEpoch > 0 && steps >= stepsPerEpoch {
			steps = (steps + stepsPerEpoch/2) / stepsPerEpoch * stepsPerEpoch
		}
		return max(steps, 1)
	}
	switch n {
	case "step":
		return StepLR{Base: base, StepSize: atEpoch(totalSteps / 3), Gamma: 0.1}, nil
	case "multistep":
		return MultiStepLR{Base: base, Milestones: []int{atEpoch(totalSteps / 2), atEpoch(totalSteps * 3 / 4)}, Gamma: 0.1}, nil
	case "cosine":
		return CosineWarmup{Base: base, WarmupSteps: totalSteps / 20, TotalSteps: totalSteps}, nil
	case "triangular":
		var args []string
		if hasArgs {
			args = strings.Split(rest, ":")
		}
		v, err := parseTriangular(name, args)
		if err != nil {
			return nil, err
		}
		return Triangular{Base: base, TotalSteps: totalSteps, Peak: v[0], Start: v[1], End: v[2]}, nil
	default: // "onecycle"
		return OneCycle{Max: base, TotalSteps: totalSteps}, nil
	}
}
