package kernels

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// isa names an instruction-set path of the kernels, lowest first. Every
// kernel that has assembly picks it from the one path in use: the GEMM
// micro-kernels (sgemm_amd64.go) and the vector kernels (vec.go).
type isa int

const (
	isaGeneric isa = iota // the plain-Go reference loops
	isaAVX2               // AVX2 + FMA, 8 float32 lanes
	isaAVX512             // AVX-512 F + DQ (and AVX2 + FMA), 16 float32 lanes
)

var isaNames = [...]string{"generic", "avx2", "avx512"}

func (p isa) String() string { return isaNames[p] }

// parseISA returns the path named name ("generic", "avx2" or "avx512").
func parseISA(name string) (isa, bool) {
	for p, s := range isaNames {
		if s == name {
			return isa(p), true
		}
	}
	return 0, false
}

// CPUEnv is the environment variable that caps the kernels' instruction-set
// path: "avx512", "avx2" or "generic" (the plain-Go loops). It is read once,
// when the program starts; unset, the kernels run the best path the CPU
// supports. A path the CPU or build lacks, or an unknown name, is reported
// on standard error and the best supported path runs instead.
const CPUEnv = "FOVEA_CPU"

// isaBest is the highest path the kernels may run: the best this build and
// CPU support (detectISA), lowered by $FOVEA_CPU.
var isaBest = isaFromEnv(detectISA(), os.Getenv(CPUEnv), os.Stderr)

// vecUse is the path the vector kernels run; setVecPath lowers it.
var vecUse = isaBest

// isaFromEnv returns the path that value, the setting of CPUEnv, asks for
// when the CPU and build support at most best. An empty value asks for
// best; a name it does not know or a path above best is reported on w and
// gives best.
func isaFromEnv(best isa, value string, w io.Writer) isa {
	name := strings.ToLower(strings.TrimSpace(value))
	if name == "" {
		return best
	}
	p, ok := parseISA(name)
	switch {
	case !ok:
		fmt.Fprintf(w, "fovea: %s=%q is not one of %s; running %s\n", CPUEnv, value, strings.Join(isaNames[:], ", "), best)
		return best
	case p > best:
		fmt.Fprintf(w, "fovea: %s=%s: this CPU and build support at most %s; running %s\n", CPUEnv, name, best, best)
		return best
	}
	return p
}

// vecPaths lists the paths the vector kernels can run, lowest first.
func vecPaths() []isa {
	var ps []isa
	for p := isaGeneric; p <= isaBest; p++ {
		ps = append(ps, p)
	}
	return ps
}

// setVecPath makes the vector kernels run path p (which must be in
// vecPaths) until restore is called: the test hook that forces each path
// in turn. It is not safe to call while kernels run.
func setVecPath(p isa) (restore func()) {
	if p > isaBest {
		panic("kernels: setVecPath: " + p.String() + " not supported by this CPU")
	}
	prev := vecUse
	vecUse = p
	return func() { vecUse = prev }
}

// Path reports the instruction-set path the kernels run: "avx512", "avx2"
// or "generic".
func Path() string { return vecUse.String() }

// Paths lists the paths this build and CPU can run, no higher than
// $FOVEA_CPU, best first; "generic" is always last.
func Paths() []string {
	var ps []string
	for p := isaBest; p >= isaGeneric; p-- {
		ps = append(ps, p.String())
	}
	return ps
}

// UsePath makes every kernel (GEMM micro-kernels and vector kernels) run
// the path name, one of [Paths], until restore is called, so that tests and
// benchmarks can compare the paths in one process; $FOVEA_CPU does the same
// for a whole run. It is not safe to call while kernels run.
func UsePath(name string) (restore func(), err error) {
	p, ok := parseISA(name)
	if !ok || p > isaBest {
		return nil, fmt.Errorf("kernels: path %q is not one of %s", name, strings.Join(Paths(), ", "))
	}
	restoreGemm, ok := forceGemmKernel(name)
	if !ok {
		panic("kernels: UsePath: no GEMM micro-kernel for path " + name)
	}
	restoreVec := setVecPath(p)
	return func() { restoreVec(); restoreGemm() }, nil
}
