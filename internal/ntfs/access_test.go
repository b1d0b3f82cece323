package ntfs

import (
	"fmt"
	"strings"
	"testing"
)

const (
	alice   = "S-1-12-1-1111-2222-3333-4444"
	bob     = "S-1-12-1-5555-6666-7777-8888"
	readers = "S-1-12-1-9999-1-2-3"
)

func compile(t testing.TB, sddl string) *Compiled {
	t.Helper()
	sd, err := Parse(sddl)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(sd)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMaximumAllowed(t *testing.T) {
	for _, tt := range []struct {
		name, sddl string
		tok        *Token
		want       uint32
	}{
		{"allow", "O:BAG:SYD:(A;;FR;;;" + alice + ")", NewToken(alice), FileGenericRead},
		{"nobody else", "O:BAG:SYD:(A;;FR;;;" + alice + ")", NewToken(bob), 0},
		{"group SID reaches its members", "O:BAG:SYD:(A;;FR;;;" + readers + ")", NewToken(bob, readers), FileGenericRead},
		{"deny before allow", "O:BAG:SYD:(D;;FW;;;" + alice + ")(A;;FA;;;" + alice + ")", NewToken(alice), FileAllAccess &^ FileGenericWrite},
		{"allow before deny keeps what it granted", "O:BAG:SYD:(A;;FR;;;" + alice + ")(D;;FA;;;" + alice + ")", NewToken(alice), FileGenericRead},
		{"accumulates", "O:BAG:SYD:(A;;FR;;;" + alice + ")(A;;SD;;;" + readers + ")", NewToken(alice, readers), FileGenericRead | Delete},
		{"generic rights mapped", "O:BAG:SYD:(A;;GRGX;;;" + alice + ")", NewToken(alice), FileGenericRead | FileGenericExecute},
		{"inherit-only does not apply", "O:BAG:SYD:(A;OICIIO;FA;;;" + alice + ")", NewToken(alice), 0},
		{"inherited applies", "O:BAG:SYD:(A;ID;FR;;;" + alice + ")", NewToken(alice), FileGenericRead},
		{"owner's implicit rights", "O:" + alice + "G:SYD:", NewToken(alice), ReadControl | WriteDAC},
		{"owner's implicit rights survive a deny", "O:" + alice + "G:SYD:(D;;FA;;;" + alice + ")", NewToken(alice), ReadControl | WriteDAC},
		{"OWNER RIGHTS replaces them", "O:" + alice + "G:SYD:(A;;FR;;;OW)", NewToken(alice), FileGenericRead},
		{"OWNER RIGHTS is only the owner's", "O:" + alice + "G:SYD:(A;;FR;;;OW)", NewToken(bob), 0},
		{"BUILTIN\\Users is every principal", "O:BAG:SYD:(A;;0x1200a9;;;BU)", NewToken(bob), 0x1200a9},
		{"Authenticated Users", "O:BAG:SYD:(A;;0x1301bf;;;AU)", NewToken(bob), 0x1301bf},
		{"Everyone", "O:BAG:SYD:(A;;FR;;;WD)", NewToken(bob), FileGenericRead},
		{"BUILTIN\\Administrators is empty", "O:BAG:SYD:(A;;FA;;;BA)", NewToken(alice, SIDAdministrators), 0},
		{"SYSTEM is no one", "O:BAG:SYD:(A;;FA;;;SY)", NewToken(alice, SIDSystem), 0},
		{"CREATOR OWNER matches no one", "O:" + alice + "G:SYD:(A;;FA;;;CO)", NewToken(alice), ReadControl | WriteDAC},
		{"an unknown SID grants nothing to others", "O:BAG:SYD:(A;;FA;;;S-1-5-21-1-2-3-1001)", NewToken(alice), 0},
		{"empty DACL", "O:BAG:SYD:", NewToken(alice), 0},
		{"audit and object ACEs grant nothing", "O:BAG:SYD:(OA;;FA;;;" + alice + ")(AU;SA;FA;;;" + alice + ")", NewToken(alice), 0},
		{"a conditional deny fails closed", "O:BAG:SYD:(XD;;FW;;;" + alice + ")(A;;FA;;;" + alice + ")", NewToken(alice), FileAllAccess &^ FileGenericWrite},
		{"hex mask", "O:BAG:SYD:(A;;0x1f01ff;;;" + alice + ")", NewToken(alice), FileAllAccess},
	} {
		if got := compile(t, tt.sddl).MaximumAllowed(tt.tok); got != tt.want {
			t.Errorf("%s: MaximumAllowed = %#x, want %#x", tt.name, got, tt.want)
		}
	}
	c := compile(t, "O:BAG:SYD:(A;;FR;;;"+alice+")")
	if !c.Check(NewToken(alice), GenericRead) || c.Check(NewToken(alice), FileWriteData) {
		t.Error("Check does not follow MaximumAllowed")
	}
}

// Seed 004's table: share-level role × NTFS permission on the file. Each cell lists what the
// caller can do: R read data, X run, W write data, D delete, A apply permissions (change the
// DACL). Where the seed's wording is looser than Windows' bits, the cell follows the bits and
// says why.
func TestSeed004Table(t *testing.T) {
	roles := []struct {
		name  string
		share ShareRights
	}{
		{"no role", ShareRights{}},
		{"SMB Share Reader", ShareRights{Read: true}},
		{"SMB Share Contributor", ShareRights{Read: true, Write: true, Delete: true}},
		{"SMB Share Elevated Contributor", ShareRights{Read: true, Write: true, Delete: true, ModifyPermissions: true}},
	}
	rows := []struct {
		ntfs, rights string
		want         [4]string // per role
		why          string
	}{
		{"None", "", [4]string{"", "", "", ""}, ""},
		{"Read", "FR", [4]string{"", "R", "R", "R"}, ""},
		// The seed says "Read" for Run & Execute and List Folder; the rights include running
		// (traversing, for a folder), which the share's read permission also allows.
		{"Run & Execute", "0x1200a9", [4]string{"", "RX", "RX", "RX"}, ""},
		{"List Folder", "0x1200a9", [4]string{"", "RX", "RX", "RX"}, ""},
		// icacls W is write-only (0x100116): neither read data nor run; the seed's "Read" and
		// "Run" in this row cannot come from it.
		{"Write", "0x100116", [4]string{"", "", "W", "W"}, "Write grants no read or execute right"},
		{"Modify", "0x1301bf", [4]string{"", "RX", "RXWD", "RXWD"}, ""},
		{"Full", "FA", [4]string{"", "RX", "RXWD", "RXWDA"}, ""},
	}
	can := func(m uint32) string {
		var b strings.Builder
		for _, c := range []struct {
			letter string
			bit    uint32
		}{{"R", FileReadData}, {"X", FileExecute}, {"W", FileWriteData}, {"D", Delete}, {"A", WriteDAC}} {
			if m&c.bit != 0 {
				b.WriteString(c.letter)
			}
		}
		return b.String()
	}
	for _, row := range rows {
		sddl := "O:BAG:SYD:"
		if row.rights != "" {
			sddl += "(A;;" + row.rights + ";;;" + alice + ")"
		}
		c := compile(t, sddl)
		for i, role := range roles {
			if got := can(Effective(c, NewToken(alice), role.share)); got != row.want[i] {
				t.Errorf("NTFS %s × %s: can %q, want %q %s", row.ntfs, role.name, got, row.want[i], row.why)
			}
		}
	}
	// "Apply permissions to your own folder/files": Modify + Elevated Contributor, as owner.
	own := compile(t, "O:"+alice+"G:SYD:(A;;0x1301bf;;;"+alice+")")
	if got := can(Effective(own, NewToken(alice), roles[3].share)); got != "RXWDA" {
		t.Errorf("owner with Modify × Elevated Contributor: %q, want RXWDA", got)
	}
	if got := can(Effective(own, NewToken(alice), roles[2].share)); got != "RXWD" {
		t.Errorf("owner with Modify × Contributor: %q, want RXWD (no applying permissions)", got)
	}
	// SMB Admin: take ownership and backup semantics over any ACL; the account key: everything.
	admin := ShareRights{Read: true, Write: true, Delete: true, ModifyPermissions: true, BackupRead: true, BackupWrite: true, TakeOwnership: true}
	none := compile(t, "O:BAG:SYD:")
	if got := Effective(none, NewToken(alice), admin); got != WriteOwner {
		t.Errorf("SMB Admin without backup intent on an ACL that grants nothing: %#x, want only WRITE_OWNER (take ownership)", got)
	}
	admin.BackupIntent = true
	if got := Effective(none, NewToken(alice), admin); got&WriteOwner == 0 || got&FileReadData == 0 || got&FileWriteData == 0 || got&WriteDAC == 0 {
		t.Errorf("SMB Admin with backup intent on an ACL that grants nothing: %#x", got)
	}
	if got := Effective(none, NewToken(alice), ShareRights{TakeOwnership: true}); got != WriteOwner {
		t.Errorf("takeOwnership alone: %#x, want WRITE_OWNER only", got)
	}
	if got := Effective(none, NewToken(alice), ShareRights{AccountKey: true}); got&FileAllAccess != FileAllAccess {
		t.Errorf("account key: %#x", got)
	}
}

// deepDescriptor is a file 32 directories deep under the default root: every level adds two
// explicit ACEs and inherits the rest, 64 ACEs in all, the caller matching only late ones.
func deepDescriptor(t testing.TB) *Compiled {
	var b strings.Builder
	b.WriteString("O:BAG:SYD:")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "(A;ID;FR;;;S-1-12-1-%d-2-3-4)(D;ID;FW;;;S-1-12-1-%d-5-6-7)", 1000+i, 2000+i)
	}
	b.WriteString("(A;ID;0x1200a9;;;BU)(A;ID;0x1301bf;;;" + readers + ")(A;ID;FA;;;SY)(A;ID;FA;;;BA)")
	return compile(t, b.String())
}

func TestCheckAllocations(t *testing.T) {
	c := deepDescriptor(t)
	tok := NewToken(alice, readers, "S-1-12-1-42-42-42-42")
	if got := c.MaximumAllowed(tok); got != 0x1301bf {
		t.Fatalf("MaximumAllowed = %#x", got)
	}
	if n := testing.AllocsPerRun(100, func() { c.Check(tok, FileReadData|FileWriteData) }); n != 0 {
		t.Errorf("Check allocates %v times, want 0", n)
	}
}

func BenchmarkCheck64ACEs(b *testing.B) {
	c := deepDescriptor(b)
	tok := NewToken(alice, readers, "S-1-12-1-42-42-42-42")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c.Check(tok, FileReadData|FileWriteData)
	}
}
