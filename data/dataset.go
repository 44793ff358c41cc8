package data

import (
	"fmt"
	"math"
)

// Source is what a [Loader] reads from: a fixed number of labelled examples
// of one shape. [Dataset] is the in-memory Source; formats too large to hold
// decoded (image folders) can implement it lazily.
type Source interface {
	// Len is the number of examples.
	Len() int
	// Shape is the (C, H, W) shape of every example.
	Shape() [3]int
	// Example writes example i into dst (length C*H*W, NCHW order) and
	// returns its label.
	Example(i int, dst []float32) (label int)
}

// Dataset is a set of labelled images held in memory as float32, channels
// first. Example i is X[i*C*H*W : (i+1)*C*H*W] with label Y[i].
type Dataset struct {
	// Name says where the data came from ("mnist/train"), for messages.
	Name string
	// X holds Len()×C×H×W values in NCHW order.
	X []float32
	// Y holds one label in [0, NumClasses) per example.
	Y []int
	// C, H and W are the channels, height and width of each example.
	C, H, W int
	// NumClasses is the number of label values.
	NumClasses int
	// ClassNames, if not nil, has NumClasses entries naming each label.
	ClassNames []string
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.Y) }

// Shape returns the (C, H, W) shape of one example.
func (d *Dataset) Shape() [3]int { return [3]int{d.C, d.H, d.W} }

// ExampleSize returns C*H*W, the number of values in one example.
func (d *Dataset) ExampleSize() int { return d.C * d.H * d.W }

// Image returns example i's values, sharing d.X.
func (d *Dataset) Image(i int) []float32 {
	d.check(i)
	n := d.ExampleSize()
	return d.X[i*n : (i+1)*n : (i+1)*n]
}

// Example copies example i into dst and returns its label; it implements
// [Source]. It panics if dst is not ExampleSize() long.
func (d *Dataset) Example(i int, dst []float32) int {
	if len(dst) != d.ExampleSize() {
		panic(fmt.Sprintf("data: %s: Example: dst has %d values, want %d (%d×%d×%d)", d.Name, len(dst), d.ExampleSize(), d.C, d.H, d.W))
	}
	copy(dst, d.Image(i))
	return d.Y[i]
}

func (d *Dataset) check(i int) {
	if i < 0 || i >= len(d.Y) {
		panic(fmt.Sprintf("data: %s: index %d out of range [0, %d)", d.Name, i, len(d.Y)))
	}
}

// Subset returns a new dataset with copies of the examples at indices, in
// that order (an index may repeat). It panics on an out-of-range index.
func (d *Dataset) Subset(indices []int) *Dataset {
	n := d.ExampleSize()
	s := d.like(len(indices))
	for j, i := range indices {
		d.check(i)
		copy(s.X[j*n:(j+1)*n], d.X[i*n:(i+1)*n])
		s.Y[j] = d.Y[i]
	}
	return s
}

// Head returns a copy of the first n examples (all of them if n >= Len()).
// It panics if n is negative.
func (d *Dataset) Head(n int) *Dataset {
	if n < 0 {
		panic(fmt.Sprintf("data: %s: Head(%d): negative count", d.Name, n))
	}
	n = min(n, d.Len())
	s := d.like(n)
	copy(s.X, d.X[:n*d.ExampleSize()])
	copy(s.Y, d.Y[:n])
	return s
}

// like returns an empty dataset of n examples with d's shape and classes.
func (d *Dataset) like(n int) *Dataset {
	return &Dataset{
		Name:       d.Name,
		X:          make([]float32, n*d.ExampleSize()),
		Y:          make([]int, n),
		C:          d.C,
		H:          d.H,
		W:          d.W,
		NumClasses: d.NumClasses,
		ClassNames: d.ClassNames,
	}
}

// MeanStd returns the mean and (population) standard deviation of each
// channel over all examples, accumulated in float64.
func (d *Dataset) MeanStd() (mean, std []float32) {
	hw := d.H * d.W
	sum := make([]float64, d.C)
	sq := make([]float64, d.C)
	for i := range d.Len() {
		img := d.Image(i)
		for c := range d.C {
			var s, s2 float64
			for _, v := range img[c*hw : (c+1)*hw] {
				s += float64(v)
				s2 += float64(v) * float64(v)
			}
			sum[c] += s
			sq[c] += s2
		}
	}
	mean = make([]float32, d.C)
	std = make([]float32, d.C)
	count := float64(d.Len() * hw)
	if count == 0 {
		return mean, std
	}
	for c := range d.C {
		m := sum[c] / count
		mean[c] = float32(m)
		std[c] = float32(math.Sqrt(max(sq[c]/count-m*m, 0)))
	}
	return mean, std
}

// Normalize maps every value v of channel c to (v-mean[c])/std[c], in
// place. mean and std have one entry per channel, or one entry for all
// channels; Normalize panics otherwise or if a std is zero.
func (d *Dataset) Normalize(mean, std []float32) {
	pick := func(s []float32, what string) func(int) float32 {
		switch len(s) {
		case 1:
			return func(int) float32 { return s[0] }
		case d.C:
			return func(c int) float32 { return s[c] }
		}
		panic(fmt.Sprintf("data: %s: Normalize: %d %s values for %d channels", d.Name, len(s), what, d.C))
	}
	m, s := pick(mean, "mean"), pick(std, "std")
	hw := d.H * d.W
	for c := range d.C {
		mc, sc := m(c), s(c)
		if sc == 0 {
			panic(fmt.Sprintf("data: %s: Normalize: std of channel %d is zero", d.Name, c))
		}
		for i := range d.Len() {
			off := (i*d.C + c) * hw
			for k, v := range d.X[off : off+hw] {
				d.X[off+k] = (v - mc) / sc
			}
		}
	}
}
