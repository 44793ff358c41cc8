package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/models"
)

// printConfigOf runs `fovea train ARGS --print-config` in dir and returns
// the recipe it printed.
func printConfigOf(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return mustSucceed(t, dir, append(append([]string{"train"}, args...), "--print-config")...).stdout
}

// TestRecipeFiles checks every recipe shipped under recipes/: each is
// accepted as a run would check it (model, augmentation, optimizer, …),
// and what --print-config prints for it is itself a recipe that prints
// the same. The MNIST recipe is the default run.
func TestRecipeFiles(t *testing.T) {
	files, err := filepath.Glob("../../recipes/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("recipes/: %d files (%v)", len(files), err)
	}
	dir := t.TempDir()
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			t.Fatal(err)
		}
		got := printConfigOf(t, dir, "--config", abs)
		again := filepath.Join(dir, "printed.yaml")
		if err := os.WriteFile(again, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		if back := printConfigOf(t, dir, "--config", again); back != got {
			t.Errorf("%s: the printed recipe does not print the same:\n%s\nthen\n%s", f, got, back)
		}
		if !strings.Contains(got, "\nmodel: ") || !strings.Contains(got, "\nepochs: ") {
			t.Errorf("%s: printed recipe lacks keys:\n%s", f, got)
		}
	}
	if def, mnist := printConfigOf(t, dir), printConfigOf(t, dir, "--config", abs(t, "../../recipes/mnist-cnn.yaml")); def != mnist {
		t.Errorf("recipes/mnist-cnn.yaml is not the default run:\n%s\nvs the defaults\n%s", mnist, def)
	}
}

// abs returns path made absolute, failing t if it cannot be.
func abs(t *testing.T, path string) string {
	t.Helper()
	a, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestRecipeOverride checks that flags given with --config win over the
// file, and that the file's values of each type (numbers, text, lists,
// booleans) reach the run.
func TestRecipeOverride(t *testing.T) {
	dir := t.TempDir()
	recipe := "model: lenet5\nepochs: 7\nlr: 5e-2\noptimizer: sgd\nlr-mult: [fc=1, '*=0.1']\nno-compile: true\nsize: 28x28\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	got := printConfigOf(t, dir, "--config", "r.yaml", "--epochs", "2", "--seed", "5")
	for _, want := range []string{"\nmodel: lenet5\n", "\nepochs: 2\n", "\nlr: 0.05\n", "\noptimizer: sgd\n", "\nseed: 5\n",
		"\nlr-mult: [fc=1, '*=0.1']\n", "\nno-compile: true\n", "\nsize: 28x28\n", "\nschedule: onecycle\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("printed recipe lacks %q:\n%s", want, got)
		}
	}
	// A comma list is a list too, and a flag's list replaces the file's.
	if err := os.WriteFile(filepath.Join(dir, "l.yaml"), []byte("lr-mult: fc=1,*=0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := printConfigOf(t, dir, "--config", "l.yaml"); !strings.Contains(got, "\nlr-mult: [fc=1, '*=0.2']\n") {
		t.Errorf("comma list: %s", got)
	}
	if got := printConfigOf(t, dir, "--config", "l.yaml", "--lr-mult", "fc=2"); !strings.Contains(got, "\nlr-mult: [fc=2]\n") {
		t.Errorf("--lr-mult over the file's: %s", got)
	}
}

// TestRecipeErrors checks the recipe files fovea refuses: one error that
// names the file, line and key at fault.
func TestRecipeErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text string
		want       string
	}{
		{"unknown", "model: lenet5\nepoch: 5\n", `unknown.yaml:2: unknown key "epoch" (did you mean "epochs"?)`},
		{"typo-far", "colour: red\n", `typo-far.yaml:1: unknown key "colour" (known: model, data,`},
		{"twice", "lr: 0.1\nepochs: 2\nlr: 0.2\n", `twice.yaml:3: key "lr" given twice`},
		{"text-for-number", "\nlr: fast\n", `text-for-number.yaml:2: key "lr": want a number, got "fast"`},
		{"fraction-for-count", "epochs: 2.5\n", `fraction-for-count.yaml:1: key "epochs": want a whole number, got "2.5"`},
		{"list-for-number", "lr: [1, 2]\n", `list-for-number.yaml:1: key "lr": want a number, got a list`},
		{"number-for-bool", "no-compile: 1\n", `number-for-bool.yaml:1: key "no-compile": want true or false, got "1"`},
		{"map-for-text", "model:\n  name: x\n", `map-for-text.yaml:2: key "model": want a text value, got a mapping`},
		{"empty-value", "optimizer:\n", `empty-value.yaml:1: key "optimizer": want a text value, got nothing`},
		{"nested-list", "freeze: [[a]]\n", `nested-list.yaml:1: key "freeze": want a list of names`},
		{"negative-seed", "seed: -1\n", `negative-seed.yaml:1: key "seed": want a whole number ≥ 0, got "-1"`},
		{"not-a-mapping", "- epochs: 2\n", `not-a-mapping.yaml:1: a recipe is a mapping of flag names to values`},
		{"syntax", "epochs: 2\nlr: [0.1\n", `syntax.yaml:`},
		{"two-docs", "epochs: 2\n---\nlr: 1\n", `two-docs.yaml: more than one YAML document`},
		{"alias", "a: &x 2\n", `alias.yaml:1: unknown key "a"`},
		{"alias-value", "epochs: &x 2\nbatch-size: *x\n", `alias-value.yaml:2: key "batch-size": aliases are not supported`},
		// Values of the right type that the run refuses: the flag's
		// error, prefixed with where the file set it.
		{"zero-epochs", "model: lenet5\nepochs: 0\n", `zero-epochs.yaml:2: key "epochs": --epochs 0: must be at least 1`},
		{"bad-optimizer", "optimizer: sgdd\n", `bad-optimizer.yaml:1: key "optimizer": --optimizer "sgdd": must be one of sgd, adam, adamw`},
		{"bad-augment", "augment: flip:2\n", `bad-augment.yaml:1: key "augment": --augment:`},
		{"bad-model", "model: resnet21\n", `bad-model.yaml:1: key "model": --model:`},
		{"translate-too-far", "model: lenet5\naugment: translate:30\n", `translate-too-far.yaml:2: key "augment": --augment: augment: translate:30 on 28x28 images`},
	} {
		path := filepath.Join(dir, tc.name+".yaml")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		r := fovea(t, dir, "train", "--config", tc.name+".yaml", "--print-config")
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
			t.Errorf("%s: exit %d, stderr %q; want one line with %q", tc.name, r.code, r.stderr, tc.want)
		}
	}
	if r := fovea(t, dir, "train", "--config", "missing.yaml"); r.code == 0 || !strings.Contains(r.stderr, "--config: open missing.yaml") {
		t.Errorf("missing file: exit %d, stderr %q", r.code, r.stderr)
	}
	// An empty recipe changes nothing.
	if err := os.WriteFile(filepath.Join(dir, "empty.yaml"), []byte("# nothing yet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, def := printConfigOf(t, dir, "--config", "empty.yaml"), printConfigOf(t, dir); got != def {
		t.Errorf("empty recipe:\n%s\nvs the defaults\n%s", got, def)
	}
}

