// The browser test page's script: a browser client of loom.test.v1.Web
// (server.mjs serves it), either connect-web (its fetch transports, Connect
// or gRPC-Web binary) or grpc-web, Google's client, in its text mode
// (application/grpc-web-text, over XMLHttpRequest). build.mjs bundles it,
// with the descriptor set's bytes, into gen/page.js, which gen/index.html
// loads.
//
// Query: target=URL (the server's base URL); client=connect-web (default)
// or grpc-web; for connect-web, protocol=connect|grpcweb (default connect)
// and codec=proto|json (default proto). It makes three calls, one after the
// other, and writes each one's outcome as JSON into the element with the
// matching data-test attribute, setting that element's data-done="1" when
// written:
//   unary   Unary {text: "browser"}
//   server  ServerStream {text: "browser", count: 3}
//   error   Unary {fail_code: 9, fail_message: "browser failure"}
// Each outcome: {"code","message","details":[{"type","reason","domain"}],
// "responses","replies":[{"text","index","protocol","http_version",
// "content_type"}], "peer": the x-loom-peer response header, "trailer":
// x-loom-trailer}.
// Whatever stops the script is written into data-test="fatal" (index.html).

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { GrpcWebClientBase, MethodDescriptor, MethodType } from "grpc-web";

import descriptorSet from "../gen/web.binpb";
import { CODE_NAMES, ErrorInfoSchema, SERVICE, StatusSchema, webService } from "../schema.mjs";

const params = new URLSearchParams(location.search);
const target = params.get("target") ?? "";
const Web = webService(descriptorSet);
const request = (init) => create(Web.method.unary.input, init);

const newOutcome = () => ({ code: "OK", message: "", details: [], responses: 0, replies: [] });
const infoJson = (i) => ({ type: ErrorInfoSchema.typeName, reason: i.reason, domain: i.domain });

function got(out, r) {
  out.responses++;
  out.replies.push({
    text: r.text,
    index: r.index,
    protocol: r.protocol,
    http_version: r.httpVersion,
    content_type: r.contentType,
  });
}

/** connect-web: calls of `kind` (unary, server) made into outcomes. */
function connectWeb() {
  const options = { baseUrl: target, useBinaryFormat: (params.get("codec") ?? "proto") === "proto" };
  const transport =
    params.get("protocol") === "grpcweb"
      ? createGrpcWebTransport(options)
      : createConnectTransport(options);
  const client = createClient(Web, transport);
  return async (kind, req) => {
    const out = newOutcome();
    const callOptions = {
      timeoutMs: 20000,
      onHeader: (h) => (out.peer = h.get("x-loom-peer")),
      onTrailer: (t) => (out.trailer = t.get("x-loom-trailer")),
    };
    try {
      if (kind === "unary") got(out, await client.unary(req, callOptions));
      else for await (const r of client.serverStream(req, callOptions)) got(out, r);
    } catch (e) {
      const err = ConnectError.from(e);
      out.code = CODE_NAMES[err.code] ?? String(err.code);
      out.message = err.rawMessage;
      out.details = err.findDetails(ErrorInfoSchema).map(infoJson);
      out.trailer ??= err.metadata.get("x-loom-trailer");
    }
    return out;
  };
}

/** grpc-web in text mode: the same calls, the same outcomes. */
function grpcWebText() {
  const client = new GrpcWebClientBase({ format: "text" });
  const descriptor = (method, type) =>
    new MethodDescriptor(
      `/${SERVICE}/${method.name}`,
      type,
      Object,
      Object,
      (r) => toBinary(method.input, r),
      (bytes) => fromBinary(method.output, bytes),
    );
  const unary = descriptor(Web.method.unary, MethodType.UNARY);
  const stream = descriptor(Web.method.serverStream, MethodType.SERVER_STREAMING);
  const failed = (out, err) => {
    out.code = CODE_NAMES[err.code] ?? String(err.code);
    out.message = err.message;
    const bin = err.metadata?.["grpc-status-details-bin"];
    if (bin) {
      const status = fromBinary(StatusSchema, base64Decode(bin));
      out.details = status.details
        .map((any) => anyUnpack(any, ErrorInfoSchema))
        .filter((i) => i !== undefined)
        .map(infoJson);
    }
    out.trailer ??= err.metadata?.["x-loom-trailer"];
  };
  return (kind, req) =>
    new Promise((resolve) => {
      const out = newOutcome();
      const path = `${target}/${SERVICE}/${kind === "unary" ? "Unary" : "ServerStream"}`;
      const call =
        kind === "unary"
          ? client.rpcCall(path, req, {}, unary, (err, r) => {
              if (err) failed(out, err);
              else got(out, r);
              resolve(out);
            })
          : client.serverStreaming(path, req, {}, stream);
      call.on("metadata", (md) => (out.peer = md["x-loom-peer"]));
      call.on("status", (st) => (out.trailer ??= st.metadata?.["x-loom-trailer"]));
      if (kind !== "unary") {
        call.on("data", (r) => got(out, r));
        call.on("error", (err) => {
          failed(out, err);
          resolve(out);
        });
        call.on("end", () => resolve(out));
      }
    });
}

function show(name, value) {
  const el = document.querySelector(`[data-test="${name}"]`);
  el.textContent = JSON.stringify(value);
  el.dataset.done = "1";
}

const call = params.get("client") === "grpc-web" ? grpcWebText() : connectWeb();
show("unary", await call("unary", request({ text: "browser" })));
show("server", await call("server", request({ text: "browser", count: 3 })));
show("error", await call("unary", request({ failCode: 9, failMessage: "browser failure" })));
