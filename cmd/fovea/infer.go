package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/atomicfile"
	"github.com/fovea-ml/fovea/tensor"
)

func newInferCmd() *cobra.Command {
	var modelPath, inPath, outPath string
	var batch, threads int
	var useEngine bool
	cmd := &cobra.Command{
		Use:   "infer [--model CKPT|ONNX] --input IN.npy --out OUT.npy",
		Short: "Run a checkpoint or ONNX model on a NumPy array of inputs",
		Long: `Infer reads a float32 array (N, C, H, W) from a .npy file, runs the model on it
in evaluation mode, batch by batch, and writes the raw outputs (logits for a
classifier) as a float32 .npy file, printing its name and shape. The input is
used as is: no resizing and no normalization. The model is a Fovea checkpoint
or an ONNX file (.onnx). With --engine (the default) batches run on the
compiled inference engine when it supports every operation of the model, else
eagerly. The folder of --out must exist.`,
		Example: "  fovea infer --model model.onnx --input images.npy --out logits.npy",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := setThreads(threads); err != nil {
				return err
			}
			modelPath, err := modelOrDefault(modelPath)
			if err != nil {
				return err
			}
			switch {
			case inPath == "":
				return fmt.Errorf("--input: a .npy file is required")
			case outPath == "":
				return fmt.Errorf("--out: an output .npy file is required")
			case batch < 1:
				return fmt.Errorf("--batch-size %d: must be at least 1", batch)
			}
			c, err := classify.Open(modelPath, classify.Options{MaxBatch: batch, Eager: !useEngine})
			if err != nil {
				return err
			}
			defer c.Close()
			x, err := readInputNPY(inPath, c.Meta().InputShape)
			if err != nil {
				return err
			}
			y, err := c.Logits(cmd.Context(), x)
			if err != nil {
				return fmt.Errorf("--model %s: %v", modelPath, err)
			}
			if err := writeNPY(outPath, y); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: float32 (%s)\n", outPath, dimsText(y.Shape()))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&modelPath, "model", "", "checkpoint or .onnx file"+modelDefault)
	fl.StringVar(&inPath, "input", "", "float32 .npy array of shape (N, C, H, W) (required)")
	fl.StringVar(&outPath, "out", "", "where to write the float32 .npy output (required)")
	fl.IntVar(&batch, "batch-size", 64, "images per forward pass")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.BoolVar(&useEngine, "engine", true, "use the compiled inference engine when it supports the model")
	return cmd
}

// readInputNPY reads a float32 (N, C, H, W) array whose C, H, W match in.
func readInputNPY(path string, in [3]int) (*tensor.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	defer f.Close()
	a, err := data.ReadNPY(bufio.NewReader(f), path)
	if err != nil {
		return nil, fmt.Errorf("--input: %w", err)
	}
	if a.Descr != "<f4" {
		return nil, fmt.Errorf("--input %s: dtype %s, want float32 (<f4)", path, a.Descr)
	}
	if len(a.Shape) != 4 || a.Shape[0] < 1 || [3]int(a.Shape[1:]) != in {
		return nil, fmt.Errorf("--input %s: shape %v, the model takes (N, %d, %d, %d) with N ≥ 1", path, a.Shape, in[0], in[1], in[2])
	}
	return tensor.FromSlice(a.Float32s(), a.Shape...), nil
}

// dimsText returns the dimensions of shape separated by ", ".
func dimsText(shape []int) string {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	return strings.Join(dims, ", ")
}

// writeNPY writes t as a float32 .npy file (format 1.0, C order),
// atomically: a temporary file in the same directory is synced and renamed
// over path.
func writeNPY(path string, t *tensor.Tensor) (err error) {
	shape := dimsText(t.Shape())
	if t.Dims() == 1 {
		shape += ","
	}
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", shape)
	// Pad with spaces and a newline so the data starts at a multiple of 64.
	total := 10 + len(header) + 1
	header += strings.Repeat(" ", (64-total%64)%64) + "\n"
	if len(header) > math.MaxUint16 {
		return fmt.Errorf("--out %s: shape %v is too long for a .npy 1.0 header", path, t.Shape())
	}
	buf := make([]byte, 0, 10+len(header)+4*t.Size())
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	for _, v := range t.Contiguous().Data() {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}

	if err := atomicfile.WriteBytes(path, buf); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}
