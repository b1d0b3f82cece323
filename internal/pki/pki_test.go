package pki

import (
	"bytes"
	"crypto/x509"
	"testing"
)

func TestCA_LeafVerifies(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"", "127.0.0.1", "myvault.vault.azure.net", "management.azure.com"} {
		t.Run(host, func(t *testing.T) {
			c, err := ca.Leaf(host)
			if err != nil {
				t.Fatal(err)
			}
			name := host
			if name == "" {
				name = "localhost"
			}
			if _, err := c.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: ca.Pool()}); err != nil {
				t.Fatalf("verify %s: %v", name, err)
			}
		})
	}
	again, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Cert.Raw, ca.Cert.Raw) {
		t.Fatal("reloaded CA differs from the created one")
	}
}
