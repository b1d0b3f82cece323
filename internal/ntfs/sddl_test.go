package ntfs

import "testing"

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
	if got, want := dir.String(), "O:BAG:SYD:(A;OICI;FA;;;BA)(A;;0x1200a9;;;BU)(A;OICIIO;GXGR;;;BU)(A;OICI;0x1301bf;;;AU)(A;OICI;FA;;;SY)(A;;FA;;;BA)(A;OICIIO;GA;;;CO)"; got != want {
		// The ACEs Azure Files shows on a directory created over REST under a default root.
		t.Errorf("directory under the root:\n got %s\nwant %s", got, want)
	}
	file := Inherit(p, false, "")
	if got, want := file.String(), "O:BAG:SYD:(A;;FA;;;BA)(A;;0x1200a9;;;BU)(A;;0x1301bf;;;AU)(A;;FA;;;SY)(A;;FA;;;BA)"; got != want {
		t.Errorf("file under the root:\n got %s\nwant %s", got, want)
	}
}
