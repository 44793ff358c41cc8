package data

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
)

// DecodeCost reads the header of the encoded image raw and returns its
// header, format, and an upper estimate of the bytes of memory that
// decoding it and converting it to an h×w model input ([DecodeImage])
// allocate: the decoded pixels at their full size, which a small file can
// declare in the hundreds of megabytes (a decompression bomb), plus the
// buffers of the resize. Nothing is decoded. The estimate follows what the
// registered decoders allocate for each kind of image:
//
//	PNG     1 byte per pixel (8-bit gray, palette), 2 (16-bit gray), 4 (8-bit
//	        colour or gray with transparency), 8 (16-bit colour or alpha);
//	        twice that when interlaced (the passes are decoded apart)
//	JPEG    1 byte per sample of each component at its subsampled size, 4 more
//	        per sample when progressive (the coefficients are kept), 4 per
//	        pixel more for CMYK
//	PPM/PGM the raster (twice, as it is read), then the image: 1 to 8 bytes per
//	        pixel; plain-text ones 4 bytes per sample instead of the raster
//	others  by the header's colour model: 1 (gray, palette) to 8 (16-bit
//	        colour); WebP with alpha 8, lossless WebP 12
//
// It fails, like [DecodeImage], on a header it cannot read; it does not
// check the size against [MaxImagePixels] (callers have their own limits).
func DecodeCost(raw []byte, h, w int) (image.Config, string, int64, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return cfg, format, 0, err
	}
	W, H := int64(max(cfg.Width, 0)), int64(max(cfg.Height, 0))
	var pixels int64 // the decoder's allocations
	switch format {
	case "png":
		pixels = pngCost(raw, W, H)
	case "jpeg":
		pixels = jpegCost(raw, W, H)
	case "ppm", "pgm":
		pixels = pnmCost(raw, cfg, W, H)
	case "webp":
		switch cfg.ColorModel {
		case color.NRGBAModel: // lossless: ARGB words, transforms, then NRGBA
			pixels = 12 * W * H
		case color.NYCbCrAModel: // lossy with a losslessly coded alpha plane
			pixels = 8 * W * H
		default:
			pixels = modelBytes(cfg.ColorModel) * W * H
		}
	default:
		pixels = modelBytes(cfg.ColorModel) * W * H
	}
	if pixels == 0 { // a header the sniffers could not follow
		pixels = 8 * W * H
	}
	return cfg, format, decoderState + pixels + ResizeCost(W, H, int64(h), int64(w)), nil
}

// decoderState bounds what a decoder allocates whatever the image size:
// its state, Huffman tables, the 32 KiB inflate window, read buffers.
const decoderState = 128 << 10

// ResizeCost is the bytes [ImageInto] allocates to convert a decoded W×H
// image to an h×w input: the h×w RGBA target and, when the size changes,
// the scaler's w×H buffer of four float64 per pixel and its contribution
// tables.
func ResizeCost(W, H, h, w int64) int64 {
	n := 4 * h * w
	if W != w || H != h {
		n += 32*w*H + 64*(W+H)
	}
	return n
}

// modelBytes is the bytes per pixel of an image of colour model m.
func modelBytes(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBAModel, color.NRGBAModel, color.NYCbCrAModel:
		return 4
	case color.YCbCrModel:
		return 3
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 8
}

// pnmCost is the bytes [DecodePNM] allocates for a W×H image: the raster as
// it is read (binary formats, at most twice its size) or the parsed samples
// (plain-text formats, two bytes each, at most twice), then the image.
func pnmCost(raw []byte, cfg image.Config, W, H int64) int64 {
	ch, size := int64(1), int64(1)
	switch cfg.ColorModel {
	case color.RGBAModel:
		ch = 3
	case color.RGBA64Model:
		ch, size = 3, 2
	case color.Gray16Model:
		size = 2
	}
	read := 2 * size * ch * W * H
	if len(raw) >= 2 && (raw[1] == '2' || raw[1] == '3') { // P2, P3: text
		read = 4 * ch * W * H
	}
	return read + modelBytes(cfg.ColorModel)*W*H
}

// pngCost is the bytes image/png allocates for a W×H image: one decoded
// image, whose type follows the IHDR colour type and bit depth and the
// presence of a tRNS chunk, and the interlace passes besides. It returns 0
// if raw's chunks cannot be followed.
func pngCost(raw []byte, W, H int64) int64 {
	const sigLen = 8
	if len(raw) < sigLen+8+13 || string(raw[sigLen+4:sigLen+8]) != "IHDR" {
		return 0
	}
	ihdr := raw[sigLen+8:]
	depth, colorType, interlaced := ihdr[8], ihdr[9], ihdr[12] != 0
	trns := false
	for at := sigLen; at+8 <= len(raw); {
		n := int64(binary.BigEndian.Uint32(raw[at:]))
		typ := string(raw[at+4 : at+8])
		if typ == "IDAT" {
			break
		}
		if typ == "tRNS" {
			trns = true
		}
		at += int(min(n, int64(len(raw))) + 12)
	}
	var bpp int64
	switch {
	case colorType == 3: // palette
		bpp = 1
	case colorType == 0 && !trns: // gray
		bpp = 1
		if depth == 16 {
			bpp = 2
		}
	default: // colour, alpha, or gray made NRGBA by tRNS
		bpp = 4
		if depth == 16 {
			bpp = 8
		}
	}
	n := bpp * W * H
	if interlaced {
		n *= 2
	}
	return n
}

// jpegCost is the bytes image/jpeg allocates for a W×H image, from the
// component sampling factors of its SOF marker: the component planes (at
// their subsampled size, rounded up to whole blocks), their int32
// coefficients when progressive, and the CMYK image of a 4-component one.
// It returns 0 if no SOF marker is found before the scan.
func jpegCost(raw []byte, W, H int64) int64 {
	if len(raw) < 4 || raw[0] != 0xff || raw[1] != 0xd8 {
		return 0
	}
	for at := 2; at+4 <= len(raw); {
		if raw[at] != 0xff {
			return 0
		}
		marker := raw[at+1]
		switch {
		case marker == 0xff: // fill byte
			at++
			continue
		case marker == 0x01 || marker >= 0xd0 && marker <= 0xd8: // no length
			at += 2
			continue
		case marker == 0xda || marker == 0xd9: // scan or end before any frame
			return 0
		}
		n := int(binary.BigEndian.Uint16(raw[at+2:]))
		if n < 2 {
			return 0
		}
		seg := raw[at+4 : min(at+2+n, len(raw))]
		isSOF := marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc
		if !isSOF {
			at += 2 + n
			continue
		}
		progressive := marker == 0xc2 || marker == 0xc6 || marker == 0xca || marker == 0xce
		if len(seg) < 6 {
			return 0
		}
		nf := int(seg[5])
		if nf < 1 || len(seg) < 6+3*nf {
			return 0
		}
		hmax, vmax := int64(1), int64(1)
		for i := range nf {
			f := seg[6+3*i+1]
			hmax, vmax = max(hmax, int64(f>>4)), max(vmax, int64(f&15))
		}
		// Whole MCUs of 8·hmax × 8·vmax pixels, as the decoder allocates.
		mx, my := (W+8*hmax-1)/(8*hmax), (H+8*vmax-1)/(8*vmax)
		var samples int64
		for i := range nf {
			f := seg[6+3*i+1]
			samples += mx * 8 * int64(f>>4) * my * 8 * int64(f&15)
		}
		cost := samples
		if progressive {
			cost += 4 * samples
		}
		if nf == 4 {
			cost += 4 * W * H
		}
		return cost
	}
	return 0
}
