package files

import (
	"net/http"

	"github.com/cerulean-azure/cerulean/internal/azerr"
)

// An operation is one File service API, declared with what it needs: the shared access
// signature's resource type and permission (one of the letters), and so the RBAC data
// actions an OAuth caller must hold at the share. Authentication classifies every request by
// this table before anything is looked up; a request that matches no operation is refused
// there, so no handler is reachable without a declared need.
type operation struct {
	Name   string
	Level  byte   // 's' the service, 'c' a share, 'd' a directory, 'f' a file
	Method string // HEAD is listed where it is served
	Comp   string // the comp query parameter ("" for none)
	Copy   bool   // a PUT with x-ms-copy-source (Copy File)
	Perms  string // SAS permission letters, any of which suffices
}

// Operations the File service serves.
var operations = []operation{
	{"List Shares", 's', "GET", "list", false, "l"},
	{"Get File Service Properties", 's', "GET", "properties", false, "r"},
	{"Set File Service Properties", 's', "PUT", "properties", false, "w"},
	{"Get User Delegation Key", 's', "POST", "userdelegationkey", false, ""}, // OAuth only: no SAS permission

	{"Create Share", 'c', "PUT", "", false, "cw"},
	{"Get Share Properties", 'c', "GET", "", false, "r"},
	{"Get Share Properties", 'c', "HEAD", "", false, "r"},
	{"Get Share Stats", 'c', "GET", "stats", false, "r"},
	{"Delete Share", 'c', "DELETE", "", false, "d"},
	{"Set Share Metadata", 'c', "PUT", "metadata", false, "w"},
	{"Set Share Properties", 'c', "PUT", "properties", false, "w"},
	{"Create Permission", 'c', "PUT", "filepermission", false, "w"},
	{"Get Permission", 'c', "GET", "filepermission", false, "r"},
	{"Lease Share", 'c', "PUT", "lease", false, "w"},
	{"Get Share ACL", 'c', "GET", "acl", false, "r"},
	{"Get Share ACL", 'c', "HEAD", "acl", false, "r"},
	{"Set Share ACL", 'c', "PUT", "acl", false, "w"},
	{"Snapshot Share", 'c', "PUT", "snapshot", false, "w"},
	{"Restore Share", 'c', "PUT", "undelete", false, "w"},

	{"List Directories and Files", 'd', "GET", "list", false, "l"},
	{"Create Directory", 'd', "PUT", "", false, "cw"},
	{"Get Directory Properties", 'd', "GET", "", false, "r"},
	{"Get Directory Properties", 'd', "HEAD", "", false, "r"},
	{"Delete Directory", 'd', "DELETE", "", false, "d"},
	{"Set Directory Metadata", 'd', "PUT", "metadata", false, "w"},
	{"Set Directory Properties", 'd', "PUT", "properties", false, "w"},
	{"Rename Directory", 'd', "PUT", "rename", false, "w"},
	{"List Handles", 'd', "GET", "listhandles", false, "l"},
	{"Force Close Handles", 'd', "PUT", "forceclosehandles", false, "w"},

	{"Copy File", 'f', "PUT", "", true, "w"},
	{"Create File", 'f', "PUT", "", false, "cw"},
	{"Put Range", 'f', "PUT", "range", false, "w"},
	{"List Ranges", 'f', "GET", "rangelist", false, "r"},
	{"Get File", 'f', "GET", "", false, "r"},
	{"Get File Properties", 'f', "HEAD", "", false, "r"},
	{"Delete File", 'f', "DELETE", "", false, "d"},
	{"Get File Metadata", 'f', "GET", "metadata", false, "r"},
	{"Set File Metadata", 'f', "PUT", "metadata", false, "w"},
	{"Set File Properties", 'f', "PUT", "properties", false, "w"},
	{"Rename File", 'f', "PUT", "rename", false, "w"},
	{"Lease File", 'f', "PUT", "lease", false, "w"},
	{"Abort Copy File", 'f', "PUT", "copy", false, "w"},
	{"List Handles", 'f', "GET", "listhandles", false, "r"},
	{"Force Close Handles", 'f', "PUT", "forceclosehandles", false, "w"},
}

