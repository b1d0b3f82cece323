// Command vaultkey does with the Azure SDK for Go what Debian's az 2.45 cannot (its
// `az keyvault key` module does not load): create, disable and enable a Key Vault key. It is
// ordinary Azure code: DefaultAzureCredential and the vault's real URL,
// https://<vault>.vault.azure.net, which the shell `eval "$(cerulean env)"` configured
// routes to Cerulean (HTTPS_PROXY, SSL_CERT_FILE, AZURE_* credentials).
//
//	go run ./examples/vaultkey create  <vault> <key>   # an RSA key; prints its id
//	go run ./examples/vaultkey disable <vault> <key>
//	go run ./examples/vaultkey enable  <vault> <key>
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: vaultkey create|disable|enable <vault> <key>")
		os.Exit(2)
	}
	op, vault, name := os.Args[1], os.Args[2], os.Args[3]
	if err := run(context.Background(), op, vault, name); err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			fmt.Fprintf(os.Stderr, "vaultkey: %s %s/%s: %d %s\n", op, vault, name, re.StatusCode, describe(re))
		} else {
			fmt.Fprintf(os.Stderr, "vaultkey: %s %s/%s: %v\n", op, vault, name, err)
		}
		os.Exit(1)
	}
}

// describe is Key Vault's error: its code, the inner code that says why, and the message.
func describe(re *azcore.ResponseError) string {
	var body struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if re.RawResponse == nil || re.RawResponse.Body == nil {
		return re.ErrorCode
	}
	b, _ := io.ReadAll(re.RawResponse.Body)
	if json.Unmarshal(b, &body) != nil || body.Error.Code == "" {
		return re.ErrorCode
	}
	s := body.Error.Code
	if body.Error.InnerError.Code != "" {
		s += " (" + body.Error.InnerError.Code + ")"
	}
	return s + ": " + body.Error.Message
}

func run(ctx context.Context, op, vault, name string) error {
	cred, err := azidentity.NewDefaultAzureCredential(nil)
	if err != nil {
		return err
	}
	client, err := azkeys.NewClient("https://"+vault+".vault.azure.net", cred, nil)
	if err != nil {
		return err
	}
	switch op {
	case "create":
		k, err := client.CreateKey(ctx, name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil)
		if err != nil {
			return err
		}
		fmt.Println(*k.Key.KID)
	case "disable", "enable":
		k, err := client.UpdateKey(ctx, name, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(op == "enable")}}, nil)
		if err != nil {
			return err
		}
		fmt.Printf("%s enabled=%v\n", *k.Key.KID, *k.Attributes.Enabled)
	default:
		return fmt.Errorf("unknown operation %q: create, disable or enable", op)
	}
	return nil
}
