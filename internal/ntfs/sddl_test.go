package ntfs

import (
	"encoding/hex"
	"testing"
)

const root = "O:BAG:SYD:(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;OICI;0x1301bf;;;AU)(A;OICI;FA;;;SY)(A;;FA;;;SY)(A;OICIIO;GA;;;CO)"

func TestParse_RoundTrip(t *testing.T) {
	for _, s := range []string{root, "O:S-1-12-1-1-2-3-4G:SYD:P(A;;FA;;;S-1-12-1-1-2-3-4)", "O:BAG:BAD:", "O:BAG:BAD:PAI(D;OICI;FW;;;WD)S:(AU;SA;FA;;;WD)"} {
		sd, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got := sd.String(); got != s {
			t.Errorf("round trip %q -> %q", s, got)
		}
	}
}

func TestParse_Invalid(t *testing.T) {
	for _, s := range []string{"", "garbage", "O:BA", "O:BAG:SY", "G:SYD:", "O:XXG:SYD:", "O:BAG:SYD:(A;;FA;;BA)",
		"O:BAG:SYD:(Z;;FA;;;BA)", "O:BAG:SYD:(A;QQ;FA;;;BA)", "O:BAG:SYD:(A;;0xZZ;;;BA)", "O:BAG:SYD:(A;;FA;;;BA",
		"O:BAO:BAG:SYD:", "O:BAG:SYD:XX", "O:S-1-x-3G:SYD:"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(root)
	f.Add("O:BAG:SYD:P(A;;FA;;;S-1-5-21-1-2-3-500)")
	f.Fuzz(func(t *testing.T, s string) {
		sd, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(sd.String())
		if err != nil || again.String() != sd.String() {
			t.Fatalf("%q parsed but its formatting %q does not: %v", s, sd.String(), err)
		}
	})
}

func TestInherit_DefaultRoot(t *testing.T) {
	p, _ := Parse(root)
	dir := Inherit(p, true, "")
	if got, want := dir.String(), "O:BAG:SYD:AI(A;OICIID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;OICIIOID;GXGR;;;BU)(A;OICIID;0x1301bf;;;AU)(A;OICIID;FA;;;SY)(A;ID;FA;;;BA)(A;OICIIOID;GA;;;CO)"; got != want {
		// As Windows inherits: every inherited ACE marked ID, the DACL auto-inherited.
		t.Errorf("directory under the root:\n got %s\nwant %s", got, want)
	}
	file := Inherit(p, false, "")
	if got, want := file.String(), "O:BAG:SYD:AI(A;ID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;ID;0x1301bf;;;AU)(A;ID;FA;;;SY)(A;ID;FA;;;BA)"; got != want {
		t.Errorf("file under the root:\n got %s\nwant %s", got, want)
	}
}

func TestBinary_RoundTrip(t *testing.T) {
	for _, s := range []string{root,
		"O:S-1-12-1-1-2-3-4G:SYD:PAI(A;;FA;;;S-1-12-1-1-2-3-4)(D;OICIID;0x100116;;;S-1-5-21-1-2-3-1001)",
		"O:BAG:BAD:",
		"O:BAG:BAD:NO_ACCESS_CONTROL",
		"O:BAG:SYD:AI(A;ID;0x1200a9;;;BU)S:(AU;SA;FA;;;WD)",
	} {
		sd, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := sd.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%q): %v", s, err)
		}
		back, err := UnmarshalBinary(b)
		if err != nil {
			t.Fatalf("UnmarshalBinary of %q: %v", s, err)
		}
		if back.String() != s {
			t.Errorf("binary round trip %q -> %q", s, back.String())
		}
	}
}

func TestBinary_KnownBytes(t *testing.T) {
	// O:BAG:SYD:(A;;FA;;;WD): header, owner S-1-5-32-544, group S-1-5-18, DACL with one ACE.
	sd, _ := Parse("O:BAG:SYD:(A;;FA;;;WD)")
	b, err := sd.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "0100048014000000240000000000000030000000" + // revision, control 0x8004, offsets
		"01020000000000052000000020020000" + // S-1-5-32-544
		"010100000000000512000000" + // S-1-5-18
		"02001c000100000000001400ff011f00010100000000000100000000" // ACL: 1 ACE, FA to S-1-1-0
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("bytes\n got %s\nwant %s", got, want)
	}
}

func TestBinary_Invalid(t *testing.T) {
	good, _ := Parse(root)
	b, _ := good.MarshalBinary()
	for name, bad := range map[string][]byte{
		"empty":           {},
		"short header":    b[:10],
		"not relative":    append([]byte{1, 0, 4, 0}, b[4:]...),
		"owner outside":   append(append([]byte{}, b[:4]...), append([]byte{0xff, 0xff, 0, 0}, b[8:]...)...),
		"truncated":       b[:len(b)-3],
		"too large":       make([]byte, MaxDescriptor+1),
		"revision 2":      append([]byte{2}, b[1:]...),
		"no DACL present": append(append([]byte{}, b[:2]...), append([]byte{0, 0x80}, b[4:]...)...),
	} {
		if _, err := UnmarshalBinary(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	for _, s := range []string{root, "O:BAG:SYD:PAI(D;OICI;FW;;;WD)S:(AU;SA;FA;;;WD)"} {
		sd, _ := Parse(s)
		b, _ := sd.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sd, err := UnmarshalBinary(b)
		if err != nil {
			return
		}
		again, err := sd.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", sd.String(), err)
		}
		back, err := UnmarshalBinary(again)
		if err != nil || back.String() != sd.String() {
			t.Fatalf("%q does not survive a round trip: %v", sd.String(), err)
		}
	})
}
