#!/usr/bin/env node
// Loom integration-test peer: a connect-node server of loom.test.v1.Web
// (tests/proto/loom/test/v1/web.proto) speaking all three protocols of the
// family at once, Connect, gRPC and gRPC-Web, over HTTP/1.1 or over
// cleartext HTTP/2 (h2c, prior knowledge). Loom's Rust tests start it as a
// child process (tests/src/connect.rs) to test the relay against clients and
// a server that are not tonic and that speak gRPC-Web and Connect.
//
// Usage (after `npm ci` and `node build.mjs` in this directory):
//   node server.mjs [--http 1.1|2] [--port N]
//     --http 1.1  node:http's server (the default); Connect and gRPC-Web
//     --http 2    node:http2's cleartext server; all three protocols
//     --port N    listen on 127.0.0.1:N (default 0: an ephemeral port)
//
// stdout carries one line per event and nothing else; logs go to stderr:
//   PORT <n>                                   once, when bound
//   CALL <path> <protocol> <http version> <method>
//                                              a call reached its handler,
//                                              e.g. CALL /loom.test.v1.Web/Unary grpc-web 2.0 POST
// Exits 0 when stdin reaches EOF (so it cannot outlive the test that spawned
// it; give it a pipe), 2 on a bad command line.
//
// Behaviour (deterministic; request fields are WebRequest's):
//   Unary, Lookup  one reply: the request's text, index 0, reply_size bytes
//                  of blob (0x61 'a'), and how the call came (see WebReply).
//   ServerStream   `count` such replies, index 0..count-1, each after
//                  delay_ms.
//   ClientStream   one reply when the client half-closes: requests = how
//                  many came, blob_bytes = their blobs' total, text = the
//                  last one's.
//   Bidi           one reply per request as soon as it arrives (after
//                  delay_ms), index = its position.
//   fail_code N (1..16) makes a call fail with code N, message fail_message
//   (or "loom connect-node: deliberate failure") and one detail, a
//   google.rpc.ErrorInfo {reason: LOOM_TEST_FAILURE, domain: loom.test,
//   metadata: {code: N, peer: connect-node}}: unary at once, a server stream
//   after its replies, client and bidi streams once the client half-closes
//   (the first request that asks for it decides).
//   Every response has the header x-loom-peer: connect-node and the trailer
//   x-loom-trailer: <method name>; every request header x-echo-* comes back
//   as a response header of the same name and value, and in each reply's
//   `echoed`.
//   Requests may be compressed with gzip or br (connect-node accepts both)
//   and responses are compressed as the client accepts, from 1 KiB up.
//   gRPC-Web's text form (application/grpc-web-text, grpc-web's text mode)
//   is served too: see handleText below.
//   Cross-origin requests are allowed (any origin; preflights answered), for
//   connect-web in a browser on another origin.

import { readFileSync } from "node:fs";
import http from "node:http";
import http2 from "node:http2";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  cors,
  createConnectRouter,
  createContextKey,
  createContextValues,
} from "@connectrpc/connect";
import {
  connectNodeAdapter,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";

import { ErrorInfoSchema, errorInfoFor, webService } from "./schema.mjs";

const here = dirname(fileURLToPath(import.meta.url));

function log(...args) {
  process.stderr.write(`[connect-node server] ${args.join(" ")}\n`);
}

function usage(msg) {
  process.stderr.write(`${msg}\nusage: node server.mjs [--http 1.1|2] [--port N]\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { http: "1.1", port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === "--http") {
      opts.http = value();
      if (opts.http !== "1.1" && opts.http !== "2") usage(`bad value for --http: ${opts.http}`);
    } else if (a === "--port") {
      const v = value();
      if (!/^\d+$/.test(v) || Number(v) > 65535) usage(`bad value for --port: ${v}`);
      opts.port = Number(v);
    } else {
      usage(`unknown argument: ${a}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const Web = webService(readFileSync(join(here, "gen/web.binpb")));
const ReplySchema = Web.method.unary.output;

const kHttpVersion = createContextKey("", { description: "the request's HTTP version" });
const kTextContentType = createContextKey("", { description: "a gRPC-Web text request's type" });
const sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** Notes the call, sets its headers and trailer; how it came, for replies. */
function begin(ctx) {
  const h = ctx.requestHeader;
  const encoding =
    h.get("grpc-encoding") ??
    h.get("connect-content-encoding") ??
    h.get("content-encoding") ??
    new URL(ctx.url).searchParams.get("compression") ??
    "";
  const came = {
    protocol: ctx.protocolName,
    httpVersion: ctx.values.get(kHttpVersion),
    httpMethod: ctx.requestMethod,
    contentType: ctx.values.get(kTextContentType) || (h.get("content-type") ?? ""),
    requestEncoding: encoding === "identity" ? "" : encoding,
    echoed: {},
  };
  for (const [name, value] of h) {
    if (name.startsWith("x-echo-")) {
      came.echoed[name] = value;
      ctx.responseHeader.set(name, value);
    }
  }
  ctx.responseHeader.set("x-loom-peer", "connect-node");
  ctx.responseTrailer.set("x-loom-trailer", ctx.method.name);
  const path = `/${ctx.service.typeName}/${ctx.method.name}`;
  process.stdout.write(`CALL ${path} ${came.protocol} ${came.httpVersion} ${came.httpMethod}\n`);
  return came;
}

function reply(came, req, index, extra = {}) {
  return create(ReplySchema, {
    ...came,
    text: req.text,
    index,
    blob: new Uint8Array(req.replySize).fill(0x61),
    ...extra,
  });
}

function failure(req) {
  const code = req.failCode;
  if (code < 1 || code > 16) {
    return new ConnectError(`fail_code ${code} is not a status code`, Code.InvalidArgument);
  }
  const message = req.failMessage || "loom connect-node: deliberate failure";
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: errorInfoFor(code) },
  ]);
}

