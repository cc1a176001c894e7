package imageio

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// checkDICOMStructure walks the element stream of a DICOM file and checks
// that every defined value length fits in the bytes that remain. The parser
// library allocates a buffer of the declared length before reading, so a
// 200-byte file claiming a 4 GB string would otherwise cost 4 GB of memory.
// Undefined-length sequences and items are entered, not skipped, so their
// contents are checked too.
func checkDICOMStructure(data []byte) error {
	const undefined = 0xFFFFFFFF
	pos := 132 // preamble + "DICM"
	var (
		order       binary.ByteOrder = binary.LittleEndian
		implicit    bool
		inMeta      = true
		syntax      string
		inFragments bool // inside encapsulated pixel data: items hold raw bytes
	)
	for pos < len(data) {
		if len(data)-pos < 8 {
			return fmt.Errorf("truncated element header at byte %d", pos)
		}
		if inMeta && binary.LittleEndian.Uint16(data[pos:]) != 0x0002 {
			inMeta = false
			switch strings.TrimRight(syntax, " \x00") {
			case "1.2.840.10008.1.2":
				implicit = true
			case "1.2.840.10008.1.2.2":
				order = binary.BigEndian
			case "1.2.840.10008.1.2.1.99":
				return fmt.Errorf("deflated transfer syntax is not supported")
			}
		}
		bo := order
		explicit := !implicit
		if inMeta {
			bo, explicit = binary.LittleEndian, true
		}
		t := tag.Tag{Group: bo.Uint16(data[pos:]), Element: bo.Uint16(data[pos+2:])}
		remain := len(data) - pos

		if t.Group == 0xFFFE { // item and delimiters: tag + 4-byte length, no VR
			length := bo.Uint32(data[pos+4:])
			pos += 8
			if t.Element == 0xE0DD {
				inFragments = false
			}
			if length == undefined || t.Element != 0xE000 {
				continue
			}
			if int64(length) > int64(remain-8) {
				return fmt.Errorf("item at byte %d declares %d bytes, %d remain", pos-8, length, remain-8)
			}
			if inFragments {
				pos += int(length)
			}
			continue
		}

		var length uint32
		var header int
		var isSeq bool
		if explicit {
			vr := string(data[pos+4 : pos+6])
			switch vr {
			case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
				if remain < 12 {
					return fmt.Errorf("truncated element header at byte %d", pos)
				}
				length, header = bo.Uint32(data[pos+8:]), 12
			default:
				length, header = uint32(bo.Uint16(data[pos+6:])), 8
			}
			isSeq = vr == "SQ"
		} else {
			length, header = bo.Uint32(data[pos+4:]), 8
			if info, err := tag.Find(t); err == nil && len(info.VRs) > 0 {
				isSeq = info.VRs[0] == "SQ"
			}
		}
		if length == undefined {
			if t == tag.PixelData {
				inFragments = true
			}
			pos += header // enter the sequence or the fragment list
			continue
		}
		if int64(length) > int64(remain-header) {
			return fmt.Errorf("element %v at byte %d declares %d bytes, %d remain", t, pos, length, remain-header)
		}
		if t == tag.TransferSyntaxUID {
			syntax = string(data[pos+header : pos+header+int(length)])
		}
		if isSeq {
			pos += header // check the items inside too
		} else {
			pos += header + int(length)
		}
	}
	return nil
}
