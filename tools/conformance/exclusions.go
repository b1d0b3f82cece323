package main

import "strings"

// exclusions are the tests skipped because they need what Cerulean does not build (or a
// service outside it), each with its reason: the one place they are listed.
var exclusions = []struct {
	Suite, Pattern, Reason string
}{
	{"azkeys", "TestReleaseKey", "secure key release needs an attestation service (a mock on *.azurewebsites.net); Cerulean answers NotSupported"},
	{"azfile", "Test/TestFileUploadRangeFromURLCopySourceAuthBlob", "copies from the Blob service, which Cerulean does not build"},
	{"armstorage", "TestStorageTestSuite/TestPrivateEndpointConnections", "deploys Microsoft.Network resources through an ARM template deployment; neither is built"},
}

// skipPattern is the go test -skip pattern of a suite's exclusions.
func skipPattern(suite string) string {
	var ps []string
	for _, e := range exclusions {
		if e.Suite == suite {
			ps = append(ps, e.Pattern)
		}
	}
	return strings.Join(ps, "|")
}
