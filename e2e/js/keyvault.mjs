// Drives Cerulean's Key Vault data plane with the official, unmodified Azure SDK for
// JavaScript. Run by e2e/js_test.go (TestJS_KeyVault); prints exactly one JSON line on stdout.
//
// Environment:
//   MODE                     "denied": createKey must be refused; prints {statusCode, code, message}
//                            "allowed": the key lifecycle and crypto; prints the results
//   CERULEAN_TENANT_ID       tenant of the service principal
//   CERULEAN_AUTHORITY_HOST  https://127.0.0.1:PORT (Cerulean's token service)
//   CERULEAN_CLIENT_ID / CERULEAN_CLIENT_SECRET   the service principal
//   CERULEAN_VAULT_URL       path-style vault URL, https://127.0.0.1:PORT/vaults/<name>
//   CERULEAN_KEY_NAME        the key to create
//   CERULEAN_PROXY           Cerulean's interception proxy, http://127.0.0.1:PORT (MODE=allowed:
//                            CryptographyClient only, see makeCryptographyClient)
//   NODE_EXTRA_CA_CERTS      Cerulean's CA (ca.pem)
import { createHash, randomBytes } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { CryptographyClient, KeyClient } from "@azure/keyvault-keys";

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`keyvault.mjs: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

const mode = env("MODE");
const tenantId = env("CERULEAN_TENANT_ID");
const authorityHost = env("CERULEAN_AUTHORITY_HOST");
const clientId = env("CERULEAN_CLIENT_ID");
const clientSecret = env("CERULEAN_CLIENT_SECRET");
const vaultUrl = env("CERULEAN_VAULT_URL");
const keyName = env("CERULEAN_KEY_NAME");

// A test wants the first answer, not a retried one.
const retryOptions = { maxRetries: 0 };

// authorityHost alone is not enough for a non-Microsoft authority: MSAL would first validate
// it through instance discovery (login.microsoftonline.com/common/discovery/instance).
// disableInstanceDiscovery makes @azure/identity hand MSAL the authority as a known authority
// (getKnownAuthorities in @azure/identity/dist/esm/msal/utils.js), so MSAL only reads
// <authority>/v2.0/.well-known/openid-configuration and posts to its token_endpoint.
const credential = new ClientSecretCredential(tenantId, clientId, clientSecret, {
  authorityHost,
  disableInstanceDiscovery: true,
  retryOptions,
});

// The vault is on Cerulean's own address (path-style), so the challenge's resource
// (https://vault.azure.net) cannot match the request's host: turn that check off, as with
// any non-standard vault host.
const clientOptions = { disableChallengeResourceVerification: true, retryOptions };
const keyClient = new KeyClient(vaultUrl, credential, clientOptions);

// errorFields is what the SDK's RestError tells of a refused request (it keeps the envelope's
// error.code, not its innererror).
function errorFields(e) {
  return {
    statusCode: e?.statusCode,
    code: e?.code,
    message: String(e?.message ?? e),
  };
}

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function denied() {
  try {
    const key = await keyClient.createKey(keyName, "RSA", { keySize: 2048 });
    print({ statusCode: 200, code: "", message: `createKey succeeded without a role: ${key.id}` });
  } catch (e) {
    print(errorFields(e));
  }
}

async function allowed() {
  let step = "createKey";
  try {
    const created = await keyClient.createRsaKey(keyName, { keySize: 2048 });
    const res = {
      keyId: created.id,
      keyName: created.name,
      version: created.properties.version,
      kty: created.keyType,
      modulusBytes: created.key?.n?.length ?? 0,
    };

    step = "getKey";
    const got = await keyClient.getKey(keyName);
    res.getKeyId = got.id;

    step = "listPropertiesOfKeys";
    res.listed = false;
    for await (const p of keyClient.listPropertiesOfKeys()) {
      if (p.name === keyName) res.listed = true;
    }

    step = "CryptographyClient";
    const crypto = makeCryptographyClient(created);
    res.cryptoKeyId = crypto.keyID;

    step = "wrapKey";
    const dek = randomBytes(32);
    const wrapped = await crypto.wrapKey("RSA-OAEP-256", dek);
    res.wrapAlgorithm = wrapped.algorithm;
    res.wrappedBytes = wrapped.result.length;
    res.wrapKeyId = wrapped.keyID;

    step = "unwrapKey";
    const unwrapped = await crypto.unwrapKey("RSA-OAEP-256", wrapped.result);
    res.unwrapEqual = Buffer.compare(Buffer.from(unwrapped.result), dek) === 0;

    step = "sign";
    const digest = createHash("sha256").update("Cerulean e2e: JavaScript SDK").digest();
    const signed = await crypto.sign("RS256", digest);
    res.signAlgorithm = signed.algorithm;
    res.signatureBytes = signed.result.length;

    step = "verify";
    res.verified = (await crypto.verify("RS256", digest, signed.result)).result;
    const tampered = Buffer.from(signed.result);
    tampered[0] ^= 1;
    res.tamperedVerified = (await crypto.verify("RS256", digest, tampered)).result;

    step = "rotateKey";
    const rotated = await keyClient.rotateKey(keyName);
    res.rotatedKeyId = rotated.id;
    res.rotatedVersion = rotated.properties.version;
    res.versionsDiffer = rotated.properties.version !== created.properties.version;

    step = "getKey after rotateKey";
    res.latestAfterRotate = (await keyClient.getKey(keyName)).id;

    print(res);
  } catch (e) {
    print({ failedStep: step, ...errorFields(e) });
    process.stderr.write(`keyvault.mjs: ${step}: ${e?.stack ?? e}\n`);
    process.exit(1);
  }
}

// makeCryptographyClient returns a CryptographyClient for the key KeyClient returned.
//
// Neither of the SDK's two ways of building one keeps requests on the path-style URL:
//  - keyClient.getCryptographyClient(name, { keyVersion }) builds the key URL with
//    new URL("keys/<name>/<version>", vaultUrl) (KeyClient.getCryptographyClient in
//    @azure/keyvault-keys/dist/esm/index.js), which resolves against
//    https://127.0.0.1:PORT/vaults/<vault> to https://127.0.0.1:PORT/vaults/keys/<name>/<version>
//    (the vault name is dropped; with a trailing slash it is kept), and RemoteCryptographyProvider
//    then rejects either form as "not a valid Key Vault key ID": parseKeyVaultIdentifier
//    (@azure/keyvault-common) accepts only a path of exactly /keys/<name>[/<version>] and takes
//    the vault URL to be the scheme and host alone.
//  - new CryptographyClient(key, credential, options) parses key.id, which is Key Vault's
//    canonical https://<vault>.vault.azure.net/keys/<name>/<version> (as in Azure), and sends
//    every operation to https://<vault>.vault.azure.net.
// So the second is the one that works, reaching the canonical host name through Cerulean's
// interception proxy (what `cerulean env` sets as HTTPS_PROXY). The proxy is given to this
// client alone (proxyOptions), so the KeyClient and the token requests still go straight to
// 127.0.0.1. On the canonical host the challenge's resource (https://vault.azure.net) matches
// the request's domain, so this client keeps the SDK's challenge resource verification on.
function makeCryptographyClient(key) {
  const proxy = new URL(env("CERULEAN_PROXY"));
  return new CryptographyClient(key, credential, {
    retryOptions,
    proxyOptions: { host: `${proxy.protocol}//${proxy.hostname}`, port: Number(proxy.port) },
  });
}

switch (mode) {
  case "denied":
    await denied();
    break;
  case "allowed":
    await allowed();
    break;
  default:
    process.stderr.write(`keyvault.mjs: unknown MODE ${mode}\n`);
    process.exit(2);
}
