// Drives Cerulean's Microsoft.StorageSync (Azure File Sync's control plane) with the official,
// unmodified Azure SDK for JavaScript (@azure/arm-storagesync, api-version 2020-09-01). Run by
// e2e/filesync_node_test.go; prints exactly one JSON line on stdout.
//
// Environment:
//   CERULEAN_TENANT_ID, CERULEAN_AUTHORITY_HOST, CERULEAN_CLIENT_ID, CERULEAN_CLIENT_SECRET
//   CERULEAN_ARM_ENDPOINT      https://127.0.0.1:PORT
//   CERULEAN_SUBSCRIPTION_ID, CERULEAN_RESOURCE_GROUP
//   CERULEAN_ACCOUNT_ID        the storage account of the cloud endpoint (share "data")
//   CERULEAN_SERVER_ID, CERULEAN_SERVER_CERT   a server to register (its GUID, base64 DER)
//   NODE_EXTRA_CA_CERTS        Cerulean's CA
import { ClientSecretCredential } from "@azure/identity";
import { MicrosoftStorageSync } from "@azure/arm-storagesync";

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`storagesync.mjs: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

const cred = new ClientSecretCredential(env("CERULEAN_TENANT_ID"), env("CERULEAN_CLIENT_ID"), env("CERULEAN_CLIENT_SECRET"), {
  authorityHost: env("CERULEAN_AUTHORITY_HOST"),
  disableInstanceDiscovery: true,
});
const client = new MicrosoftStorageSync(cred, env("CERULEAN_SUBSCRIPTION_ID"), {
  endpoint: env("CERULEAN_ARM_ENDPOINT"),
  credentialScopes: ["https://management.azure.com/.default"],
  retryOptions: { maxRetries: 0 },
});
const rg = env("CERULEAN_RESOURCE_GROUP");
const poll = { updateIntervalInMs: 10 };

const svc = await client.storageSyncServices.beginCreateAndWait(rg, "jssync", { location: "westus", incomingTrafficPolicy: "AllowAllTraffic" }, poll);
const group = await client.syncGroups.create(rg, "jssync", "jsgroup", {});
const cloud = await client.cloudEndpoints.beginCreateAndWait(rg, "jssync", "jsgroup", "jscloud",
  { storageAccountResourceId: env("CERULEAN_ACCOUNT_ID"), azureFileShareName: "data", storageAccountTenantId: env("CERULEAN_TENANT_ID") }, poll);
const server = await client.registeredServers.beginCreateAndWait(rg, "jssync", env("CERULEAN_SERVER_ID"),
  { serverCertificate: env("CERULEAN_SERVER_CERT"), agentVersion: "20.0.0.0", serverRole: "Standalone", serverId: env("CERULEAN_SERVER_ID"), friendlyName: "js-server" }, poll);
const endpoint = await client.serverEndpoints.beginCreateAndWait(rg, "jssync", "jsgroup", "jsendpoint",
  { serverLocalPath: "/srv/js", serverResourceId: server.id, cloudTiering: "off" }, poll);
const endpoints = [];
for await (const e of client.serverEndpoints.listBySyncGroup(rg, "jssync", "jsgroup")) endpoints.push(e.name);
let refused = null;
try {
  await client.cloudEndpoints.beginCreateAndWait(rg, "jssync", "jsgroup", "second",
    { storageAccountResourceId: env("CERULEAN_ACCOUNT_ID"), azureFileShareName: "data" }, poll);
} catch (e) {
  refused = { statusCode: e.statusCode, code: e.code };
}
await client.serverEndpoints.beginDeleteAndWait(rg, "jssync", "jsgroup", "jsendpoint", poll);
const afterDelete = [];
for await (const e of client.serverEndpoints.listBySyncGroup(rg, "jssync", "jsgroup")) afterDelete.push(e.name);

console.log(JSON.stringify({
  service: { uid: svc.storageSyncServiceUid, state: svc.provisioningState, traffic: svc.incomingTrafficPolicy },
  group: { uniqueId: group.uniqueId },
  cloud: { share: cloud.azureFileShareName, partnershipId: cloud.partnershipId },
  server: { name: server.serverName, agentVersion: server.agentVersion },
  endpoint: { path: endpoint.serverLocalPath, tiering: endpoint.cloudTiering, serverName: endpoint.serverName },
  endpoints, refused, afterDelete,
}));