// TestRecipeCheckpoint checks that a run's checkpoints keep its recipe:
// --config CHECKPOINT repeats it (flags override it, the run's settings
// are not taken), --resume checks a recipe file against it as it checks
// flags, and a checkpoint without a recipe is refused.
func TestRecipeCheckpoint(t *testing.T) {
	dir := t.TempDir()
	recipe := "model: lenet5\ntrain-limit: 512\ntest-limit: 100\nepochs: 1\nbatch-size: 64\nlr: 0.02\noptimizer: sgd\nthreads: 1\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(recipe), 0o644); err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, dir, "train", "--config", "r.yaml", "--quiet", "--out", "m.safetensors", "--checkpoint-every", "8")
	want := printConfigOf(t, dir, "--config", "r.yaml", "--threads", "0")
	if got := printConfigOf(t, dir, "--config", "m.safetensors"); got != want {
		t.Errorf("--config m.safetensors:\n%s\nwant the run's recipe (without its settings)\n%s", got, want)
	}
	if got := printConfigOf(t, dir, "--config", "m.safetensors", "--seed", "2"); !strings.Contains(got, "\nseed: 2\n") || !strings.Contains(got, "\nlr: 0.02\n") {
		t.Errorf("--config m.safetensors --seed 2:\n%s", got)
	}
	// --resume with a recipe file: its values must agree, as flags must.
	step := filepath.Join(dir, "m.step0000008.safetensors")
	if _, err := os.Stat(step); err != nil {
		t.Fatalf("step checkpoint: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.yaml"), []byte("lr: 0.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := fovea(t, dir, "train", "--resume", step, "--config", "other.yaml"); r.code == 0 || !strings.Contains(r.stderr, `other.yaml:1: key "lr": --lr 0.5 conflicts with the recipe`) {
		t.Errorf("--resume with a conflicting recipe: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := printConfigOf(t, dir, "--resume", step, "--config", "r.yaml"); !strings.Contains(got, "\nlr: 0.02\n") || !strings.Contains(got, "\nmodel: lenet5\n") {
		t.Errorf("--resume with the same recipe:\n%s", got)
	}
	// A checkpoint that fovea train did not write has no recipe.
	m, err := models.New("lenet5", models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.Save(filepath.Join(dir, "bare.safetensors"), m, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if r := fovea(t, dir, "train", "--config", "bare.safetensors"); r.code == 0 || !strings.Contains(r.stderr, "bare.safetensors: the checkpoint has no") {
		t.Errorf("--config of a checkpoint without a recipe: exit %d, stderr %q", r.code, r.stderr)
	}
}

// FuzzParseRecipe feeds arbitrary bytes to the recipe parser: it returns
// values or an error naming the file, never panics, and every value it
// returns is accepted by its flag.
func FuzzParseRecipe(f *testing.F) {
	for _, s := range []string{"model: lenet5\nepochs: 3\n", "freeze: [a, b]\nlr-mult: fc=1,*=0.1\n", "lr: [1\n", "- 1\n",
		"a: &x 1\nb: *x\n", "epochs: 0x10\nseed: 1e3\n", "no-compile: yes\n", "---\n...\n", "{epochs: 2, epochs: 3}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd := newTrainCmd()
		var tf trainFlags
		vals, err := parseRecipe("r.yaml", b, recipeKeys(&tf), cmd.Flags())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "r.yaml") {
				t.Fatalf("error without the file's name: %v", err)
			}
			return
		}
		for name, v := range vals {
			if err := v.set(cmd.Flags().Lookup(name).Value); err != nil {
				t.Fatalf("key %q: parsed value %+v refused by its flag: %v", name, v, err)
			}
		}
	})
}

// TestRecipeCIFAR94Miniature runs recipes/cifar10-94.yaml (airbench94) in
// miniature — 4,096 training images, 2 epochs of batch 256, 500 test
// images — and checks that it learns (well above the 10% of chance), and
// evaluates the result with the recipe's test-time augmentation. The full
// recipe is a benchmark (docs/recipes.md), not a test. It needs CIFAR-10
// from ../shared/datasets (a failure under CI=true, a skip elsewhere).
func TestRecipeCIFAR94Miniature(t *testing.T) {
	skipHeavy(t)
	d, err := filepath.Abs("../../../shared/datasets/cifar10-jpeg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared data set missing under CI: %v", err)
		}
		t.Skipf("shared data set not present: %v", err)
	}
	dir := t.TempDir()
	res := mustSucceed(t, dir, "train", "--config", abs(t, "../../recipes/cifar10-94.yaml"),
		"--data", filepath.Join(d, "cifar10-train-jpeg.tar.gz"), "--test-data", filepath.Join(d, "cifar10-test-jpeg.tar.gz"),
		"--train-limit", "4096", "--test-limit", "500", "--epochs", "2", "--batch-size", "256", "--train-until", "0.bias=1",
		"--out", "m.safetensors", "--json", "--quiet")
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(res.stdout)), &m); err != nil {
		t.Fatalf("train --json printed %q: %v", res.stdout, err)
	}
	if acc := m["test_accuracy"].(float64); acc < 0.25 {
		t.Errorf("test accuracy %.3f after the miniature recipe, want well above chance (≥ 0.25)", acc)
	}
	ev := mustSucceed(t, dir, "eval", "--model", "m.safetensors", "--limit", "500", "--tta", "flip-translate")
	if !strings.Contains(ev.stdout, "accuracy") {
		t.Errorf("eval --tta flip-translate: %s", ev.stdout)
	}
}

// TestDefaultRecipe checks that a stored recipe written before momentum
// and lookahead-decay existed reads them at their defaults, not as 0
// (which the flags refuse).
func TestDefaultRecipe(t *testing.T) {
	r := defaultRecipe()
	if err := json.Unmarshal([]byte(`{"model":"lenet5","epochs":2,"lr":0.1,"optimizer":"sgd"}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Momentum != 0.9 || r.LookaheadDecay != 0.95 || r.Model != "lenet5" {
		t.Errorf("old recipe read as %+v", r)
	}
	var f trainFlags
	cmd := newTrainCmd()
	fl := cmd.Flags()
	for _, fd := range r.fields(&f) {
		if def := fl.Lookup(fd.flag).DefValue; fd.flag == "momentum" || fd.flag == "lookahead-decay" {
			if got := fmt.Sprint(reflect.ValueOf(fd.inRe).Elem().Interface()); got != def {
				t.Errorf("--%s: stored default %s, the flag's %s", fd.flag, got, def)
			}
		}
	}
}
