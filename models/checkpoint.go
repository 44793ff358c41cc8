package models

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/nn"
)

// Meta is what a Fovea checkpoint records about its model, so that the file
// alone rebuilds it and prepares its input.
type Meta struct {
	Model      string    // registry name, or SpecPrefix and the spec's name
	Options    Options   // build options
	Classes    []string  // class names, index = label
	InputShape [3]int    // (C, H, W) the model expects
	Mean, Std  []float32 // per-channel normalization applied to [0, 1] pixels
	// Spec is the YAML text of the architecture spec ([ParseSpec]) the
	// model was built from, or "" for a registered model.
	Spec string
	// Temperature, if positive, is the softmax temperature T fitted by
	// temperature scaling: the model's calibrated probabilities are
	// softmax(logits / T). 0 means none (T = 1).
	Temperature float64
	// Data records the data the model was trained and tested on, or is
	// nil (checkpoints written before Fovea recorded it, imported models).
	Data *DataSpec
}

// DataSpec records the data of a training run (`fovea train`'s flags), so
// that evaluation can rebuild the split the run tested on from the
// checkpoint alone. Paths are kept twice: as given, relative to the folder
// training ran in, and absolute.
type DataSpec struct {
	// Data is the --data value as given: a spec ("mnist", "npz:b.npz",
	// "cifar10:DIR") or the path of a folder or archive. DataAbs is the
	// same with its path made absolute ("" when it has no path or the
	// path was absolute).
	Data    string `json:"data"`
	DataAbs string `json:"data_abs,omitempty"`
	// TestData is --test-data, the separate test set, if one was given;
	// TestDataAbs its absolute form, as DataAbs.
	TestData    string `json:"test_data,omitempty"`
	TestDataAbs string `json:"test_data_abs,omitempty"`
	// ValSplit, when positive, is the fraction of Data held out for
	// testing (data.StratifiedSplit with Seed), because Data has no test
	// split and no TestData was given.
	ValSplit float64 `json:"val_split,omitempty"`
	Seed     uint64  `json:"seed,omitempty"`
	// Size is the (H, W) and Channels the channel count image folders
	// were decoded to.
	Size     [2]int `json:"size"`
	Channels int    `json:"channels"`
}

// check validates a DataSpec read from a file.
func (d *DataSpec) check() error {
	switch {
	case d.Data == "":
		return fmt.Errorf("no \"data\"")
	case !(d.ValSplit >= 0 && d.ValSplit < 1):
		return fmt.Errorf("val_split %g is not in [0, 1)", d.ValSplit)
	case d.Size[0] < 0 || d.Size[1] < 0 || d.Channels < 0:
		return fmt.Errorf("size %v or channels %d is negative", d.Size, d.Channels)
	}
	return nil
}

// normalize is the JSON form of Meta.Mean and Meta.Std.
type normalize struct {
	Mean []float32 `json:"mean"`
	Std  []float32 `json:"std"`
}

// Save writes model's parameters and buffers with meta to path as a
// safetensors checkpoint (atomically: an existing file is replaced only by
// a complete new one).
func Save(path string, model nn.Layer, meta Meta) error {
	md, err := meta.Metadata()
	if err != nil {
		return err
	}
	return checkpoint.Save(path, model, md)
}

// Metadata returns meta as the checkpoint metadata [Save] writes and
// [Load] reads, for writers of other checkpoints (the training state of
// package train) that eval and predict should load as well.
func (meta Meta) Metadata() (map[string]string, error) {
	opts, err := json.Marshal(meta.Options)
	if err != nil {
		return nil, err
	}
	classes, err := json.Marshal(meta.Classes)
	if err != nil {
		return nil, err
	}
	norm, err := json.Marshal(normalize{meta.Mean, meta.Std})
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		checkpoint.KeyModel:        meta.Model,
		checkpoint.KeyModelOptions: string(opts),
		checkpoint.KeyClasses:      string(classes),
		checkpoint.KeyInputShape:   fmt.Sprintf("%dx%dx%d", meta.InputShape[0], meta.InputShape[1], meta.InputShape[2]),
		checkpoint.KeyNormalize:    string(norm),
	}
	if meta.Spec != "" {
		md[checkpoint.KeySpec] = meta.Spec
	}
	if meta.Temperature != 0 {
		if !(meta.Temperature > 0) || math.IsInf(meta.Temperature, 0) {
			return nil, fmt.Errorf("models: temperature %g must be a positive number", meta.Temperature)
		}
		md[checkpoint.KeyTemperature] = strconv.FormatFloat(meta.Temperature, 'g', -1, 64)
	}
	if meta.Data != nil {
		js, err := json.Marshal(meta.Data)
		if err != nil {
			return nil, err
		}
		md[checkpoint.KeyData] = string(js)
	}
	return md, nil
}

