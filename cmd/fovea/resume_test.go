package main

import (
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/train"
)

// resumeSpec is a small CNN with what a resume must restore besides the
// weights: batch-norm statistics and two dropout layers, whose generators
// the checkpoint saves. Its 600,000 parameters make a checkpoint
// (with AdamW's two moments) of 7 MB, so a kill often lands in a save.
const resumeSpec = `name: droppy
input: [1, 28, 28]
layers:
  - conv: {out: 8, kernel: 5}
  - batchnorm
  - relu
  - maxpool: {kernel: 2}
  - dropout: {p: 0.2}
  - linear: {out: 512}
  - relu
  - dropout: {p: 0.5}
  - linear: {out: classes}
`

// resumeArgs is a small run of the spec in droppy.yaml: 2,000 images, 2
// epochs of 15 steps, with augmentation, at a fixed thread count.
var resumeArgs = []string{"train", "--train-limit", "2000", "--test-limit", "200", "--model", "droppy.yaml",
	"--epochs", "2", "--threads", "2", "--seed", "3", "--augment", "crop:2", "--quiet"}

// resumeDir returns a temporary directory holding droppy.yaml.
func resumeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "droppy.yaml"), []byte(resumeSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// killWhen starts fovea with args in dir, waits until ready reports true
// (polled every 2 ms, for up to 20 s), then waits delay and kills the
// process with SIGKILL. It returns whether the process was still running
// when killed.
func killWhen(t *testing.T, dir string, ready func() bool, delay time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(foveaBin, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !ready() {
		select {
		case err := <-exited:
			t.Fatalf("fovea %s ended before it was killed (%v):\n%s", strings.Join(args, " "), err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("fovea %s: nothing to wait for after 20 s:\n%s", strings.Join(args, " "), stderr.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(delay)
	killed := cmd.Process.Kill() == nil
	err := <-exited
	return killed && err != nil && !cmd.ProcessState.Success()
}

// hasCheckpoint reports whether a step checkpoint of base exists.
func hasCheckpoint(base string) func() bool {
	return func() bool {
		c, _ := train.Checkpoints(base)
		return len(c) > 0
	}
}

// sameTensors fails t unless the checkpoints at a and b hold the same
// tensors, bit for bit (optimizer state, if any, included).
func sameTensors(t *testing.T, a, b string) {
	t.Helper()
	fa, err := checkpoint.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := checkpoint.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(fa.Tensors) != len(fb.Tensors) {
		t.Fatalf("%s has %d tensors, %s %d", a, len(fa.Tensors), b, len(fb.Tensors))
	}
	for _, x := range fa.Tensors {
		y, ok := fb.Tensor(x.Name)
		if !ok {
			t.Errorf("%s lacks %s", b, x.Name)
			continue
		}
		xd, yd := x.Value.Data(), y.Data()
		for i := range xd {
			if math.Float32bits(xd[i]) != math.Float32bits(yd[i]) {
				t.Errorf("%s[%d]: %v in %s, %v in %s", x.Name, i, xd[i], a, yd[i], b)
				break
			}
		}
	}
}

// TestResumeAfterKill is the acceptance test of crash-safe resume: a
// training run killed with SIGKILL in the middle of an epoch and resumed
// from its last step checkpoint ends with the same weights, bit for bit,
// as the same run uninterrupted.
func TestResumeAfterKill(t *testing.T) {
	dir := resumeDir(t)
	mustSucceed(t, dir, append(resumeArgs, "--out", "ref.safetensors")...)

	base := filepath.Join(dir, "run.safetensors")
	args := append(resumeArgs, "--out", "run.safetensors", "--checkpoint-every", "2", "--keep-last", "2")
	// The first checkpoint is written after step 2 of 15: kill right then.
	if !killWhen(t, dir, hasCheckpoint(base), 0, args...) {
		t.Fatal("the run finished before it could be killed")
	}
	if _, err := os.Stat(base); err == nil {
		t.Fatal("the killed run wrote its final checkpoint")
	}
	ckpts, err := train.Checkpoints(base)
	if err != nil || len(ckpts) == 0 {
		t.Fatalf("no step checkpoint after the kill (%v)", err)
	}
	last := ckpts[len(ckpts)-1]
	st, err := train.ReadState(last)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed after %s: epoch %d, step %d of %d", filepath.Base(last), st.Epoch, st.Step, st.StepsPerEpoch)
	if st.Step == 0 {
		t.Errorf("the kill did not land mid-epoch")
	}

	// The recipe, the output path and the checkpointing come from the
	// checkpoint; a recipe flag that disagrees is refused.
	if r := fovea(t, dir, "train", "--resume", last, "--lr", "0.5"); r.code == 0 || !strings.Contains(r.stderr, "--lr 0.5 conflicts with the recipe") {
		t.Errorf("resume with another --lr: exit %d, stderr %s", r.code, r.stderr)
	}
	mustSucceed(t, dir, "train", "--resume", last, "--quiet", "--model", "droppy.yaml")
	sameTensors(t, filepath.Join(dir, "ref.safetensors"), base)

	// The final step checkpoint is the uninterrupted run's too, and loads
	// as a model.
	final := train.StepPath(base, 2*st.StepsPerEpoch)
	mustSucceed(t, dir, append(resumeArgs, "--out", "again.safetensors", "--checkpoint-every", "30")...)
	sameTensors(t, final, train.StepPath(filepath.Join(dir, "again.safetensors"), 30))
	r := mustSucceed(t, dir, "eval", "--model", final, "--limit", "200", "--json")
	if !strings.Contains(r.stdout, "accuracy") {
		t.Errorf("eval of a step checkpoint printed %q", r.stdout)
	}
}

// TestCheckpointCrashSafety kills runs that save a checkpoint every step
// at random moments, many during a save: every checkpoint file left must
// load with a valid checksum, and the temporary files of interrupted saves
// must not look like checkpoints.
func TestCheckpointCrashSafety(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const runs = 16
	killed := 0
	for i := range runs {
		sub := filepath.Join(dir, "run"+string(rune('a'+i)))
		if err := os.Mkdir(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "droppy.yaml"), []byte(resumeSpec), 0o644); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rng.IntN(150)) * time.Millisecond
		if killWhen(t, sub, hasCheckpoint(filepath.Join(sub, "m.safetensors")), delay,
			append(resumeArgs, "--out", "m.safetensors", "--checkpoint-every", "1", "--keep-last", "3")...) {
			killed++
		}
	}
	var files, temps int
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		name := d.Name()
		switch {
		case strings.Contains(name, ".tmp-"):
			temps++
			if strings.HasSuffix(name, ".safetensors") {
				t.Errorf("temporary file %s looks like a checkpoint", path)
			}
		case name == "droppy.yaml":
		case strings.HasSuffix(name, ".safetensors"):
			files++
			if _, err := checkpoint.ReadFile(path); err != nil {
				t.Errorf("left behind a bad checkpoint: %v", err)
			} else if strings.Contains(name, ".step") {
				if _, err := train.ReadState(path); err != nil {
					t.Error(err)
				}
			}
		default:
			t.Errorf("unexpected file %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d runs killed, %d checkpoints left (all valid), %d temporary files of interrupted saves", killed, files, temps)
	if killed < runs/2 || files == 0 {
		t.Errorf("only %d of %d runs killed mid-training, %d checkpoints", killed, runs, files)
	}
}
