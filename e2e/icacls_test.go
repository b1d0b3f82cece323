package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/storage/armstorage"
	"github.com/cerulean-azure/cerulean/internal/ntfs"
)

// icacls runs `cerulean icacls` as a principal (or, with sp nil, with the account key) and
// returns its output and exit status.
func icacls(t *testing.T, sp *servicePrincipal, key string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append(append([]string{"icacls"}, args...), "--data", dataDir)...)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	if sp != nil {
		cmd.Env = append(cmd.Env, "AZURE_CLIENT_ID="+sp.AppID, "AZURE_CLIENT_SECRET="+sp.Password)
	} else {
		cmd.Args = append(cmd.Args, "--key", key)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestICACLS (issue 11 item 5, and the ACL rules of item 3): the root's default ACL as seed
// 004 lists it; changes refused without WRITE_DAC (share level or ACL); allowed with Full and
// Elevated Contributor; SMB Admin takes ownership and then may; children inherit changes; the
// result reads back the same over REST; explain agrees.
func TestICACLS(t *testing.T) {
	svc, account, rg, _ := filesFixture(t) // share "data" with dir/a.txt
	keys, err := accountsClient(t, adminCredential(t)).ListKeys(ctxT(t), rg, account, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := *keys.Keys[0].Value
	admin := adminCredential(t)
	shareScope := subScope() + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + account + "/fileServices/default/fileshares/data"
	contrib, elevated, smbAdmin, reader := newServicePrincipal(t, "icacls-contrib"), newServicePrincipal(t, "icacls-elevated"), newServicePrincipal(t, "icacls-smbadmin"), newServicePrincipal(t, "icacls-reader")
	for sp, role := range map[string]string{contrib.ObjectID: roleSMBShareContributor, elevated.ObjectID: roleSMBShareElevated, smbAdmin.ObjectID: roleSMBAdmin, reader.ObjectID: roleSMBShareReader} {
		if err := assignRole(t, admin, shareScope, role, sp); err != nil {
			t.Fatal(err)
		}
	}
	root, dir, file := "//"+account+"/data", "//"+account+"/data/dir", "//"+account+"/data/dir/a.txt"

	// The default root ACL, as seed 004 lists it, for a share made over REST and one made
	// through Resource Manager.
	sc, err := armstorage.NewFileSharesClient(srv.SubscriptionID, admin, armOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Create(ctxT(t), rg, account, "viaarm", armstorage.FileShare{}, nil); err != nil {
		t.Fatal(err)
	}
	armOut, _ := icacls(t, nil, key, "//"+account+"/viaarm")
	out, code := icacls(t, nil, key, root)
	if entries := func(s, path string) string { return strings.Join(strings.Fields(strings.ReplaceAll(s, path, "")), " ") }; entries(armOut, "//"+account+"/viaarm") != entries(out, root) {
		t.Errorf("the root of a share made through ARM:\n%s\nof one made over REST:\n%s", armOut, out)
	}
	for _, want := range []string{`BUILTIN\Administrators:(OI)(CI)(F)`, `BUILTIN\Users:(RX)`, `BUILTIN\Users:(OI)(CI)(IO)(GR,GE)`,
		`NT AUTHORITY\Authenticated Users:(OI)(CI)(M)`, `NT AUTHORITY\SYSTEM:(OI)(CI)(F)`, `NT AUTHORITY\SYSTEM:(F)`, `CREATOR OWNER:(OI)(CI)(IO)(F)`} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("root listing (exit %d) lacks %q:\n%s", code, want, out)
		}
	}
	// The subscription Owner holds no data role: it cannot even read the ACL.
	adminSP := servicePrincipal{AppID: srv.AdminClientID, Password: srv.AdminClientSecret}
	if out, code := icacls(t, &adminSP, "", dir); code != 1 || !strings.Contains(out, "Access is denied") {
		t.Errorf("the subscription Owner listing an ACL: exit %d\n%s", code, out)
	}
	// A wrong key is refused without saying which part was wrong.
	if out, code := icacls(t, nil, "bm90LXRoZS1rZXk=", dir); code == 0 || !strings.Contains(out, "not valid") {
		t.Errorf("a wrong key: exit %d\n%s", code, out)
	}

	// Contributor with Modify (inherited through Authenticated Users): no WRITE_DAC at the share.
	if out, code := icacls(t, &contrib, "", dir, "/grant", "icacls-reader:R"); code != 1 || !strings.Contains(out, "WRITE_DAC") {
		t.Errorf("Contributor changing an ACL: exit %d\n%s", code, out)
	}
	// Elevated Contributor with only Modify on someone else's directory: refused too.
	if out, code := icacls(t, &elevated, "", dir, "/grant", "icacls-reader:R"); code != 1 || !strings.Contains(out, "WRITE_DAC") {
		t.Errorf("Elevated Contributor with Modify on another's directory: exit %d\n%s", code, out)
	}
	// Full + Elevated Contributor: "apply permissions to anyone's folders/files".
	if out, code := icacls(t, nil, key, dir, "/grant", "icacls-elevated:(OI)(CI)F"); code != 0 {
		t.Fatalf("the account key granting Full: exit %d\n%s", code, out)
	}
	if out, code := icacls(t, &elevated, "", dir, "/deny", "icacls-reader:(OI)(CI)(W)"); code != 0 {
		t.Fatalf("Full × Elevated Contributor changing the ACL: exit %d\n%s", code, out)
	}
	// The child inherited both changes.
	out, _ = icacls(t, nil, key, file)
	if !strings.Contains(out, "icacls-elevated:(I)(F)") || !strings.Contains(out, "icacls-reader:(DENY)(I)(W)") {
		t.Errorf("the file did not inherit the directory's new entries:\n%s", out)
	}
	// Giving ownership away needs the restore privilege.
	if out, code := icacls(t, &elevated, "", dir, "/setowner", "icacls-reader"); code != 1 || !strings.Contains(out, "WRITE_OWNER") {
		t.Errorf("Elevated Contributor giving ownership away: exit %d\n%s", code, out)
	}

	// SMB Admin: no WRITE_DAC from the ACL on the file, but takes ownership, then may.
	if out, code := icacls(t, nil, key, file, "/inheritance:r", "/grant", "icacls-contrib:F"); code != 0 {
		t.Fatalf("protecting the file: exit %d\n%s", code, out)
	}
	if out, code := icacls(t, &smbAdmin, "", file, "/grant", "icacls-reader:R"); code != 1 {
		t.Errorf("SMB Admin before taking ownership: exit %d\n%s", code, out)
	}
	if out, code := icacls(t, &smbAdmin, "", file, "/setowner", "icacls-smbadmin"); code != 0 {
		t.Fatalf("SMB Admin taking ownership: exit %d\n%s", code, out)
	}
	if out, code := icacls(t, &smbAdmin, "", file, "/grant", "icacls-reader:R"); code != 0 {
		t.Fatalf("SMB Admin as owner changing the ACL: exit %d\n%s", code, out)
	}

	// The same descriptor over REST.
	props, err := svc.NewShareClient("data").NewDirectoryClient("dir").NewFileClient("a.txt").GetProperties(ctxT(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	perm, err := svc.NewShareClient("data").GetPermission(ctxT(t), *props.FilePermissionKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := ntfs.Parse(*perm.Permission)
	if err != nil || !strings.HasPrefix(sd.DACLFlags, "P") || len(sd.DACL) != 2 {
		t.Fatalf("REST reads %s (%v), want the protected DACL icacls wrote", *perm.Permission, err)
	}
	// explain agrees with what the reader may now do on the file: read, not write.
	a, _ := explainPathCLI(t, reader.AppID, file)
	if a.Mask&ntfs.FileReadData == 0 || a.Mask&ntfs.FileWriteData != 0 {
		t.Errorf("explain for the reader after the grant: %s", a.Rights)
	}
}