async function unary(req, ctx) {
  const came = begin(ctx);
  if (req.failCode !== 0) throw failure(req);
  return reply(came, req, 0);
}

const impl = {
  unary,
  lookup: unary,
  async *serverStream(req, ctx) {
    const came = begin(ctx);
    for (let i = 0; i < req.count; i++) {
      await sleep(req.delayMs, ctx.signal);
      yield reply(came, req, i);
    }
    if (req.failCode !== 0) throw failure(req);
  },
  async clientStream(reqs, ctx) {
    const came = begin(ctx);
    let requests = 0n;
    let blobBytes = 0n;
    let last = create(Web.method.clientStream.input);
    let failing;
    for await (const req of reqs) {
      requests += 1n;
      blobBytes += BigInt(req.blob.length);
      last = req;
      if (failing === undefined && req.failCode !== 0) failing = req;
    }
    if (failing !== undefined) throw failure(failing);
    return reply(came, last, 0, { requests, blobBytes });
  },
  async *bidi(reqs, ctx) {
    const came = begin(ctx);
    let index = 0;
    let failing;
    for await (const req of reqs) {
      if (failing === undefined && req.failCode !== 0) failing = req;
      await sleep(req.delayMs, ctx.signal);
      yield reply(came, req, index++);
    }
    if (failing !== undefined) throw failure(failing);
  },
};

const contextValues = (req) => createContextValues().set(kHttpVersion, req.httpVersion);
const adapter = connectNodeAdapter({
  routes: (router) => router.service(Web, impl),
  grpc: true,
  grpcWeb: true,
  connect: true,
  contextValues,
});

// gRPC-Web's text form (application/grpc-web-text: the binary body in
// base64), which connect-node refuses (415), as a proxy such as Envoy
// serves it to grpc-web's text mode: the request's base64 decoded, however
// it is cut and padded, and each chunk of connect's binary response (a
// message, or the trailer frame) base64-encoded on its own, so that the
// body has padding mid-way whenever a chunk's length is not a multiple of
// 3. The replies report the text content type; the protocol is grpc-web.
const TEXT_TYPE = /^application\/grpc-web-text(\+proto)?(;.*)?$/i;
const textRouter = createConnectRouter({ grpc: false, connect: false, grpcWeb: true });
textRouter.service(Web, impl);
const textHandlers = new Map(textRouter.handlers.map((h) => [h.requestPath, h]));

/** Base64 chunks, cut anywhere and padded anywhere, to bytes. */
async function* base64Decode(chunks) {
  let pending = "";
  for await (const chunk of chunks) {
    pending += Buffer.from(chunk).toString("latin1").replace(/\s/g, "");
    const whole = pending.length - (pending.length % 4);
    const out = [];
    let start = 0;
    for (let i = 0; i < whole; i += 4) {
      if (pending[i + 3] === "=") {
        out.push(Buffer.from(pending.slice(start, i + 4), "base64"));
        start = i + 4;
      }
    }
    out.push(Buffer.from(pending.slice(start, whole), "base64"));
    pending = pending.slice(whole);
    yield new Uint8Array(Buffer.concat(out));
  }
  if (pending.length > 0) throw new ConnectError("truncated base64 body", Code.InvalidArgument);
}

async function* base64Encode(chunks) {
  for await (const chunk of chunks) {
    yield new Uint8Array(Buffer.from(Buffer.from(chunk).toString("base64"), "latin1"));
  }
}

async function handleText(req, res, textType) {
  const handler = textHandlers.get(req.url.split("?", 1)[0]);
  if (handler === undefined) {
    res.writeHead(404);
    res.end();
    return;
  }
  const values = contextValues(req).set(kTextContentType, textType);
  const uReq = universalRequestFromNodeRequest(req, res, undefined, values);
  uReq.header.set("content-type", textType.replace(/grpc-web-text/i, "grpc-web"));
  uReq.body = base64Decode(uReq.body);
  const uRes = await handler(uReq);
  const type = uRes.header?.get("content-type");
  if (type) uRes.header.set("content-type", type.replace("grpc-web", "grpc-web-text"));
  if (uRes.body) uRes.body = base64Encode(uRes.body);
  await universalResponseToNodeResponse(uRes, res);
}

const exposed = [...cors.exposedHeaders, "x-loom-peer", "x-loom-trailer", "*"].join(", ");

/** CORS around connect's handler: any origin, preflights answered here. */
function handle(req, res) {
  res.setHeader("access-control-allow-origin", req.headers.origin ?? "*");
  res.setHeader("vary", "origin");
  res.setHeader("access-control-expose-headers", exposed);
  if (req.method === "OPTIONS") {
    res.writeHead(204, {
      "access-control-allow-methods": cors.allowedMethods.join(", "),
      "access-control-allow-headers":
        req.headers["access-control-request-headers"] ?? cors.allowedHeaders.join(", "),
      "access-control-max-age": "600",
    });
    res.end();
    return;
  }
  const type = req.headers["content-type"] ?? "";
  if (TEXT_TYPE.test(type)) {
    handleText(req, res, type).catch((e) => {
      log(`gRPC-Web text call failed: ${e}`);
      res.destroy();
    });
    return;
  }
  adapter(req, res);
}

const server = opts.http === "2" ? http2.createServer(handle) : http.createServer(handle);
server.on("error", (e) => {
  log(`cannot listen: ${e.message}`);
  process.exit(2);
});
server.listen(opts.port, "127.0.0.1", () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
  log(`serving ${Web.typeName} over HTTP/${opts.http}`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
