package checkpoint

import (
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// checksumAlgo prefixes the value of [KeyChecksum]: the algorithm, then
// the digest in hex.
const checksumAlgo = "crc32c:"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// dataChecksum returns the [KeyChecksum] value of the data section that
// [Encode] writes for tensors: the CRC-32C of the F32 bytes of the tensors
// in name order.
func dataChecksum(tensors []nn.Named[*tensor.Tensor]) string {
	sorted := slices.Clone(tensors)
	slices.SortStableFunc(sorted, func(a, b nn.Named[*tensor.Tensor]) int { return strings.Compare(a.Name, b.Name) })
	var crc uint32
	var scratch [4096]byte
	for _, t := range sorted {
		if t.Value == nil {
			continue // Encode reports it
		}
		vals := t.Value.Contiguous().Data()
		for len(vals) > 0 {
			k := min(len(vals), len(scratch)/4)
			for j, v := range vals[:k] {
				le.PutUint32(scratch[4*j:], math.Float32bits(v))
			}
			crc = crc32.Update(crc, castagnoli, scratch[:4*k])
			vals = vals[k:]
		}
	}
	return fmt.Sprintf("%s%08x", checksumAlgo, crc)
}

// withChecksum returns a copy of meta with [KeyChecksum] set for tensors.
func withChecksum(tensors []nn.Named[*tensor.Tensor], meta map[string]string) map[string]string {
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	m[KeyChecksum] = dataChecksum(tensors)
	return m
}

// verifyChecksum checks body, a file's data section, against the file's
// [KeyChecksum], if it has one.
func verifyChecksum(meta map[string]string, body []byte) error {
	want, ok := meta[KeyChecksum]
	if !ok {
		return nil
	}
	if !strings.HasPrefix(want, checksumAlgo) {
		return fmt.Errorf("%s %q: unknown algorithm (this Fovea checks %s)", KeyChecksum, want, strings.TrimSuffix(checksumAlgo, ":"))
	}
	if got := fmt.Sprintf("%s%08x", checksumAlgo, crc32.Checksum(body, castagnoli)); got != want {
		return fmt.Errorf("checksum mismatch: file is corrupt or truncated (%s is %s, the data hashes to %s)", KeyChecksum, want, got)
	}
	return nil
}
