// Drives Cerulean's Azure Files data plane with the official, unmodified Azure SDK for
// JavaScript (@azure/storage-file-share). Run by e2e/js_files_test.go (TestJS_Files); prints
// exactly one JSON line on stdout.
//
// Environment:
//   CERULEAN_CONNECTION_STRING      DefaultEndpointsProtocol=https;AccountName=<a>;AccountKey=<k>;
//                                   FileEndpoint=https://127.0.0.1:PORT/<a> (path-style)
//   CERULEAN_BAD_CONNECTION_STRING  the same with a wrong AccountKey
//   CERULEAN_SHARE                  the share to create
//   CERULEAN_BIG_FILE               a local file of more than 4 MiB to upload with uploadData
//   CERULEAN_PROXY                  Cerulean's interception proxy, http://127.0.0.1:PORT (the
//                                   renames only, on the host-style URL; see hostStyleService)
//   NODE_EXTRA_CA_CERTS             Cerulean's CA (ca.pem)
//
// Every step records what it saw; a step that throws ends the script with
// {failedStep, statusCode, code, message} and exit status 1.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ShareServiceClient, StorageSharedKeyCredential } from "@azure/storage-file-share";

function env(name) {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`files.mjs: ${name} is not set\n`);
    process.exit(2);
  }
  return v;
}

const connectionString = env("CERULEAN_CONNECTION_STRING");
const badConnectionString = env("CERULEAN_BAD_CONNECTION_STRING");
const shareName = env("CERULEAN_SHARE");
const bigFile = env("CERULEAN_BIG_FILE");
const proxyUrl = new URL(env("CERULEAN_PROXY"));

// A test wants the first answer, not a retried one (storage's own retry policy: maxTries).
const options = { retryOptions: { maxTries: 1 } };

function errorFields(e) {
  return {
    statusCode: e?.statusCode,
    code: e?.code ?? e?.details?.errorCode,
    message: String(e?.message ?? e),
  };
}

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// hostStyleService is a client of the account's host-style address,
// https://<account>.file.core.windows.net, reached through Cerulean's interception proxy
// (given to this client alone: everything else goes straight to 127.0.0.1).
//
// The renames need it. ShareFileClient.rename and ShareDirectoryClient.rename build the
// destination URL with setURLPath(this.url, `/${shareName}/${path}`) (Clients.js in
// @azure/storage-file-share 12.33.0), which replaces the whole path: on a path-style URL,
// https://127.0.0.1:PORT/<account>/<share>/..., that drops the account segment, so the request
// goes to https://127.0.0.1:PORT/<share>/<path>?comp=rename — not the File service at all
// (Resource Manager answers 401). It is the SDK's doing, as against any IP-style endpoint;
// on the host-style URL the path is only /<share>/<path>, as the SDK assumes.
function hostStyleService() {
  const account = /(?:^|;)AccountName=([^;]+)/.exec(connectionString)?.[1];
  const key = /(?:^|;)AccountKey=([^;]+)/.exec(connectionString)?.[1];
  return new ShareServiceClient(`https://${account}.file.core.windows.net`, new StorageSharedKeyCredential(account, key), {
    ...options,
    proxyOptions: { host: `${proxyUrl.protocol}//${proxyUrl.hostname}`, port: Number(proxyUrl.port) },
  });
}

function sha256(b) {
  return createHash("sha256").update(b).digest("hex");
}

async function streamToBuffer(readable) {
  const chunks = [];
  for await (const c of readable) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks);
}

// refused runs fn, which must fail, and returns what the SDK's RestError tells.
async function refused(fn) {
  try {
    await fn();
    return { statusCode: 0, code: "", message: "succeeded" };
  } catch (e) {
    return errorFields(e);
  }
}

