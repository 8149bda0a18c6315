#!/usr/bin/env node
// Loom integration-test peer: a connect-node client of loom.test.v1.Web
// (tests/proto/loom/test/v1/web.proto; server.mjs serves it), in any of the
// three protocols, over HTTP/1.1 or HTTP/2, with the JSON or the binary
// codec. Loom's Rust tests run it (tests/src/connect.rs).
//
// Usage (after `npm ci` and `node build.mjs` in this directory):
//   node client.mjs --target URL [--protocol connect|grpc|grpcweb]
//     [--http 1.1|2] [--codec proto|json] [--kind unary|server|client|bidi]
//     [--count N] [--calls N] [--gzip] [--get] [--text S] [--blob-size N]
//     [--reply-size N] [--fail-code N] [--fail-message S] [--delay-ms N]
//     [--header name=value]... [--timeout-ms N] [--expect CODE]
//
//   --target URL    the server's base URL (http://127.0.0.1:PORT)
//   --kind          unary: Unary; server: ServerStream asking for --count
//                   replies; client: ClientStream sending --count requests;
//                   bidi: Bidi sending --count requests one at a time, each
//                   after the reply to the one before (ping-pong)
//   --calls N       calls made one after the other (default 1)
//   --gzip          compress requests with gzip (every message, however
//                   small) and accept gzip responses; without it, nothing
//                   is compressed either way
//   --get           unary only, Connect only: call Lookup (idempotent) with
//                   an HTTP GET
//   --blob-size N   bytes of blob in each request (default 0)
//   --reply-size N, --fail-code N, --fail-message S, --delay-ms N:
//                   WebRequest's fields (delay_ms: before each streamed reply)
//   --timeout-ms N  each call's deadline (default 20000)
//   --header        request metadata (repeatable); x-echo-* come back
//   --expect CODE   the status every call must end with (default OK)
//
// stdout: one JSON object per call, on one line each, and nothing else:
//   {"call":0,"code":"OK","message":"","details":[...],"responses":N,
//    "replies":[{"text","index","blob_bytes","requests","echoed",
//                "protocol","http_version","http_method","content_type",
//                "request_encoding"}...],
//    "headers":{...},"trailers":{...}}
// `details` are google.rpc.ErrorInfo ({"type","reason","domain","metadata"})
// or, for other types, {"type","bytes"}. On an error, the error's metadata
// (headers and trailers as connect merges them) is in "trailers".
// Exits 0 when every call ended with --expect, 1 otherwise, 2 on a bad
// command line.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import {
  compressionGzip,
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

import { CODE_NAMES, ErrorInfoSchema, webService } from "./schema.mjs";

const here = dirname(fileURLToPath(import.meta.url));

const USAGE =
  "usage: node client.mjs --target URL [--protocol connect|grpc|grpcweb] [--http 1.1|2] " +
  "[--codec proto|json] [--kind unary|server|client|bidi] [--count N] [--calls N] [--gzip] " +
  "[--get] [--text S] [--blob-size N] [--reply-size N] [--fail-code N] [--fail-message S] " +
  "[--delay-ms N] " +
  "[--header name=value]... [--timeout-ms N] [--expect CODE]";

