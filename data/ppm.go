package data

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"

	"github.com/fovea-ml/fovea/internal/readn"
)

// The Netpbm formats PPM (colour) and PGM (gray), binary (P6, P5) and
// ASCII (P3, P2), with maxval up to 65535: the format of GTSRB and of many
// research data sets. Go's standard library has no decoder for them; this
// one is registered with [image.RegisterFormat] as "ppm" and "pgm", so
// image.Decode and image.DecodeConfig read them once package data is
// imported.
func init() {
	for _, magic := range []string{"P6", "P3"} {
		image.RegisterFormat("ppm", magic, DecodePNM, DecodePNMConfig)
	}
	for _, magic := range []string{"P5", "P2"} {
		image.RegisterFormat("pgm", magic, DecodePNM, DecodePNMConfig)
	}
}

// pnmHeader is what precedes the raster of a PPM or PGM file.
type pnmHeader struct {
	magic         string // P2, P3, P5 or P6
	width, height int
	maxval        int
}

func (h pnmHeader) channels() int {
	if h.magic == "P3" || h.magic == "P6" {
		return 3
	}
	return 1
}

func (h pnmHeader) binary() bool { return h.magic == "P5" || h.magic == "P6" }

// maxPNMSide bounds each side a PNM header may declare, so that width×height
// cannot overflow.
const maxPNMSide = 1 << 20

// readPNMHeader reads the magic number, width, height and maxval, and for
// binary formats the one whitespace byte before the raster.
func readPNMHeader(br *bufio.Reader) (pnmHeader, error) {
	var h pnmHeader
	var m [2]byte
	if _, err := io.ReadFull(br, m[:]); err != nil {
		return h, fmt.Errorf("pnm: reading magic number: %w", noEOF(err))
	}
	h.magic = string(m[:])
	switch h.magic {
	case "P2", "P3", "P5", "P6":
	default:
		return h, fmt.Errorf("pnm: magic number %q is not P2, P3, P5 or P6", h.magic)
	}
	fields := [3]*int{&h.width, &h.height, &h.maxval}
	names := [3]string{"width", "height", "maxval"}
	for i, p := range fields {
		v, err := pnmInt(br, true)
		if err != nil {
			return h, fmt.Errorf("pnm: %s: %w", names[i], err)
		}
		*p = v
	}
	if h.width <= 0 || h.height <= 0 || h.width > maxPNMSide || h.height > maxPNMSide {
		return h, fmt.Errorf("pnm: size %dx%d is out of range", h.width, h.height)
	}
	if h.maxval <= 0 || h.maxval > 65535 {
		return h, fmt.Errorf("pnm: maxval %d is not in 1..65535", h.maxval)
	}
	if h.binary() {
		c, err := br.ReadByte()
		if err != nil {
			return h, fmt.Errorf("pnm: no raster after the header: %w", noEOF(err))
		}
		if !isPNMSpace(c) {
			return h, fmt.Errorf("pnm: header ends with %q, want whitespace", c)
		}
	}
	return h, nil
}

func isPNMSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// pnmInt skips whitespace (and, in headers, # comments to the end of the
// line) and reads one decimal number. It leaves the byte after the number
// unread.
func pnmInt(br *bufio.Reader, comments bool) (int, error) {
	var c byte
	var err error
	for {
		if c, err = br.ReadByte(); err != nil {
			return 0, noEOF(err)
		}
		if comments && c == '#' {
			for c != '\n' && c != '\r' {
				if c, err = br.ReadByte(); err != nil {
					return 0, noEOF(err)
				}
			}
			continue
		}
		if !isPNMSpace(c) {
			break
		}
	}
	if c < '0' || c > '9' {
		return 0, fmt.Errorf("found %q, want a decimal number", c)
	}
	v := 0
	for {
		v = v*10 + int(c-'0')
		if v > 1<<30 {
			return 0, errors.New("number too large")
		}
		if c, err = br.ReadByte(); err != nil {
			if err == io.EOF {
				return v, nil
			}
			return 0, err
		}
		if c < '0' || c > '9' {
			return v, br.UnreadByte()
		}
	}
}

