package ntfs

import "testing"

func TestParsePerm(t *testing.T) {
	for _, tt := range []struct {
		in    string
		flags string
		mask  uint32
	}{
		{"F", "", FileAllAccess},
		{"(OI)(CI)F", "OICI", FileAllAccess},
		{"(OI)(CI)(M)", "OICI", 0x1301bf},
		{"(OI)(CI)(IO)(GR,GE)", "OICIIO", GenericRead | GenericExecute},
		{"(RX,W)", "", 0}, // not a list of specific rights: refused below
		{"(RD,WD,X)", "", FileReadData | FileWriteData | FileExecute},
		{"(NP)(CI)R", "NPCI", FileGenericRead},
		{"d", "", Delete},
	} {
		flags, mask, err := ParsePerm(tt.in)
		if tt.mask == 0 {
			if err == nil {
				t.Errorf("ParsePerm(%q) accepted", tt.in)
			}
			continue
		}
		if err != nil || flags != tt.flags || mask != tt.mask {
			t.Errorf("ParsePerm(%q) = %q %#x %v, want %q %#x", tt.in, flags, mask, err, tt.flags, tt.mask)
		}
	}
	for _, bad := range []string{"", "X Y", "(OI)(OI)F", "(I)F", "(IO)F", "(Q)", "(OI)(CI", "F(M)"} {
		if _, _, err := ParsePerm(bad); err == nil {
			t.Errorf("ParsePerm(%q) accepted", bad)
		}
	}
}

func TestEdits(t *testing.T) {
	parent, _ := Parse(root)
	sd := Inherit(parent, true, "")
	Grant(sd, alice, "OICI", 0x1301bf, false)
	Deny(sd, bob, "", 0x100116)
	Grant(sd, alice, "OICI", Delete, false) // merges into the same ACE
	if got := sd.String(); got != "O:BAG:SYD:AI(D;;0x100116;;;"+bob+")(A;OICI;0x1301bf;;;"+alice+")(A;OICIID;FA;;;BA)(A;ID;0x1200a9;;;BU)(A;OICIIOID;GXGR;;;BU)(A;OICIID;0x1301bf;;;AU)(A;OICIID;FA;;;SY)(A;ID;FA;;;BA)(A;OICIIOID;GA;;;CO)" {
		t.Fatalf("after grants and a deny: %s", got)
	}
	if got := FormatPerm(sd.DACL[0]); got != "(DENY)(W)" {
		t.Errorf("FormatPerm deny = %q", got)
	}
	if got := FormatPerm(sd.DACL[2]); got != "(I)(OI)(CI)(F)" {
		t.Errorf("FormatPerm inherited = %q", got)
	}
	Grant(sd, alice, "OICI", FileGenericRead, true) // /grant:r replaces
	if sd.DACL[1].Rights != "FR" {
		t.Errorf("/grant:r left %s", sd.DACL[1].Rights)
	}
	Remove(sd, bob, "")
	if err := SetInheritance(sd, parent, "r", true); err != nil {
		t.Fatal(err)
	}
	if got := sd.String(); got != "O:BAG:SYD:P(A;OICI;FR;;;"+alice+")" {
		t.Errorf("/inheritance:r: %s", got)
	}
	if err := SetInheritance(sd, parent, "e", true); err != nil {
		t.Fatal(err)
	}
	if len(sd.DACL) != 8 || sd.DACLFlags != "AI" {
		t.Errorf("/inheritance:e: %s", sd.String())
	}
	_ = SetInheritance(sd, parent, "d", true)
	if sd.DACLFlags != "P" || hasFlag(sd.DACL[1].Flags, "ID") || len(sd.DACL) != 8 {
		t.Errorf("/inheritance:d: %s", sd.String())
	}
	Reset(sd, parent, true)
	if sd.String() != Inherit(parent, true, "BA").String() {
		t.Errorf("/reset: %s", sd.String())
	}
	// Children follow their parent; protected ones do not.
	child := Inherit(parent, false, alice)
	p2, _ := Parse("O:BAG:SYD:(A;OICI;FR;;;" + bob + ")")
	if got := Reinherit(child, p2, false).String(); got != "O:"+alice+"G:SYD:AI(A;ID;FR;;;"+bob+")" {
		t.Errorf("Reinherit: %s", got)
	}
	child.DACLFlags = "P"
	if Reinherit(child, p2, false) != child {
		t.Error("a protected child was re-inherited")
	}
}

func FuzzParsePerm(f *testing.F) {
	for _, s := range []string{"F", "(OI)(CI)(M)", "(IO)(OI)(GR,GE)", "(RD,WD)", "((", ")"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flags, mask, err := ParsePerm(s)
		if err != nil {
			return
		}
		a := ACE{Type: "A", Flags: flags, Rights: RightsString(mask), SID: "WD"}
		sd := &SecurityDescriptor{Owner: "BA", Group: "SY", HasDACL: true, DACL: []ACE{a}}
		if _, err := Parse(sd.String()); err != nil {
			t.Fatalf("%q gives an ACE that is not valid SDDL: %v", s, err)
		}
	})
}
