package main

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/models"
)

// The evaluation data of eval, calibrate and robustness: the --data a
// command is given or, without it, the data `fovea train` recorded in the
// checkpoint (models.DataSpec): its --test-data, else the test split of
// its --data, else the part of it --val-split held out. Older checkpoints
// and imported models record nothing; an MNIST-shaped one is evaluated on
// the embedded MNIST, any other needs --data. The data's classes must be
// the model's.

// specKinds are the KIND of the --data specs KIND:PATH (data.LoadWith).
var specKinds = []string{"mnist", "fashion-mnist", "idx", "cifar10", "cifar100", "npz", "folder"}

// specPath splits a --data value into its kind prefix ("npz:", or "" for
// a plain path) and its path ("" for the embedded "mnist").
func specPath(spec string) (prefix, path string) {
	if spec == "mnist" {
		return spec, ""
	}
	if kind, arg, ok := strings.Cut(spec, ":"); ok && slices.Contains(specKinds, kind) {
		return kind + ":", arg
	}
	return "", spec
}

// absSpec returns spec with its path made absolute, or "" when spec has
// no path or an absolute one already.
func absSpec(spec string) string {
	prefix, p := specPath(spec)
	if p == "" || filepath.IsAbs(p) {
		return ""
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	return prefix + abs
}

// resolveRecorded returns the form of a recorded spec to load: the
// absolute one if its path exists, else the one as given (relative to the
// working folder) if its path exists. flag names the train flag that gave
// it, ckpt the checkpoint, for the error when neither exists.
func resolveRecorded(given, abs, flag, ckpt string) (string, error) {
	for _, s := range []string{abs, given} {
		if s == "" {
			continue
		}
		if _, p := specPath(s); p == "" {
			return s, nil
		} else if _, err := os.Stat(p); err == nil {
			return s, nil
		}
	}
	also := ""
	if abs != "" {
		also = " (absolute: " + abs + ")"
	}
	return "", fmt.Errorf("%s was trained with %s %s%s, which is not there from this folder: give --data to evaluate on", ckpt, flag, given, also)
}

// evalSets is the evaluation data of a model: pixels in [0, 1], labels in
// the model's class order.
type evalSets struct {
	// test is the split to evaluate; val is a validation split besides it
	// (an .npz's val arrays) or nil.
	test, val *data.Dataset
	// about and valAbout say which data and split test and val are, for
	// the line the commands print.
	about, valAbout string
}

// loadEvalSets loads the evaluation data for the model of ckpt: that of
// spec (--data), else the data recorded in the checkpoint, else, for an
// MNIST-shaped model, the embedded MNIST. Images are decoded at the
// model's input shape; the data's classes must be the model's.
func loadEvalSets(spec string, meta models.Meta, ckpt string) (*evalSets, error) {
	in := meta.InputShape
	opt := data.LoadOptions{FolderOptions: data.FolderOptions{Size: [2]int{in[1], in[2]}, Channels: in[0]}}
	var s *evalSets
	var err error
	switch {
	case spec != "":
		if s, err = loadSpecSets(spec, opt); err != nil {
			return nil, fmt.Errorf("--data %s: %w", spec, err)
		}
	case meta.Data != nil:
		if s, err = loadRecordedSets(*meta.Data, ckpt, opt); err != nil {
			return nil, err
		}
	case mnistShaped(meta):
		if s, err = loadSpecSets("mnist", opt); err != nil {
			return nil, err
		}
		s.about += fmt.Sprintf(" (%s records no training data; its 1x28x28 input and 10 classes fit MNIST)", ckpt)
	default:
		return nil, fmt.Errorf("--data: %s does not record the data it was trained on (a checkpoint from an older Fovea or an imported model): give --data to evaluate on", ckpt)
	}
	for _, d := range []*data.Dataset{s.test, s.val} {
		if d == nil {
			continue
		}
		if err := checkShape(d, meta, ckpt); err != nil {
			return nil, err
		}
		if err := checkClasses(d, meta, ckpt); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// loadSpecSets loads the evaluation sets of a --data spec: an .npz's test
// and val splits, another spec's test split, or all of a dataset without
// one (a CIFAR batch file, an image folder without train/test folders).
func loadSpecSets(spec string, opt data.LoadOptions) (*evalSets, error) {
	prefix, p := specPath(spec)
	if prefix == "npz:" || prefix == "" && strings.EqualFold(filepath.Ext(p), ".npz") {
		_, val, test, err := data.LoadNPZ(p)
		if err != nil {
			return nil, err
		}
		s := &evalSets{test: test, val: val, about: "the test split of " + spec}
		if val != nil {
			s.valAbout = "the validation split of " + spec
		}
		return s, nil
	}
	if strings.EqualFold(filepath.Ext(p), ".bin") && prefix == "" {
		test, err := data.LoadTest(spec, opt)
		if err != nil {
			return nil, err
		}
		return &evalSets{test: test, about: "all of " + spec}, nil
	}
	train, test, err := data.LoadWith(spec, opt)
	if err != nil {
		return nil, err
	}
	if test == nil {
		return &evalSets{test: train, about: "all of " + spec + " (it has no test split)"}, nil
	}
	split := "the test split"
	if base := strings.ToLower(path.Base(test.Name)); base == "val" || base == "valid" || base == "validation" {
		split = "the validation split (" + path.Base(test.Name) + "/)"
	}
	return &evalSets{test: test, about: split + " of " + spec}, nil
}

// loadRecordedSets loads the split a training run recorded in ckpt tested
// on.
func loadRecordedSets(rec models.DataSpec, ckpt string, opt data.LoadOptions) (*evalSets, error) {
	if rec.Size != ([2]int{}) {
		opt.Size = rec.Size
	}
	if rec.Channels > 0 {
		opt.Channels = rec.Channels
	}
	recorded := ", recorded in " + ckpt
	if rec.TestData != "" {
		spec, err := resolveRecorded(rec.TestData, rec.TestDataAbs, "--test-data", ckpt)
		if err != nil {
			return nil, err
		}
		test, err := data.LoadTest(spec, opt)
		if err != nil {
			return nil, fmt.Errorf("--test-data %s%s: %w", spec, recorded, err)
		}
		return &evalSets{test: test, about: "the --test-data set " + spec + recorded}, nil
	}
	spec, err := resolveRecorded(rec.Data, rec.DataAbs, "--data", ckpt)
	if err != nil {
		return nil, err
	}
	if rec.ValSplit == 0 {
		s, err := loadSpecSets(spec, opt)
		if err != nil {
			return nil, fmt.Errorf("--data %s%s: %w", spec, recorded, err)
		}
		s.about += recorded
		if s.valAbout != "" {
			s.valAbout += recorded
		}
		return s, nil
	}
	// The run held a stratified part of the data out for testing: the
	// same labels and seed select the same images again.
	train, _, err := data.LoadWith(spec, opt)
	if err != nil {
		return nil, fmt.Errorf("--data %s%s: %w", spec, recorded, err)
	}
	_, val := data.StratifiedSplit(train, rec.ValSplit, rec.Seed)
	about := fmt.Sprintf("the validation part of %s held out in training (--val-split %g, seed %d)%s", spec, rec.ValSplit, rec.Seed, recorded)
	return &evalSets{test: val, about: about}, nil
}

// mnistShaped reports whether a model fits the embedded MNIST: input
// 1x28x28 and ten classes named 0 to 9 (or unnamed).
func mnistShaped(meta models.Meta) bool {
	if meta.InputShape != [3]int{1, 28, 28} {
		return false
	}
	if len(meta.Classes) == 0 {
		return meta.Options.NumClasses == 0 || meta.Options.NumClasses == 10
	}
	if len(meta.Classes) != 10 {
		return false
	}
	for i, c := range meta.Classes {
		if c != strconv.Itoa(i) {
			return false
		}
	}
	return true
}

// checkShape checks that ds has images of the model's input shape.
func checkShape(ds *data.Dataset, meta models.Meta, ckpt string) error {
	if got := ds.Shape(); got != meta.InputShape {
		return fmt.Errorf("data %s has images of %dx%dx%d but model %s (%s) takes %dx%dx%d",
			ds.Name, got[0], got[1], got[2], ckpt, meta.Model, meta.InputShape[0], meta.InputShape[1], meta.InputShape[2])
	}
	return nil
}

// checkClasses refuses data whose classes are not the model's and
// relabels ds to the model's class order. When the data's classes have
// names of their own (folder names, not the label numbers "0", "1", …
// that formats without names get), it may hold some of the model's
// classes but none other: a test set need not have every class. Otherwise
// the class counts must agree, since label numbers say nothing of what
// the classes are.
func checkClasses(ds *data.Dataset, meta models.Meta, ckpt string) error {
	k := len(meta.Classes)
	if k == 0 {
		k = meta.Options.NumClasses
	}
	if k == 0 { // the model does not say
		return nil
	}
	model := &data.Dataset{Name: ckpt, ClassNames: meta.Classes, NumClasses: k}
	byName := len(meta.Classes) > 0 && ds.ClassNames != nil && !isLabelNumbers(ds.ClassNames)
	if (byName || ds.NumClasses == k) && data.AlignClasses(model, ds) == nil {
		return nil
	}
	return fmt.Errorf("data %s has %d classes (%s) but model %s has %d classes (%s): give --data with the model's classes",
		ds.Name, ds.NumClasses, classList(ds.ClassNames, ds.NumClasses), ckpt, k, classList(meta.Classes, k))
}

// isLabelNumbers reports whether names are "0", "1", … in order: the
// names of classes known only by their label.
func isLabelNumbers(names []string) bool {
	for i, n := range names {
		if n != strconv.Itoa(i) {
			return false
		}
	}
	return true
}

// classList names up to 12 classes of n, for errors.
func classList(names []string, n int) string {
	if names == nil {
		return "unnamed"
	}
	const show = 12
	if len(names) <= show {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:show-1], ", ") + fmt.Sprintf(", … %s (%d in all)", names[len(names)-1], n)
}
