// The connect-web test page's script: a browser client of loom.test.v1.Web
// (server.mjs serves it), through connect-web's fetch transports. build.mjs
// bundles it, with the descriptor set's bytes, into gen/page.js, which
// gen/index.html loads.
//
// Query: target=URL (the server's base URL), protocol=connect|grpcweb
// (default connect), codec=proto|json (default proto). It makes three
// calls, one after the other, and writes each one's outcome as JSON into
// the element with the matching data-test attribute, setting that element's
// data-done="1" when written:
//   unary   Unary {text: "browser"}
//   server  ServerStream {text: "browser", count: 3}
//   error   Unary {fail_code: 9, fail_message: "browser failure"}
// Each outcome: {"code","message","details":[{"type","reason","domain"}],
// "responses","replies":[{"text","index","protocol","http_version"}],
// "peer": the x-loom-peer response header, "trailer": x-loom-trailer}.
// Whatever stops the script is written into data-test="fatal" (index.html).

import { create } from "@bufbuild/protobuf";
import { ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";

import descriptorSet from "../gen/web.binpb";
import { CODE_NAMES, ErrorInfoSchema, webService } from "../schema.mjs";

const params = new URLSearchParams(location.search);
const Web = webService(descriptorSet);
const options = {
  baseUrl: params.get("target") ?? "",
  useBinaryFormat: (params.get("codec") ?? "proto") === "proto",
};
const transport =
  params.get("protocol") === "grpcweb"
    ? createGrpcWebTransport(options)
    : createConnectTransport(options);
const client = createClient(Web, transport);
const request = (init) => create(Web.method.unary.input, init);

async function outcome(run) {
  const out = { code: "OK", message: "", details: [], responses: 0, replies: [] };
  const callOptions = {
    timeoutMs: 20000,
    onHeader: (h) => (out.peer = h.get("x-loom-peer")),
    onTrailer: (t) => (out.trailer = t.get("x-loom-trailer")),
  };
  const got = (r) => {
    out.responses++;
    out.replies.push({
      text: r.text,
      index: r.index,
      protocol: r.protocol,
      http_version: r.httpVersion,
    });
  };
  try {
    await run(callOptions, got);
  } catch (e) {
    const err = ConnectError.from(e);
    out.code = CODE_NAMES[err.code] ?? String(err.code);
    out.message = err.rawMessage;
    out.details = err.findDetails(ErrorInfoSchema).map((i) => ({
      type: ErrorInfoSchema.typeName,
      reason: i.reason,
      domain: i.domain,
    }));
    out.trailer ??= err.metadata.get("x-loom-trailer");
  }
  return out;
}

function show(name, value) {
  const el = document.querySelector(`[data-test="${name}"]`);
  el.textContent = JSON.stringify(value);
  el.dataset.done = "1";
}

show(
  "unary",
  await outcome(async (opts, got) => got(await client.unary(request({ text: "browser" }), opts))),
);
show(
  "server",
  await outcome(async (opts, got) => {
    for await (const r of client.serverStream(request({ text: "browser", count: 3 }), opts)) got(r);
  }),
);
show(
  "error",
  await outcome(async (opts, got) =>
    got(await client.unary(request({ failCode: 9, failMessage: "browser failure" }), opts)),
  ),
);
