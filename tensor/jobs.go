package tensor

import (
	"sync"

	"github.com/fovea-ml/fovea/internal/kernels"
)

// job is a parallel loop's arguments and body, kept in a pool ([jobs]) so
// that a hot loop run by kernels.For allocates nothing: a closure literal
// capturing its arguments would be a new object on every call, since For
// hands it to the workers. The body, a function of the arguments that
// captures nothing, is called as fn(&args, lo, hi).
type job[A any] struct {
	args A
	fn   func(a *A, lo, hi int)
	body func(lo, hi int) // j.run, bound once
}

func (j *job[A]) run(lo, hi int) { j.fn(&j.args, lo, hi) }

// jobs is a pool of jobs with arguments of type A.
type jobs[A any] struct{ pool sync.Pool }

// get returns a job holding a copy of *args; give it back with put.
func (p *jobs[A]) get(args *A) *job[A] {
	j, _ := p.pool.Get().(*job[A])
	if j == nil {
		j = new(job[A])
		j.body = j.run
	}
	j.args = *args
	return j
}

// put clears j's arguments (they hold the caller's memory) and pools it.
func (p *jobs[A]) put(j *job[A]) {
	var zero A
	j.args, j.fn = zero, nil
	p.pool.Put(j)
}

// For runs fn over [0, n) as kernels.For does, with j's arguments.
func (j *job[A]) For(n, grain int, fn func(a *A, lo, hi int)) {
	j.fn = fn
	kernels.For(n, grain, j.body)
}
