package data

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// indexDataset returns n examples of shape (1, 2, 2) whose values all
// equal the example's index.
func indexDataset(n int) *Dataset {
	d := &Dataset{Name: "idx", C: 1, H: 2, W: 2, NumClasses: 10, X: make([]float32, 4*n), Y: make([]int, n)}
	for i := range n {
		for k := range 4 {
			d.X[4*i+k] = float32(i)
		}
		d.Y[i] = i % 10
	}
	return d
}

// epochOrder runs one epoch and checks each batch's contents against its
// Index; it returns the indices visited and the batch sizes.
func epochOrder(t *testing.T, l *Loader, epoch int) (order, sizes []int) {
	t.Helper()
	for b := range l.Epoch(epoch) {
		n := len(b.Y)
		if got := b.X.Shape(); !slices.Equal(got, []int{n, 1, 2, 2}) || len(b.Index) != n {
			t.Fatalf("batch shape %v, %d labels, %d indices", got, n, len(b.Index))
		}
		x := b.X.Data()
		for k, i := range b.Index {
			if b.Y[k] != i%10 || x[4*k] != float32(i) || x[4*k+3] != float32(i) {
				t.Fatalf("example %d of batch: index %d, label %d, x %v", k, i, b.Y[k], x[4*k:4*k+4])
			}
		}
		order = append(order, b.Index...)
		sizes = append(sizes, n)
	}
	return order, sizes
}

func TestLoaderBatches(t *testing.T) {
	d := indexDataset(10)
	for _, tc := range []struct {
		bs       int
		dropLast bool
		sizes    []int
	}{
		{3, false, []int{3, 3, 3, 1}},
		{3, true, []int{3, 3, 3}},
		{5, false, []int{5, 5}},
		{5, true, []int{5, 5}},
		{20, false, []int{10}},
		{20, true, nil},
	} {
		for _, shuffle := range []bool{false, true} {
			l := &Loader{Source: d, BatchSize: tc.bs, DropLast: tc.dropLast, Shuffle: shuffle, Seed: 7}
			if l.NumBatches() != len(tc.sizes) {
				t.Errorf("bs %d dropLast %v: NumBatches %d, want %d", tc.bs, tc.dropLast, l.NumBatches(), len(tc.sizes))
			}
			order, sizes := epochOrder(t, l, 0)
			if !slices.Equal(sizes, tc.sizes) {
				t.Errorf("bs %d dropLast %v: batch sizes %v, want %v", tc.bs, tc.dropLast, sizes, tc.sizes)
			}
			if !shuffle && !slices.Equal(order, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}[:len(order)]) {
				t.Errorf("unshuffled order %v", order)
			}
			if !tc.dropLast {
				slices.Sort(order)
				for i, v := range order {
					if v != i {
						t.Fatalf("bs %d: epoch visited %v, want every index once", tc.bs, order)
					}
				}
			}
		}
	}
}

func TestLoaderShuffleDeterministic(t *testing.T) {
	d := indexDataset(1000)
	l := &Loader{Source: d, BatchSize: 32, Shuffle: true, Seed: 42, Prefetch: 3}
	a, _ := epochOrder(t, l, 0)
	b, _ := epochOrder(t, &Loader{Source: d, BatchSize: 32, Shuffle: true, Seed: 42}, 0)
	c, _ := epochOrder(t, l, 1)
	e, _ := epochOrder(t, &Loader{Source: d, BatchSize: 32, Shuffle: true, Seed: 43}, 0)
	if !slices.Equal(a, b) {
		t.Error("same seed and epoch gave different orders")
	}
	if slices.Equal(a, c) {
		t.Error("epochs 0 and 1 gave the same order")
	}
	if slices.Equal(a, e) {
		t.Error("seeds 42 and 43 gave the same order")
	}
	if !slices.Equal(a, l.Order(0)) {
		t.Error("Epoch does not follow Order")
	}
	sorted := slices.Sorted(slices.Values(c))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("epoch 1 is not a permutation")
		}
	}
}

func TestLoaderTransform(t *testing.T) {
	d := indexDataset(50)
	// The rng an example sees depends on Seed, epoch and position only: the
	// same draws come out with 1 and 4 workers, in the same places.
	var draws [2][]float32
	for run, workers := range []int{1, 4} {
		l := &Loader{Source: d, BatchSize: 8, Seed: 3, Workers: workers, Transform: func(x []float32, rng *rand.Rand) {
			x[0] = -1
			x[2] = float32(rng.Float64())
		}}
		for b := range l.Epoch(2) {
			for k := range len(b.Y) {
				if b.X.Data()[4*k] != -1 || b.X.Data()[4*k+1] != float32(b.Index[k]) {
					t.Fatal("Transform not applied to each example")
				}
				draws[run] = append(draws[run], b.X.Data()[4*k+2])
			}
		}
	}
	if len(draws[0]) != 50 || !slices.Equal(draws[0], draws[1]) {
		t.Errorf("transform rng depends on the worker count: %v vs %v", draws[0][:4], draws[1][:4])
	}
	if slices.Equal(draws[0][:25], draws[0][25:]) {
		t.Error("examples got the same random draws")
	}
}

