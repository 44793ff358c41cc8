// Package checkpoint reads and writes model weights as safetensors files,
// the format of PyTorch and Hugging Face, so tensors move between Fovea and
// PyTorch by name ("features.0.weight", as in a state_dict).
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON header mapping each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]} plus an optional "__metadata__" object of
// strings, and then the raw little-endian tensor data. [Parse] and
// [ReadFile] accept the dtypes F32, F64, F16, BF16, I64, I32, I16, I8, U64,
// U32, U16, U8 and BOOL and convert every tensor to float32 (PyTorch stores
// batch norm's num_batches_tracked as I64); [Encode] and [WriteFile] write
// F32 only. [WriteFile] and [Save] replace a file atomically, so a crash or
// a full disk never leaves a half-written checkpoint behind.
//
// [Save] stores a model's parameters and buffers ([nn.StateDict]);
// [LoadInto] copies a file's tensors back into a model, refusing a file
// whose tensor names or shapes do not match the model.
//
// # Metadata
//
// Fovea records what is needed to rebuild and use a model in the header's
// metadata, under these keys (constants below); every value is a string:
//
//	fovea.format_version  "1" ([FormatVersion]); Save sets it when absent
//	fovea.model           the model's registry name, e.g. "lenet"
//	fovea.model_options   JSON object of the options the model was built with
//	fovea.classes         JSON list of class names, index = class id
//	fovea.input_shape     one input's shape CxHxW, e.g. "1x28x28"
//	fovea.normalize       JSON {"mean": [...], "std": [...]}, per channel
//	fovea.spec            YAML architecture spec, for models built from one
//	fovea.checksum        "crc32c:" and the CRC-32C (Castagnoli) of the data
//	                      section in 8 hex digits; [WriteFile] and [Save] set it
//	fovea.train_state     JSON position of a training run (package train)
//	fovea.train_recipe    JSON command-line recipe of `fovea train`
//	fovea.temperature     softmax temperature T fitted by `fovea calibrate`:
//	                      probabilities are softmax(logits / T)
//	fovea.data            JSON record of the data `fovea train` trained and
//	                      tested on (its --data, --test-data, held-out split
//	                      and image size), from which eval rebuilds the test
//	                      split
//
// Files without these keys, such as PyTorch's, load all the same; a file
// with fovea.checksum is verified on every read ([Parse]), so a damaged or
// truncated checkpoint fails with
//
//	checkpoint: x.safetensors: checksum mismatch: file is corrupt or truncated (…)
//
// # Training state
//
// A checkpoint written during training (package train) also holds the
// optimizer's buffers, as tensors named [OptimizerPrefix] + parameter name
// + "." + buffer ("optim.fc.weight.momentum", "optim.fc.weight.exp_avg").
// [LoadInto] and [LoadMatching] ignore them, so such a file serves as a
// model checkpoint too.
//
// # Error handling
//
// Everything read from outside returns an error that starts with
// "checkpoint: " and names the file and the field at fault, e.g.
//
//	checkpoint: model.safetensors: tensor "fc.weight": data_offsets [0 40] do not match shape [10 3] of F32 (120 bytes)
//
// Parsing is strict (see [Parse]) and bounded: a header length beyond the
// file or over [MaxHeaderSize] is rejected before anything is allocated, and
// the tensors allocated never exceed four float32 bytes per data byte.
package checkpoint

// Metadata keys of a Fovea checkpoint; see the package doc.
const (
	// KeyFormatVersion holds the version of this metadata convention.
	KeyFormatVersion = "fovea.format_version"
	// KeyModel holds the model's registry name.
	KeyModel = "fovea.model"
	// KeyModelOptions holds the model's options as a JSON object.
	KeyModelOptions = "fovea.model_options"
	// KeyClasses holds the class names as a JSON list of strings.
	KeyClasses = "fovea.classes"
	// KeyInputShape holds one input's shape as CxHxW, e.g. "1x28x28".
	KeyInputShape = "fovea.input_shape"
	// KeyNormalize holds the input normalization as JSON {"mean": [...], "std": [...]}.
	KeyNormalize = "fovea.normalize"
	// KeySpec holds the YAML text of the architecture spec the model was
	// built from (models.ParseSpec), for models outside the registry.
	KeySpec = "fovea.spec"
	// KeyChecksum holds "crc32c:" and the hex CRC-32C of the data section.
	KeyChecksum = "fovea.checksum"
	// KeyTrainState holds the JSON position of a training run: epoch, step,
	// recipe, optimizer step counts (see package train).
	KeyTrainState = "fovea.train_state"
	// KeyTrainRecipe holds the JSON command-line recipe of `fovea train`
	// (model, data, augmentation, ...), so --resume can rebuild the run.
	KeyTrainRecipe = "fovea.train_recipe"
	// KeyTemperature holds the softmax temperature fitted by temperature
	// scaling (`fovea calibrate`), a positive decimal number: the model's
	// probabilities are softmax(logits / T).
	KeyTemperature = "fovea.temperature"
	// KeyData holds the JSON record of the data the model was trained and
	// tested on (models.DataSpec), so that evaluation needs no --data.
	KeyData = "fovea.data"
)

// OptimizerPrefix starts the names of the optimizer-state tensors of a
// training checkpoint; model loaders skip them.
const OptimizerPrefix = "optim."

// FormatVersion is the value of [KeyFormatVersion] this package writes and
// the only one it reads.
const FormatVersion = "1"
