package data

import (
	"slices"
	"testing"
)

func TestStratifiedSplit(t *testing.T) {
	// 100 examples of class 0, 30 of class 1, 10 of class 2, interleaved.
	d := &Dataset{Name: "s", C: 1, H: 1, W: 1, NumClasses: 3}
	for i := range 140 {
		y := 0
		switch {
		case i%14 == 3:
			y = 2
		case i%14 < 4:
			y = 1
		}
		d.Y = append(d.Y, y)
		d.X = append(d.X, float32(i))
	}
	count := func(d *Dataset) [3]int {
		var c [3]int
		for _, y := range d.Y {
			c[y]++
		}
		return c
	}
	if c := count(d); c != [3]int{100, 30, 10} {
		t.Fatalf("fixture counts %v", c)
	}
	train, val := StratifiedSplit(d, 0.2, 7)
	if count(val) != [3]int{20, 6, 2} || count(train) != [3]int{80, 24, 8} {
		t.Fatalf("counts train %v val %v", count(train), count(val))
	}
	// Every example is in exactly one part, order kept, labels follow X.
	all := append(slices.Clone(train.X), val.X...)
	slices.Sort(all)
	for i, v := range all {
		if v != float32(i) {
			t.Fatalf("examples lost or repeated: %v", all)
		}
	}
	for _, p := range []*Dataset{train, val} {
		for i := range p.Len() {
			if p.Y[i] != d.Y[int(p.X[i])] || (i > 0 && p.X[i] <= p.X[i-1]) {
				t.Fatalf("%s: example %d", p.Name, i)
			}
		}
	}
	// Deterministic in the seed, and the seed matters.
	_, val2 := StratifiedSplit(d, 0.2, 7)
	_, val3 := StratifiedSplit(d, 0.2, 8)
	if !slices.Equal(val.X, val2.X) || slices.Equal(val.X, val3.X) {
		t.Fatal("split is not a function of the seed")
	}
	if tr, va := StratifiedSplit(d, 0, 1); tr.Len() != 140 || va.Len() != 0 {
		t.Fatalf("fraction 0: %d/%d", tr.Len(), va.Len())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("fraction 1.5 did not panic")
		}
	}()
	StratifiedSplit(d, 1.5, 1)
}
