package tensor

import (
	"math"
	"math/rand/v2"
)

// NewRNG returns a deterministic random source for the given seed. All
// random initialization in Fovea takes an explicit *rand.Rand so a seed
// reproduces a run.
func NewRNG(seed uint64) *rand.Rand {
	return rand.New(NewPCG(seed))
}

// NewPCG returns the generator behind [NewRNG], whose state can be saved
// with MarshalBinary.
func NewPCG(seed uint64) *rand.PCG { return rand.NewPCG(seed, seed^0x9e3779b97f4a7c15) }

// Uniform returns a tensor of the given shape with values drawn uniformly
// from [lo, hi).
func Uniform(rng *rand.Rand, lo, hi float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		v := lo + (hi-lo)*rng.Float32()
		// The sum can round up to hi itself (u = 1-2^-24, lo = 1, hi = 2).
		if v >= hi && lo < hi {
			v = math.Nextafter32(hi, lo)
		}
		t.data[i] = v
	}
	return t
}

// Normal returns a tensor of the given shape with values drawn from a normal
// distribution with the given mean and standard deviation.
func Normal(rng *rand.Rand, mean, std float32, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.data {
		t.data[i] = mean + std*float32(rng.NormFloat64())
	}
	return t
}