function usage(msg) {
  process.stderr.write(`${msg}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    target: undefined,
    protocol: "connect",
    http: "2",
    codec: "proto",
    kind: "unary",
    count: 3,
    calls: 1,
    gzip: false,
    get: false,
    text: "loom",
    blobSize: 0,
    replySize: 0,
    failCode: 0,
    failMessage: "",
    delayMs: 0,
    headers: [],
    timeoutMs: 20000,
    expect: "OK",
  };
  const choices = {
    "--protocol": ["protocol", ["connect", "grpc", "grpcweb"]],
    "--http": ["http", ["1.1", "2"]],
    "--codec": ["codec", ["proto", "json"]],
    "--kind": ["kind", ["unary", "server", "client", "bidi"]],
    "--expect": ["expect", CODE_NAMES],
  };
  const numbers = {
    "--count": "count",
    "--calls": "calls",
    "--blob-size": "blobSize",
    "--reply-size": "replySize",
    "--fail-code": "failCode",
    "--delay-ms": "delayMs",
    "--timeout-ms": "timeoutMs",
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--gzip") o.gzip = true;
    else if (a === "--get") o.get = true;
    else if (a === "--target") o.target = value();
    else if (a === "--text") o.text = value();
    else if (a === "--fail-message") o.failMessage = value();
    else if (a === "--header") {
      const v = value();
      const eq = v.indexOf("=");
      if (eq < 1) usage(`bad --header ${v}: name=value`);
      o.headers.push([v.slice(0, eq), v.slice(eq + 1)]);
    } else if (a in choices) {
      const [key, allowed] = choices[a];
      const v = value();
      if (!allowed.includes(v)) usage(`bad value for ${a}: ${v}`);
      o[key] = v;
    } else if (a in numbers) {
      const v = value();
      if (!/^\d+$/.test(v)) usage(`bad value for ${a}: ${v}`);
      o[numbers[a]] = Number(v);
    } else usage(`unknown argument: ${a}`);
  }
  if (o.target === undefined) usage("--target is required");
  if (o.get && (o.kind !== "unary" || o.protocol !== "connect")) {
    usage("--get is for --kind unary with --protocol connect");
  }
  return o;
}

const o = parseArgs(process.argv.slice(2));
const Web = webService(readFileSync(join(here, "gen/web.binpb")));
const RequestSchema = Web.method.unary.input;

const transportOptions = {
  baseUrl: o.target,
  httpVersion: o.http,
  useBinaryFormat: o.codec === "proto",
  acceptCompression: o.gzip ? [compressionGzip] : [],
  sendCompression: o.gzip ? compressionGzip : undefined,
  compressMinBytes: 0,
};
const transport =
  o.protocol === "grpc"
    ? createGrpcTransport(transportOptions)
    : o.protocol === "grpcweb"
      ? createGrpcWebTransport(transportOptions)
      : createConnectTransport({ ...transportOptions, useHttpGet: o.get });
const client = createClient(Web, transport);

const request = (count) =>
  create(RequestSchema, {
    text: o.text,
    blob: new Uint8Array(o.blobSize).fill(0x62),
    count,
    replySize: o.replySize,
    failCode: o.failCode,
    failMessage: o.failMessage,
    delayMs: o.delayMs,
  });

const summary = (r) => ({
  text: r.text,
  index: r.index,
  blob_bytes: r.blob.length,
  requests: Number(r.requests),
  echoed: r.echoed,
  protocol: r.protocol,
  http_version: r.httpVersion,
  http_method: r.httpMethod,
  content_type: r.contentType,
  request_encoding: r.requestEncoding,
});

const headersObject = (h) => Object.fromEntries(h ? [...h] : []);

/** Requests one at a time, each once the reply to the one before came. */
function pingPong(count, replies) {
  let seen = 0;
  let wake = () => {};
  replies.onReply = () => {
    seen++;
    wake();
  };
  return (async function* () {
    for (let i = 0; i < count; i++) {
      while (seen < i) await new Promise((resolve) => (wake = resolve));
      yield request(0);
    }
  })();
}

async function* requests(count) {
  for (let i = 0; i < count; i++) yield request(0);
}

async function call(i) {
  const out = { call: i, code: "OK", message: "", details: [], responses: 0, replies: [] };
  const options = {
    headers: o.headers,
    timeoutMs: o.timeoutMs,
    onHeader: (h) => (out.headers = headersObject(h)),
    onTrailer: (t) => (out.trailers = headersObject(t)),
  };
  const got = (r) => {
    out.responses++;
    out.replies.push(summary(r));
  };
  try {
    if (o.kind === "unary") {
      got(await (o.get ? client.lookup(request(0), options) : client.unary(request(0), options)));
    } else if (o.kind === "server") {
      for await (const r of client.serverStream(request(o.count), options)) got(r);
    } else if (o.kind === "client") {
      got(await client.clientStream(requests(o.count), options));
    } else {
      const replies = {};
      for await (const r of client.bidi(pingPong(o.count, replies), options)) {
        got(r);
        replies.onReply();
      }
    }
  } catch (e) {
    const err = ConnectError.from(e);
    out.code = CODE_NAMES[err.code] ?? String(err.code);
    out.message = err.rawMessage;
    const infos = err.findDetails(ErrorInfoSchema);
    out.details = err.details.map((d, n) =>
      d.type === ErrorInfoSchema.typeName && infos.length > 0
        ? { type: d.type, ...infoJson(infos.shift()) }
        : { type: d.desc?.typeName ?? d.type, bytes: d.value?.length ?? 0, n },
    );
    out.trailers = { ...out.trailers, ...headersObject(err.metadata) };
  }
  return out;
}

const infoJson = (info) => ({ reason: info.reason, domain: info.domain, metadata: info.metadata });

let failed = 0;
for (let i = 0; i < o.calls; i++) {
  const out = await call(i);
  if (out.code !== o.expect) failed++;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
process.exit(failed === 0 ? 0 : 1);