func TestLoaderWorkerPanicReachesCaller(t *testing.T) {
	l := &Loader{Source: indexDataset(20), BatchSize: 4, Transform: func(x []float32, _ *rand.Rand) {
		if x[0] == 13 {
			panic("data: boom")
		}
	}}
	mustPanic(t, "boom", func() {
		for range l.Epoch(0) {
		}
	})
	mustPanic(t, "BatchSize is 0", func() { (&Loader{Source: indexDataset(1)}).Epoch(0) })
}

// settledGoroutines waits until the goroutine count drops to at most want.
func settledGoroutines(want int) int {
	n := runtime.NumGoroutine()
	for range 200 {
		if n <= want {
			break
		}
		time.Sleep(5 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

func TestLoaderEarlyBreakNoLeak(t *testing.T) {
	d := indexDataset(1000)
	base := runtime.NumGoroutine()
	for i := range 50 {
		l := &Loader{Source: d, BatchSize: 4, Shuffle: true, Seed: uint64(i), Prefetch: 1 + i%4}
		seen := 0
		for range l.Epoch(i) {
			seen++
			if seen == 1+i%5 {
				break
			}
		}
		if n := settledGoroutines(base); n > base {
			t.Fatalf("after break: %d goroutines, %d before", n, base)
		}
	}
	// A consumer panic also stops the worker.
	func() {
		defer func() { _ = recover() }()
		for range (&Loader{Source: d, BatchSize: 4}).Epoch(0) {
			panic("consumer")
		}
	}()
	if n := settledGoroutines(base); n > base {
		t.Fatalf("%d goroutines, %d before", n, base)
	}
}

func TestLoaderConcurrentEpochs(t *testing.T) {
	// Two epochs of one Loader may run at the same time.
	d := indexDataset(100)
	l := &Loader{Source: d, BatchSize: 7, Shuffle: true, Seed: 1}
	done := make(chan []int)
	for e := range 2 {
		go func() {
			var order []int
			for b := range l.Epoch(e) {
				order = append(order, b.Index...)
			}
			done <- order
		}()
	}
	a, b := <-done, <-done
	if len(a) != 100 || len(b) != 100 || slices.Equal(a, b) {
		t.Errorf("concurrent epochs: %d and %d indices", len(a), len(b))
	}
}

func TestLoaderMNISTBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes MNIST")
	}
	train, _, err := MNIST()
	if err != nil {
		t.Fatal(err)
	}
	l := &Loader{Source: train, BatchSize: 64, Shuffle: true, Seed: 1}
	if l.NumBatches() != 938 {
		t.Errorf("NumBatches %d, want 938", l.NumBatches())
	}
	for b := range l.Epoch(0) {
		if s := b.X.Shape(); !slices.Equal(s, []int{64, 1, 28, 28}) {
			t.Fatalf("batch shape %v", s)
		}
		break
	}
}

// EpochFrom yields exactly the batches Epoch yields after its first ones,
// indices and augmentation alike.
func TestLoaderEpochFrom(t *testing.T) {
	d := indexDataset(50)
	l := &Loader{Source: d, BatchSize: 8, Shuffle: true, Seed: 5, Workers: 3, Transform: func(x []float32, rng *rand.Rand) {
		x[2] = float32(rng.Float64())
	}}
	type got struct {
		index []int
		x     []float32
	}
	collect := func(seq func(func(Batch) bool)) []got {
		var out []got
		for b := range seq {
			out = append(out, got{slices.Clone(b.Index), slices.Clone(b.X.Data())})
		}
		return out
	}
	all := collect(l.Epoch(1))
	if len(all) != 7 {
		t.Fatalf("%d batches, want 7", len(all))
	}
	for _, first := range []int{0, 1, 4, 6, 7, 9} {
		rest := collect(l.EpochFrom(1, first))
		want := all[min(first, len(all)):]
		if len(rest) != len(want) {
			t.Fatalf("EpochFrom(1, %d): %d batches, want %d", first, len(rest), len(want))
		}
		for i := range rest {
			if !slices.Equal(rest[i].index, want[i].index) || !slices.Equal(rest[i].x, want[i].x) {
				t.Fatalf("EpochFrom(1, %d): batch %d differs from Epoch's batch %d", first, i, first+i)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("EpochFrom with a negative batch did not panic")
		}
	}()
	l.EpochFrom(1, -1)
}