const res = {};
let step = "fromConnectionString";
try {
  const service = ShareServiceClient.fromConnectionString(connectionString, options);
  res.serviceUrl = service.url;
  res.accountName = service.accountName;

  step = "wrong key: listShares";
  const bad = ShareServiceClient.fromConnectionString(badConnectionString, options);
  res.wrongKey = await refused(async () => {
    for await (const s of bad.listShares()) void s;
  });

  step = "shareClient.create";
  const share = service.getShareClient(shareName);
  const created = await share.create({ quota: 5, metadata: { team: "blue" } });
  res.shareCreatedETag = Boolean(created.etag);

  step = "shareClient.create again";
  res.shareCreateAgain = await refused(() => share.create());

  step = "shareClient.createIfNotExists";
  res.shareCreateIfNotExists = (await share.createIfNotExists()).succeeded;

  step = "shareClient.getProperties";
  const sp = await share.getProperties();
  res.shareQuota = sp.quota;
  res.shareMetadata = sp.metadata;

  step = "listShares";
  res.listedShares = [];
  for await (const s of service.listShares({ includeMetadata: true })) {
    res.listedShares.push({ name: s.name, quota: s.properties.quota, metadata: s.metadata });
  }

  step = "directoryClient.create";
  const dir = share.getDirectoryClient("reports");
  await dir.create({ metadata: { kind: "monthly" } });
  step = "directoryClient.getProperties";
  const dp = await dir.getProperties();
  res.dirMetadata = dp.metadata;
  res.dirFileId = dp.fileId ?? "";
  step = "directoryClient.create under a missing parent";
  res.missingParent = await refused(() => share.getDirectoryClient("missing/child").create());

  step = "fileClient.create";
  const small = Buffer.from("quarterly report, Cerulean e2e (JavaScript)\n");
  const file = dir.getFileClient("a.txt");
  await file.create(small.length, { fileHttpHeaders: { fileContentType: "text/plain" } });
  step = "fileClient.uploadRange";
  const ur = await file.uploadRange(small, 0, small.length);
  // 12.33.0's responses carry the header x-ms-request-server-encrypted as
  // requestServerEncrypted, although its typings name it isServerEncrypted.
  res.uploadRangeServerEncrypted = ur.isServerEncrypted ?? ur.requestServerEncrypted;
  step = "fileClient.uploadRange past the end";
  res.rangePastEnd = await refused(() => file.uploadRange(Buffer.from("past the end"), small.length, 12));

  step = "fileClient.downloadToBuffer (small)";
  res.smallEqual = Buffer.compare(await file.downloadToBuffer(), small) === 0;

  step = "uploadData (big)";
  const big = readFileSync(bigFile);
  res.bigSize = big.length;
  res.bigSha256 = sha256(big);
  const bigClient = dir.getFileClient("big.bin");
  await bigClient.uploadData(big, { rangeSize: 4 * 1024 * 1024, concurrency: 2 });

  step = "download (big)";
  const whole = await bigClient.download();
  res.bigDownloadLength = whole.contentLength;
  const wholeBody = await streamToBuffer(whole.readableStreamBody);
  res.bigDownloadSha256 = sha256(wholeBody);
  step = "downloadToBuffer (big, 1 MiB blocks)";
  const blocks = await bigClient.downloadToBuffer(0, undefined, { blockSize: 1024 * 1024, concurrency: 2 });
  res.bigBlocksEqual = Buffer.compare(blocks, big) === 0;
  step = "download (range across the 4 MiB boundary)";
  const off = 4 * 1024 * 1024 - 10;
  const part = await bigClient.download(off, 20);
  res.rangeContentLength = part.contentLength;
  res.rangeEqual = Buffer.compare(await streamToBuffer(part.readableStreamBody), big.subarray(off, off + 20)) === 0;
  step = "getRangeList (big)";
  const rl = await bigClient.getRangeList();
  res.bigRanges = rl.rangeList.map((r) => [r.start, r.end]);

  step = "fileClient.getProperties";
  const fp = await file.getProperties();
  res.fileProps = {
    contentLength: fp.contentLength,
    contentType: fp.contentType,
    // x-ms-server-encrypted: serverEncrypted at run time in 12.33.0, isServerEncrypted in its typings.
    isServerEncrypted: fp.isServerEncrypted ?? fp.serverEncrypted,
    etag: Boolean(fp.etag),
    fileId: fp.fileId ?? "",
    fileParentId: fp.fileParentId ?? "",
    fileAttributes: fp.fileAttributes,
    fileType: fp.fileType,
  };

  step = "fileClient.setMetadata";
  await file.setMetadata({ owner: "finance", stage: "final" });
  step = "fileClient.getProperties after setMetadata";
  const fm = await file.getProperties();
  res.fileMetadata = fm.metadata;
  res.contentLengthAfterMetadata = fm.contentLength;

  step = "setHttpHeaders";
  await file.setHttpHeaders({ fileContentType: "application/x-report" });
  res.contentTypeAfterSetHeaders = (await file.getProperties()).contentType;

  step = "listFilesAndDirectories (reports)";
  res.listedInDir = [];
  for await (const item of dir.listFilesAndDirectories()) {
    res.listedInDir.push({ kind: item.kind, name: item.name, contentLength: item.properties?.contentLength });
  }
  step = "listFilesAndDirectories (root)";
  res.listedInRoot = [];
  for await (const item of share.rootDirectoryClient.listFilesAndDirectories()) {
    res.listedInRoot.push({ kind: item.kind, name: item.name });
  }

  step = "fileClient.rename (host-style)";
  const hostDir = hostStyleService().getShareClient(shareName).getDirectoryClient("reports");
  const renamed = await hostDir.getFileClient("a.txt").rename("reports/renamed.txt");
  res.renamedPath = renamed.destinationFileClient.path;
  const renamedFile = dir.getFileClient("renamed.txt"); // back on the path-style URL
  res.oldExists = await file.exists();
  res.renamedEqual = Buffer.compare(await renamedFile.downloadToBuffer(), small) === 0;
  res.renamedMetadata = (await renamedFile.getProperties()).metadata;

  step = "directoryClient.rename (host-style)";
  await share.getDirectoryClient("drafts").create();
  const movedDir = await hostStyleService().getShareClient(shareName).getDirectoryClient("drafts").rename("archive");
  res.renamedDirPath = movedDir.destinationDirectoryClient.path;
  res.oldDirExists = await share.getDirectoryClient("drafts").exists();
  res.renamedDirExists = await share.getDirectoryClient("archive").exists();
  await share.getDirectoryClient("archive").delete();

  step = "directoryClient.delete (not empty)";
  res.dirNotEmpty = await refused(() => dir.delete());

  step = "fileClient.delete";
  await renamedFile.delete();
  await bigClient.delete();
  res.renamedExistsAfterDelete = await renamedFile.exists();
  step = "fileClient.deleteIfExists of a deleted file";
  res.deleteIfExistsAgain = (await bigClient.deleteIfExists()).succeeded;

  step = "directoryClient.delete";
  await dir.delete();
  res.dirExistsAfterDelete = await dir.exists();

  step = "shareClient.delete";
  await share.delete();
  res.shareExistsAfterDelete = await share.exists();

  print(res);
} catch (e) {
  print({ failedStep: step, ...errorFields(e), partial: res });
  process.stderr.write(`files.mjs: ${step}: ${e?.stack ?? e}\n`);
  process.exit(1);
}
