package kernels

import (
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestISAFromEnv checks the reading of $FOVEA_CPU: names, case and spaces,
// and the warning (with the best path kept) for an unknown name or a path
// above what the CPU supports.
func TestISAFromEnv(t *testing.T) {
	for _, c := range []struct {
		best  isa
		value string
		want  isa
		warn  string
	}{
		{isaAVX512, "", isaAVX512, ""},
		{isaAVX512, "avx2", isaAVX2, ""},
		{isaAVX512, " AVX512 ", isaAVX512, ""},
		{isaAVX512, "generic", isaGeneric, ""},
		{isaAVX2, "avx2", isaAVX2, ""},
		{isaAVX2, "avx512", isaAVX2, "FOVEA_CPU=avx512: this CPU and build support at most avx2; running avx2"},
		{isaGeneric, "avx2", isaGeneric, "support at most generic"},
		{isaAVX512, "sse4", isaAVX512, `FOVEA_CPU="sse4" is not one of generic, avx2, avx512; running avx512`},
	} {
		var w strings.Builder
		got := isaFromEnv(c.best, c.value, &w)
		if got != c.want {
			t.Errorf("best %v, %q: got %v, want %v", c.best, c.value, got, c.want)
		}
		if c.warn == "" && w.Len() > 0 || !strings.Contains(w.String(), c.warn) {
			t.Errorf("best %v, %q: warning %q, want one containing %q", c.best, c.value, w.String(), c.warn)
		}
	}
}

// TestCPUEnvSelection checks that every kernel selection of this process
// runs the path $FOVEA_CPU asks for (the CPU's best when it is unset): the
// GEMM micro-kernels listed and chosen, the weight-gradient kernel and the
// vector kernels. TestCPUEnv runs it under each setting.
func TestCPUEnvSelection(t *testing.T) {
	want := isaFromEnv(detectISA(), os.Getenv(CPUEnv), io.Discard)
	t.Logf("kernels run %s", Path())
	if isaBest != want || vecUse != want || Path() != want.String() {
		t.Fatalf("isaBest %v, vector path %v, Path() %q; want %v", isaBest, vecUse, Path(), want)
	}
	if p := Paths(); p[0] != want.String() || p[len(p)-1] != "generic" {
		t.Errorf("Paths() = %v, want %v first and generic last", p, want)
	}
	for _, k := range gemmKernels {
		if p, _ := parseISA(k.path()); p > want {
			t.Errorf("GEMM micro-kernel %s is listed above path %v", k.name, want)
		}
	}
	for _, mn := range [][2]int{{6, 25}, {64, 64}, {120, 400}, {1, 1}} {
		if k := activeGemmKernel(mn[0], mn[1]); k.path() != want.String() {
			t.Errorf("GEMM %d×%d runs %s, want path %v", mn[0], mn[1], k.name, want)
		}
		if k := wgradKernel(mn[0], mn[1]); k.path() != want.String() {
			t.Errorf("weight gradient %d×%d runs %s, want path %v", mn[0], mn[1], k.name, want)
		}
	}
}

// TestCPUEnv runs TestCPUEnvSelection in a fresh process under each value
// of $FOVEA_CPU this CPU supports, one above it (when there is one) and an
// unknown name, and checks the warning of the last two.
func TestCPUEnv(t *testing.T) {
	values := append(Paths(), "bogus")
	if top := detectISA(); top < isaAVX512 {
		values = append(values, (top + 1).String())
	}
	for _, v := range values {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCPUEnvSelection$", "-test.v")
		cmd.Env = append(os.Environ(), CPUEnv+"="+v)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%s: %v\n%s", CPUEnv, v, err, out)
		}
		want, warn := v, false
		if p, ok := parseISA(v); !ok || p > detectISA() {
			want, warn = detectISA().String(), true
		}
		if !strings.Contains(string(out), "kernels run "+want+"\n") {
			t.Errorf("%s=%s: want the kernels to run %s\n%s", CPUEnv, v, want, out)
		}
		if warned := strings.Contains(string(out), "fovea: "+CPUEnv+"="); warned != warn {
			t.Errorf("%s=%s: warned %v, want %v\n%s", CPUEnv, v, warned, warn, out)
		}
	}
}

// TestUsePath checks that UsePath moves every kernel selection to the path
// it names and back, and refuses a path this process cannot run.
func TestUsePath(t *testing.T) {
	before := Path()
	for _, name := range Paths() {
		restore, err := UsePath(name)
		if err != nil {
			t.Fatalf("UsePath(%q): %v", name, err)
		}
		if Path() != name || activeGemmKernel(64, 64).path() != name || wgradKernel(6, 25).path() != name {
			t.Errorf("UsePath(%q): Path %q, GEMM %s, weight gradient %s", name, Path(), activeGemmKernel(64, 64).name, wgradKernel(6, 25).name)
		}
		restore()
		if Path() != before || activeGemmKernel(64, 64).path() != before {
			t.Errorf("after UsePath(%q) restored: Path %q, GEMM %s; want %s", name, Path(), activeGemmKernel(64, 64).name, before)
		}
	}
	bad := []string{"sse4", "AVX2x"}
	if isaBest < isaAVX512 {
		bad = append(bad, (isaBest + 1).String())
	}
	for _, name := range bad {
		if _, err := UsePath(name); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("UsePath(%q): error %v, want one naming it", name, err)
		}
	}
	if !slices.Contains(Paths(), before) {
		t.Errorf("Path() %q is not in Paths() %v", before, Paths())
	}
}
