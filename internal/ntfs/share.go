package ntfs

// ShareRights is what the share level lets a caller do at all: the data actions of its
// Storage File Data SMB roles (or a custom role with the same actions) at the share, or the
// storage account key. Seed 004: "both share-level and file/directory-level permissions are
// enforced ... only the most restrictive one applies".
type ShareRights struct {
	Read, Write, Delete, ModifyPermissions bool // fileshares/files/read, write, delete, modifypermissions/action
	// Privileges (fileServices/readFileBackupSemantics, writeFileBackupSemantics, takeOwnership
	// actions): they grant their rights whatever the ACL says, as SeBackupPrivilege,
	// SeRestorePrivilege and SeTakeOwnershipPrivilege do on a Windows file server. Backup and
	// restore apply only to opens with backup intent (BackupIntent: robocopy /B, the REST
	// API's x-ms-file-request-intent: backup); taking ownership always applies.
	BackupRead, BackupWrite, TakeOwnership bool
	BackupIntent                           bool
	// AccountKey is the storage account key: the superuser, ACLs do not apply.
	AccountKey bool
}

// Rights the share level and the privileges stand for.
const (
	shareReadRights  = FileGenericRead | FileGenericExecute // read data and attributes, list, traverse, run, read the ACL
	shareWriteRights = FileWriteData | FileAppendData | FileWriteEA | FileWriteAttributes | Synchronize
	shareDelete      = Delete | FileDeleteChild
	backupReadRights = FileGenericRead | FileGenericExecute | AccessSystemSecurity
	backupWrite      = FileGenericWrite | FileAppendData | Delete | FileDeleteChild | WriteDAC | WriteOwner | AccessSystemSecurity
)

// Mask is every right the share level allows.
func (s ShareRights) Mask() uint32 {
	if s.AccountKey {
		return FileAllAccess | AccessSystemSecurity
	}
	var m uint32
	if s.Read {
		m |= shareReadRights
	}
	if s.Write {
		m |= shareWriteRights | ReadControl
	}
	if s.Delete {
		m |= shareDelete
	}
	if s.ModifyPermissions {
		m |= WriteDAC | ReadControl
	}
	return m | s.privileges()
}

func (s ShareRights) privileges() uint32 {
	var m uint32
	if s.BackupRead && s.BackupIntent {
		m |= backupReadRights
	}
	if s.BackupWrite && s.BackupIntent {
		m |= backupWrite
	}
	if s.TakeOwnership {
		m |= WriteOwner
	}
	return m
}

// Effective is what the token may do on an object with descriptor c, share-level rights s
// applying: the ACL's grant plus the privileges, limited by the share level. A nil
// descriptor grants only what privileges grant.
func Effective(c *Compiled, t *Token, s ShareRights) uint32 {
	if s.AccountKey {
		return FileAllAccess | AccessSystemSecurity
	}
	var acl uint32
	if c != nil {
		acl = c.MaximumAllowed(t)
	}
	return (acl | s.privileges()) & s.Mask()
}