// noEOF turns io.EOF into io.ErrUnexpectedEOF: a header cannot end early.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// DecodePNMConfig returns the size and colour model of a PPM (P3, P6) or
// PGM (P2, P5) image without reading its raster.
func DecodePNMConfig(r io.Reader) (image.Config, error) {
	h, err := readPNMHeader(bufio.NewReader(r))
	if err != nil {
		return image.Config{}, err
	}
	return image.Config{ColorModel: h.model(), Width: h.width, Height: h.height}, nil
}

func (h pnmHeader) model() color.Model {
	switch {
	case h.channels() == 1 && h.maxval < 256:
		return color.GrayModel
	case h.channels() == 1:
		return color.Gray16Model
	case h.maxval < 256:
		return color.RGBAModel
	}
	return color.RGBA64Model
}

// DecodePNM decodes a PPM (P3, P6) or PGM (P2, P5) image. Samples are
// scaled from 0..maxval to the full 8-bit range (maxval < 256: *image.Gray
// or *image.RGBA) or 16-bit range (*image.Gray16 or *image.RGBA64). Memory
// use is bounded by the input's length, not by the size the header claims,
// and a header declaring more than [MaxImagePixels] pixels is rejected.
func DecodePNM(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	h, err := readPNMHeader(br)
	if err != nil {
		return nil, err
	}
	if int64(h.width)*int64(h.height) > MaxImagePixels {
		return nil, fmt.Errorf("pnm: %dx%d image is larger than %d pixels", h.width, h.height, MaxImagePixels)
	}
	n := h.width * h.height * h.channels()
	var at func(i int) uint16 // sample i, 0..maxval
	if h.binary() {
		size := 1
		if h.maxval > 255 {
			size = 2
		}
		raw, err := readn.Read(br, n*size) // grows with the input, not the header
		if err != nil {
			return nil, fmt.Errorf("pnm: raster: %w", err)
		}
		if len(raw) < n*size {
			return nil, fmt.Errorf("pnm: raster truncated: %d of %d bytes", len(raw), n*size)
		}
		at = func(i int) uint16 { return uint16(raw[i]) }
		if size == 2 {
			at = func(i int) uint16 { return uint16(raw[2*i])<<8 | uint16(raw[2*i+1]) }
		}
	} else {
		samples := make([]uint16, 0, min(n, 1<<16))
		for len(samples) < n {
			v, err := pnmInt(br, false)
			if err != nil {
				return nil, fmt.Errorf("pnm: sample %d of %d: %w", len(samples), n, err)
			}
			if len(samples) == cap(samples) { // double, as the input proves it holds more
				samples = append(make([]uint16, 0, min(2*cap(samples), n)), samples...)
			}
			samples = append(samples, uint16(min(v, 65535)))
		}
		at = func(i int) uint16 { return samples[i] }
	}
	for i := range n {
		if v := at(i); int(v) > h.maxval {
			return nil, fmt.Errorf("pnm: sample %d is %d, above maxval %d", i, v, h.maxval)
		}
	}
	rect := image.Rect(0, 0, h.width, h.height)
	mv := uint32(h.maxval)
	to8 := func(v uint16) uint8 { return uint8((uint32(v)*255 + mv/2) / mv) }
	to16 := func(v uint16) uint16 { return uint16((uint32(v)*65535 + mv/2) / mv) }
	switch h.model() {
	case color.GrayModel:
		img := image.NewGray(rect)
		for i := range n {
			img.Pix[i] = to8(at(i))
		}
		return img, nil
	case color.Gray16Model:
		img := image.NewGray16(rect)
		for i := range n {
			s := to16(at(i))
			img.Pix[2*i], img.Pix[2*i+1] = uint8(s>>8), uint8(s)
		}
		return img, nil
	case color.RGBAModel:
		img := image.NewRGBA(rect)
		for i := range h.width * h.height {
			p := img.Pix[4*i : 4*i+4 : 4*i+4]
			p[0], p[1], p[2], p[3] = to8(at(3*i)), to8(at(3*i+1)), to8(at(3*i+2)), 255
		}
		return img, nil
	}
	img := image.NewRGBA64(rect)
	for i := range h.width * h.height {
		p := img.Pix[8*i : 8*i+8 : 8*i+8]
		for k := range 3 {
			s := to16(at(3*i + k))
			p[2*k], p[2*k+1] = uint8(s>>8), uint8(s)
		}
		p[6], p[7] = 255, 255
	}
	return img, nil
}
