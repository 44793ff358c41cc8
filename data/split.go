package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// StratifiedSplit divides d into a training part and a validation part
// holding about fraction of each class's examples (rounded per class), so
// both keep d's class proportions. The choice depends only on d's labels
// and seed; each part keeps d's order. It panics unless 0 <= fraction <= 1.
func StratifiedSplit(d *Dataset, fraction float64, seed uint64) (train, val *Dataset) {
	if !(fraction >= 0 && fraction <= 1) {
		panic(fmt.Sprintf("data: %s: StratifiedSplit fraction %v: want 0..1", d.Name, fraction))
	}
	byClass := map[int][]int{}
	var classes []int
	for i, y := range d.Y {
		if _, ok := byClass[y]; !ok {
			classes = append(classes, y)
		}
		byClass[y] = append(byClass[y], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed5eed5eed5eed))
	inVal := make([]bool, d.Len())
	slices.Sort(classes)
	for _, y := range classes {
		idx := byClass[y]
		k := int(math.Round(fraction * float64(len(idx))))
		rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx[:k] {
			inVal[i] = true
		}
	}
	var ti, vi []int
	for i, v := range inVal {
		if v {
			vi = append(vi, i)
		} else {
			ti = append(ti, i)
		}
	}
	train, val = d.Subset(ti), d.Subset(vi)
	train.Name, val.Name = d.Name+"/train", d.Name+"/val"
	return train, val
}