// Operation is an operation as tests and documentation see it.
type Operation struct {
	Name, Method, Comp string
	Level              byte
	Copy               bool
	Perms              string
	Actions            []string
}

// Operations lists the File service's operations with what each needs.
func Operations() []Operation {
	out := make([]Operation, len(operations))
	for i, o := range operations {
		out[i] = Operation{Name: o.Name, Method: o.Method, Comp: o.Comp, Level: o.Level, Copy: o.Copy, Perms: o.Perms, Actions: o.actions()}
	}
	return out
}

// actions are the data actions an OAuth caller needs for the operation (at the share): the
// file action plus the backup-semantics privilege REST access goes through.
func (o *operation) actions() []string {
	if a := o.controlAction(); a != "" {
		return []string{a}
	}
	switch {
	case o.Perms == "d":
		return []string{actionDelete, actionWriteBackup}
	case o.Perms == "l" || o.Perms == "r":
		return []string{actionRead, actionReadBackup}
	}
	return []string{actionWrite, actionWriteBackup}
}

// controlAction is the Resource Manager action an OAuth caller needs for a management
// operation of the FileService or FileShare resource (listing shares, the service's
// properties, creating, reading, changing and deleting a share): Azure serves these in the
// data plane for historical reasons and, from version 2024-11-04, takes OAuth for them as
// its Microsoft.Storage counterparts do, without the backup intent. "" for data operations
// (files, directories, and a share's permissions).
func (o *operation) controlAction() string {
	const prefix = "Microsoft.Storage/storageAccounts/fileServices/"
	switch {
	case o.Comp == "filepermission":
		return ""
	case o.Comp == "userdelegationkey":
		return prefix + "generateUserDelegationKey/action"
	case o.Level == 's' && o.Comp == "list":
		return prefix + "shares/read"
	case o.Level == 's' && o.Perms == "w":
		return prefix + "write"
	case o.Level == 's':
		return prefix + "read"
	case o.Level == 'c' && o.Perms == "d":
		return prefix + "shares/delete"
	case o.Level == 'c' && o.Perms == "r":
		return prefix + "shares/read"
	case o.Level == 'c':
		return prefix + "shares/write"
	}
	return ""
}

// resType is the SAS resource type (srt) the operation's level needs: service, container
// (share) or object (directory and file).
func (o *operation) resType() byte {
	switch o.Level {
	case 's', 'c':
		return o.Level
	}
	return 'o'
}

// levelOf tells which level a request addresses.
func levelOf(share, path string, query map[string]string) byte {
	switch {
	case share == "":
		return 's'
	case path == "" && query["restype"] == "share":
		return 'c'
	case path == "" || query["restype"] == "directory":
		return 'd'
	}
	return 'f'
}

// classify finds the request's operation, or refuses it as Azure refuses a verb or query
// the resource does not serve.
func classify(r *http.Request, share, path string, query map[string]string) (*operation, error) {
	level := levelOf(share, path, query)
	copying := r.Header.Get("x-ms-copy-source") != ""
	comp := query["comp"]
	if level == 's' && query["restype"] != "service" && comp == "properties" {
		comp = "-" // the service's properties need restype=service
	}
	for i := range operations {
		o := &operations[i]
		if o.Level == level && o.Method == r.Method && o.Comp == comp && (o.Method != "PUT" || o.Comp != "" || level != 'f' || o.Copy == copying) {
			return o, nil
		}
	}
	if level == 's' {
		return nil, azerr.BadRequest("InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid: the account root serves ?comp=list and ?restype=service&comp=properties.")
	}
	return nil, azerr.BadRequest("UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb (%s with comp=%s).", r.Method, query["comp"])
}
