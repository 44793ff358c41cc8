package train

import (
	"fmt"
	"math"
	"path"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/nn"
)

// LRMult scales the learning rate of some parameters — discriminative
// learning rates, for fine-tuning a pretrained body more gently than a new
// head — or, as a [Config.WDMult] rule, their weight decay. It covers the
// parameters whose state-dict name is Prefix or starts with Prefix
// followed by "." (as [Freeze] matches), the names a Prefix with *, ? or
// [ matches whole as a path.Match pattern ("*norm*.bias"), or, with Prefix
// "*", every parameter no earlier rule covered. The schedule scales every
// rate together, as PyTorch's parameter groups with lr = Factor·base.
type LRMult struct {
	Prefix string
	Factor float64
}

// String returns the rule as PREFIX=FACTOR, the form [ParseLRMults] reads.
func (m LRMult) String() string {
	return m.Prefix + "=" + strconv.FormatFloat(m.Factor, 'g', -1, 64)
}

// ParseLRMults reads rules written PREFIX=FACTOR (e.g. "fc=1", "*=0.1",
// "*norm*.bias=64"), one per item; the first rule that covers a parameter
// decides its factor (see [LRMult]). It returns an error naming the item
// for a missing "=", an empty prefix, a malformed pattern, a factor that
// is not a finite number ≥ 0, or a prefix given twice.
func ParseLRMults(items []string) ([]LRMult, error) { return parseRules(items, "learning-rate") }

// ParseWDMults reads weight-decay multiplier rules ([Config.WDMult]), in
// the syntax of [ParseLRMults].
func ParseWDMults(items []string) ([]LRMult, error) { return parseRules(items, "weight-decay") }

// ParseTrainUntil reads [Config.TrainUntil] rules, PREFIX=EPOCHS in the
// syntax of [ParseLRMults] with a whole number of epochs ≥ 1.
func ParseTrainUntil(items []string) ([]LRMult, error) {
	rules, err := parseRules(items, "train-until")
	for _, r := range rules {
		if err == nil && (r.Factor != math.Trunc(r.Factor) || r.Factor < 1) {
			err = fmt.Errorf("train: train-until rule %s: the epochs must be a whole number ≥ 1", r)
		}
	}
	return rules, err
}

// parseRules is ParseLRMults for rules of the kind named what in errors.
func parseRules(items []string, what string) ([]LRMult, error) {
	var out []LRMult
	seen := map[string]bool{}
	for _, it := range items {
		pre, num, ok := strings.Cut(strings.TrimSpace(it), "=")
		pre, num = strings.TrimSpace(pre), strings.TrimSpace(num)
		if !ok || pre == "" {
			return nil, fmt.Errorf("train: %s multiplier %q: want PREFIX=FACTOR, e.g. fc=1 or *=0.1", what, it)
		}
		if _, err := path.Match(pre, ""); err != nil {
			return nil, fmt.Errorf("train: %s multiplier %q: malformed pattern %q", what, it, pre)
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || !(f >= 0) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("train: %s multiplier %q: factor %q is not a finite number ≥ 0", what, it, num)
		}
		if seen[pre] {
			return nil, fmt.Errorf("train: %s multiplier %q: prefix %q given twice", what, it, pre)
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

// LRMultipliers returns one factor per parameter of [Trainable](model), in
// its order: the first rule covering the parameter's name, else 1. It
// returns an error naming a rule that covers no trainable parameter.
func LRMultipliers(model nn.Layer, rules []LRMult) ([]float64, error) {
	return paramMultipliers(model, rules, "learning-rate")
}

// WDMultipliers is [LRMultipliers] for weight-decay rules
// ([Config.WDMult]).
func WDMultipliers(model nn.Layer, rules []LRMult) ([]float64, error) {
	return paramMultipliers(model, rules, "weight-decay")
}

// paramMultipliers is LRMultipliers for rules of the kind named what
// ("learning-rate", "weight-decay") in errors.
func paramMultipliers(model nn.Layer, rules []LRMult, what string) ([]float64, error) {
	names := trainableNames(model)
	mult := make([]float64, len(names))
	used := make([]bool, len(rules))
	for i, name := range names {
		mult[i] = 1
		for k, r := range rules {
			if r.covers(name) {
				mult[i], used[k] = r.Factor, true
				break
			}
		}
	}
	for k, r := range rules {
		if !used[k] {
			return nil, fmt.Errorf("train: %s multiplier %s covers no trainable parameter (names look like %s)", what, r, exampleNames(nn.Params(model)))
		}
	}
	return mult, nil
}

// covers reports whether the rule covers the parameter named name: "*"
// every one; a pattern with * or ? the names it matches whole
// (path.Match: "*norm*.bias" every batch-norm bias named so); else the
// name itself and the names under it ("layer1" covers layer1.0.conv1.weight,
// not layer10.…).
func (m LRMult) covers(name string) bool {
	if m.Prefix == "*" {
		return true
	}
	if strings.ContainsAny(m.Prefix, "*?[") {
		ok, _ := path.Match(m.Prefix, name)
		return ok
	}
	return name == m.Prefix || strings.HasPrefix(name, m.Prefix+".")
}