// Load reads a checkpoint written by [Save], rebuilds its model from the
// metadata (from the spec in [checkpoint.KeySpec] when there is one, else
// from the registry) and loads the weights. The model is returned in
// evaluation mode.
func Load(path string) (nn.Layer, Meta, error) {
	f, err := checkpoint.ReadFile(path)
	if err != nil {
		return nil, Meta{}, err
	}
	meta, err := parseMeta(path, f.Metadata)
	if err != nil {
		return nil, Meta{}, err
	}
	var model nn.Layer
	var want [3]int
	if meta.Spec != "" {
		spec, err := ParseSpec(path+" "+checkpoint.KeySpec, []byte(meta.Spec))
		if err != nil {
			return nil, Meta{}, err
		}
		if model, err = spec.Build(meta.Options); err != nil {
			return nil, Meta{}, err
		}
		want = model.(*SpecModel).Input
	} else {
		if meta.Options.NumClasses == 0 {
			meta.Options.NumClasses = classifierClasses(f, meta.Model)
		}
		if model, err = New(meta.Model, meta.Options); err != nil {
			return nil, Meta{}, fmt.Errorf("%s: %w", path, err)
		}
		info, _ := Lookup(meta.Model)
		want = info.Input
		if meta.Options.InChannels > 0 {
			want[0] = meta.Options.InChannels
		}
		if info.AnySize && meta.InputShape[1] > 0 && meta.InputShape[2] > 0 {
			// Trained at the size of its data.
			want[1], want[2] = meta.InputShape[1], meta.InputShape[2]
		}
	}
	// Most models take inputs of a fixed size: refuse metadata that
	// promises another (it would panic in Forward).
	if meta.InputShape != want {
		return nil, Meta{}, fmt.Errorf("%s: metadata %q says %dx%dx%d but model %q built with these options takes %dx%dx%d",
			path, checkpoint.KeyInputShape, meta.InputShape[0], meta.InputShape[1], meta.InputShape[2], meta.Model, want[0], want[1], want[2])
	}
	if err := checkpoint.LoadInto(model, f); err != nil {
		return nil, Meta{}, fmt.Errorf("%s: weights do not fit model %q: %w", path, meta.Model, err)
	}
	nn.SetTraining(model, false)
	return model, meta, nil
}

// classifierClasses returns the number of classes of checkpoint f of a
// zoo ImageNet architecture from its classifier weight's shape, else 0. A
// checkpoint whose options leave the classes out (0, the default) keeps
// them so although that default changed from 10 to 1000.
func classifierClasses(f *checkpoint.File, model string) int {
	a, err := LookupTorchvision(model)
	if err != nil {
		return 0
	}
	if w, ok := f.Tensor(a.Classifier); ok && w.Dims() == 2 {
		return w.Dim(0)
	}
	return 0
}

// ParseMetadata reads a Meta from the fovea.* metadata keys (as
// [Meta.Metadata] writes them, in a checkpoint or an exported ONNX file's
// metadata_props); path names the file in errors.
func ParseMetadata(path string, md map[string]string) (Meta, error) { return parseMeta(path, md) }

func parseMeta(path string, md map[string]string) (Meta, error) {
	var m Meta
	m.Model = md[checkpoint.KeyModel]
	if m.Model == "" {
		return m, fmt.Errorf("%s: not a Fovea model checkpoint: metadata has no %q", path, checkpoint.KeyModel)
	}
	m.Spec = md[checkpoint.KeySpec]
	field := func(key string, dst any) error {
		v, ok := md[key]
		if !ok {
			return nil
		}
		if err := json.Unmarshal([]byte(v), dst); err != nil {
			return fmt.Errorf("%s: metadata %q: %v", path, key, err)
		}
		return nil
	}
	var norm normalize
	for _, e := range []error{
		field(checkpoint.KeyModelOptions, &m.Options),
		field(checkpoint.KeyClasses, &m.Classes),
		field(checkpoint.KeyNormalize, &norm),
	} {
		if e != nil {
			return m, e
		}
	}
	m.Mean, m.Std = norm.Mean, norm.Std
	if _, ok := md[checkpoint.KeyData]; ok {
		m.Data = new(DataSpec)
		if err := field(checkpoint.KeyData, m.Data); err != nil {
			return m, err
		}
		if err := m.Data.check(); err != nil {
			return m, fmt.Errorf("%s: metadata %q: %v", path, checkpoint.KeyData, err)
		}
	}
	if s, ok := md[checkpoint.KeyTemperature]; ok {
		t, err := strconv.ParseFloat(s, 64)
		if err != nil || !(t > 0) || math.IsInf(t, 0) {
			return m, fmt.Errorf("%s: metadata %q: %q is not a positive number", path, checkpoint.KeyTemperature, s)
		}
		m.Temperature = t
	}
	if s, ok := md[checkpoint.KeyInputShape]; ok {
		parts := strings.Split(s, "x")
		if len(parts) != 3 {
			return m, fmt.Errorf("%s: metadata %q: %q is not CxHxW", path, checkpoint.KeyInputShape, s)
		}
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v < 1 {
				return m, fmt.Errorf("%s: metadata %q: %q is not CxHxW", path, checkpoint.KeyInputShape, s)
			}
			m.InputShape[i] = v
		}
	} else if m.Spec != "" {
		if spec, err := ParseSpec(path+" "+checkpoint.KeySpec, []byte(m.Spec)); err == nil {
			m.InputShape = spec.Input()
			if m.Options.InChannels > 0 {
				m.InputShape[0] = m.Options.InChannels
			}
		}
	} else if info, err := Lookup(m.Model); err == nil {
		m.InputShape = info.Input
		if m.Options.InChannels > 0 {
			m.InputShape[0] = m.Options.InChannels
		}
	}
	if len(m.Mean) != len(m.Std) || (len(m.Mean) != 0 && len(m.Mean) != m.InputShape[0]) {
		return m, fmt.Errorf("%s: metadata %q: mean and std need one value per input channel", path, checkpoint.KeyNormalize)
	}
	for i := range m.Std {
		if !(m.Std[i] > 0) || math.IsInf(float64(m.Std[i]), 0) || math.IsNaN(float64(m.Mean[i])) || math.IsInf(float64(m.Mean[i]), 0) {
			return m, fmt.Errorf("%s: metadata %q: mean %g and std %g of channel %d: std must be positive and both finite", path, checkpoint.KeyNormalize, m.Mean[i], m.Std[i], i)
		}
	}
	return m, nil
}
