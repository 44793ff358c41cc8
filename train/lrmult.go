package train

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/nn"
)

// LRMult scales the learning rate of some parameters — discriminative
// learning rates, for fine-tuning a pretrained body more gently than a new
// head. It covers the parameters whose state-dict name is Prefix or starts
// with Prefix followed by "." (as [Freeze] matches), or, with Prefix "*",
// every parameter no earlier rule covered. The schedule scales every rate
// together, as PyTorch's parameter groups with lr = Factor·base.
type LRMult struct {
	Prefix string
	Factor float64
}

// String returns the rule as PREFIX=FACTOR, the form [ParseLRMults] reads.
func (m LRMult) String() string {
	return m.Prefix + "=" + strconv.FormatFloat(m.Factor, 'g', -1, 64)
}

// ParseLRMults reads rules written PREFIX=FACTOR (e.g. "fc=1", "*=0.1"),
// one per item; the first rule that covers a parameter decides its factor.
// It returns an error naming the item for a missing "=", an empty prefix,
// a factor that is not a finite number ≥ 0, or a prefix given twice.
func ParseLRMults(items []string) ([]LRMult, error) {
	var out []LRMult
	seen := map[string]bool{}
	for _, it := range items {
		pre, num, ok := strings.Cut(strings.TrimSpace(it), "=")
		pre, num = strings.TrimSpace(pre), strings.TrimSpace(num)
		if !ok || pre == "" {
			return nil, fmt.Errorf("train: learning-rate multiplier %q: want PREFIX=FACTOR, e.g. fc=1 or *=0.1", it)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("train: learning-rate multiplier %q: factor %q is not a finite number ≥ 0", it, num)
		}
		if seen[pre] {
			return nil, fmt.Errorf("train: learning-rate multiplier %q: prefix %q given twice", it, pre)
		}
		seen[pre] = true
		out = append(out, LRMult{Prefix: pre, Factor: f})
	}
	return out, nil
}

// formatLRMults is the canonical text of rules, stored in a [Recipe].
func formatLRMults(rules []LRMult) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}

// lrMultipliers returns one factor per parameter of [Trainable](model), in
// its order: the first rule covering the parameter's name, else 1. It
// returns an error naming a rule that covers no trainable parameter.
func LRMultipliers(model nn.Layer, rules []LRMult) ([]float64, error) {
	names := trainableNames(model)
	mult := make([]float64, len(names))
	used := make([]bool, len(rules))
	for i, name := range names {
		mult[i] = 1
		for k, r := range rules {
			if r.Prefix == "*" || name == r.Prefix || strings.HasPrefix(name, r.Prefix+".") {
				mult[i], used[k] = r.Factor, true
				break
			}
		}
	}
	for k, r := range rules {
		if !used[k] {
			return nil, fmt.Errorf("train: learning-rate multiplier %s covers no trainable parameter (names look like %s)", r, exampleNames(nn.Params(model)))
		}
	}
	return mult, nil
}
