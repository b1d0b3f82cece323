package smb

import (
	"encoding/binary"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/ntfs"
)

const sddl = "O:S-1-12-1-1-2-3-4G:SYD:PAI(A;;FA;;;S-1-12-1-1-2-3-4)(A;OICI;0x1200a9;;;BU)(D;;FW;;;AU)"

func TestNTACL_RoundTrip(t *testing.T) {
	sd, _ := ntfs.Parse(sddl)
	blob, err := EncodeNTACL(sd)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(blob) != 1 || binary.LittleEndian.Uint32(blob[4:]) != 0x00020000 {
		t.Fatalf("v1 header % x", blob[:8])
	}
	// Offsets count from the blob's start: the owner follows the 20-byte header at 8+20.
	if got := binary.LittleEndian.Uint32(blob[8+4:]); got != 28 {
		t.Errorf("owner offset %d, want 28 (from the blob's start)", got)
	}
	back, err := DecodeNTACL(blob)
	if err != nil || back.String() != sddl {
		t.Fatalf("decode: %v %v", back, err)
	}
	// A version 3 blob as smbd writes it: hash fields, descriptor at byte 80.
	raw, _ := sd.MarshalBinary()
	v3 := make([]byte, 80, 80+len(raw))
	binary.LittleEndian.PutUint16(v3[0:], 3)
	binary.LittleEndian.PutUint16(v3[2:], 3)
	binary.LittleEndian.PutUint32(v3[4:], 0x00020000)
	v3 = append(v3, raw...)
	shiftOffsets(v3[80:], 80)
	if back, err := DecodeNTACL(v3); err != nil || back.String() != sddl {
		t.Fatalf("v3 decode: %v %v", back, err)
	}
	for _, bad := range [][]byte{nil, {1, 0}, {9, 0, 9, 0, 0, 0, 0, 0}, blob[:20]} {
		if _, err := DecodeNTACL(bad); err == nil {
			t.Errorf("DecodeNTACL(% x) accepted", bad)
		}
	}
}

func FuzzDecodeNTACL(f *testing.F) {
	sd, _ := ntfs.Parse(sddl)
	blob, _ := EncodeNTACL(sd)
	f.Add(blob)
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := DecodeNTACL(b)
		if err != nil {
			return
		}
		again, err := EncodeNTACL(sd)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := DecodeNTACL(again); err != nil || back.String() != sd.String() {
			t.Fatalf("round trip of %s: %v", sd.String(), err)
		}
	})
}
