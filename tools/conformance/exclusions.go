package main

import "strings"

const nfs = "NFS shares (premium FileStorage accounts with the NFS protocol) are not built; SMB and REST are"

// exclusions are the tests that need what Cerulean does not build (or a service outside it),
// each with its reason: the one place they are listed.
var exclusions = []struct {
	Suite, Pattern, Reason string
}{
	{"azkeys", "TestReleaseKey", "secure key release needs an attestation service (a mock on *.azurewebsites.net); Cerulean answers NotSupported"},
	{"azfile", "Test/TestFileUploadRangeFromURLCopySourceAuthBlob", "copies from the Blob service, which Cerulean does not build"},
	{"azfile", "Test/TestDirCreateNfs", nfs},
	{"azfile", "Test/TestDirSetPropertiesNfs", nfs},
	{"azfile", "Test/TestCreateFileNFS", nfs},
	{"azfile", "Test/TestCreateHardLinkNFS", nfs},
	{"azfile", "Test/TestCreateHardLinkNFSWithLease", nfs},
	{"azfile", "Test/TestCreateSymbolicLinkNFS", nfs},
	{"azfile", "Test/TestCreateSymbolicLinkNFSWithOptions", nfs},
	{"azfile", "Test/TestGetSymbolicLinkNFS", nfs},
	{"azfile", "Test/TestFileSetHTTPHeadersNfs", nfs},
	{"azfile", "Test/TestFileStartCopyModeCopyModeNfs", nfs},
	{"azfile", "Test/TestAccountPropertiesWithNFS", nfs},
	{"armstorage", "TestStorageTestSuite/TestPrivateEndpointConnections", "deploys Microsoft.Network resources through an ARM template deployment; neither is built"},
	{"armstorage", "TestStorageTestSuite/TestPrivateLinkResources", "private endpoints belong to Microsoft.Network, which is not built"},
	{"armstorage", "TestBlobTestSuite", "the Blob service is outside Cerulean (identity, keys and Azure Files)"},
	{"armstorage", "TestQueueTestSuite", "the Queue service is outside Cerulean"},
	{"armstorage", "TestTableTestSuite", "the Table service is outside Cerulean"},
	{"armstorage", "TestStorageTestSuite/TestBlobInventoryPolicies", "blob inventory belongs to the Blob service"},
	{"armstorage", "TestStorageTestSuite/TestManagementPolicies", "lifecycle management policies act on blobs"},
	{"armstorage", "TestStorageTestSuite/TestLocalUsers", "local users are SFTP logins to Blob storage"},
	{"armstorage", "TestStorageTestSuite/TestEncryptionScopes", "encryption scopes apply to blobs and containers, not to Azure Files"},
}

// excluded tells whether a test (its full name, subtests after slashes) falls under one of
// a suite's exclusions. Excluded tests still run; they are counted apart, never as failures.
func excluded(suite, test string) (string, bool) {
	for _, e := range exclusions {
		if e.Suite == suite && (test == e.Pattern || strings.HasPrefix(test, e.Pattern+"/")) {
			return e.Reason, true
		}
	}
	return "", false
}
