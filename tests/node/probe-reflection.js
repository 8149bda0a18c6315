#!/usr/bin/env node
// Probe of how @grpc/reflection answers, kept in the repo because it
// documents the behaviour Loom's relay has to cope with when it reflects on a
// grpc-js server (see server.js beside this file).
//
// Usage:
//   node probe-reflection.js [--target HOST:PORT] [-- SERVER_ARGS...]
//
// Without --target it starts `node server.js SERVER_ARGS...` itself (stdin is
// a pipe, so the server exits with the probe) and uses the PORT it prints.
//
// For grpc.reflection.v1 and grpc.reflection.v1alpha in turn it opens one raw
// ServerReflectionInfo stream with @grpc/grpc-js, using the reflection .proto
// files shipped inside the @grpc/reflection package, and sends the requests
// listed in REQUESTS one at a time (waiting for each answer). Every
// FileDescriptorProto in an answer is decoded with protobufjs's descriptor
// support (protobufjs/ext/descriptor) and printed as: file name, package,
// syntax, declared `dependency` list, and every type name that its fields and
// methods refer to, exactly as written in the descriptor.
//
// Before sending anything on each stream it waits HEADER_WAIT_MS and reports
// whether the response headers (grpc-js's 'metadata' event) arrived before any
// request was written, and in which order the headers and the first response
// message then arrive. The same question is then asked below grpc-js, on a
// raw HTTP/2 stream (node:http2): request HEADERS only, no DATA, no END_STREAM;
// does a response HEADERS frame come back before a request message is sent?

'use strict';

const http2 = require('http2');
const path = require('path');
const { spawn } = require('child_process');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { FileDescriptorProto } = require('protobufjs/ext/descriptor');

const REFLECTION_PROTO_DIR = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build',
  'proto',
);
const HEADER_WAIT_MS = 500;

const REQUESTS = [
  { fileContainingSymbol: 'harness.v1.Harness' },
  { fileContainingSymbol: 'harness.common.v1.Tag' },
  { fileContainingSymbol: 'google.protobuf.Timestamp' },
  { fileContainingSymbol: 'harness.v1.Harness.Echo' },
  { fileContainingSymbol: 'harness.v1.EchoReply.Meta' },
  { fileContainingSymbol: '.harness.v1.Harness' },
  { fileContainingSymbol: 'harness.v1.NoSuchThing' },
  { fileByFilename: 'harness/v1/harness.proto' },
  { fileByFilename: 'harness_v1.proto' },
  { fileByFilename: 'harness/common/v1/common.proto' },
  { fileByFilename: 'harness_common_v1.proto' },
  { fileByFilename: 'google/protobuf/timestamp.proto' },
  { fileByFilename: 'google_protobuf.proto' },
  { listServices: '*' },
  { listServices: '' },
];

function parseArgs(argv) {
  const out = { target: null, serverArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--target') out.target = argv[++i];
    else if (argv[i] === '--') {
      out.serverArgs = argv.slice(i + 1);
      break;
    } else {
      process.stderr.write(`unknown argument ${argv[i]}\n`);
      process.exit(2);
    }
  }
  return out;
}

function startServer(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'server.js'), ...args], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buf = '';
    const onData = (d) => {
      buf += d;
      const m = /^PORT (\d+)$/m.exec(buf);
      if (m) {
        child.stdout.off('data', onData);
        // Keep draining the event lines so the pipe never fills.
        child.stdout.on('data', () => {});
        resolve({ child, target: `127.0.0.1:${m[1]}` });
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
}

function loadClient(version, target) {
  const def = protoLoader.loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [REFLECTION_PROTO_DIR],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def);
  const Client = pkg.grpc.reflection[version].ServerReflection;
  return new Client(target, grpc.credentials.createInsecure());
}

// Type names that a FileDescriptorProto's fields/methods refer to, verbatim.
function describeFile(bytes) {
  const f = FileDescriptorProto.decode(bytes);
  const refs = [];
  const messages = [];
  const enums = [];
  const walkEnum = (prefix, e) => enums.push(`${prefix}${e.name}`);
  const walkMsg = (prefix, m) => {
    const full = `${prefix}${m.name}`;
    messages.push(full);
    for (const fld of m.field || []) {
      if (fld.typeName) refs.push(`${full}.${fld.name} -> ${fld.typeName}`);
    }
    for (const e of m.enumType || []) walkEnum(`${full}.`, e);
    for (const n of m.nestedType || []) walkMsg(`${full}.`, n);
  };
  const pkgPrefix = f.package ? `${f.package}.` : '';
  for (const m of f.messageType || []) walkMsg(pkgPrefix, m);
  for (const e of f.enumType || []) walkEnum(pkgPrefix, e);
  const services = [];
  for (const s of f.service || []) {
    services.push(`${pkgPrefix}${s.name}`);
    for (const m of s.method || []) {
      const stream = `${m.clientStreaming ? 'stream ' : ''}${m.inputType} -> ${m.serverStreaming ? 'stream ' : ''}${m.outputType}`;
      refs.push(`${pkgPrefix}${s.name}.${m.name}(${stream})`);
    }
  }
  const fieldNames = [];
  const collectNames = (m) => {
    for (const fld of m.field || []) {
      if (/[A-Z_]/.test(fld.name) || fld.jsonName) {
        fieldNames.push(`${m.name}.${fld.name}${fld.jsonName ? ` json_name=${fld.jsonName}` : ''}`);
      }
    }
    (m.nestedType || []).forEach(collectNames);
  };
  (f.messageType || []).forEach(collectNames);
  return {
    name: f.name,
    package: f.package,
    syntax: f.syntax,
    dependency: f.dependency || [],
    publicDependency: f.publicDependency || [],
    services,
    messages,
    enums,
    refs,
    notableFieldNames: fieldNames,
    bytes: bytes.length,
  };
}

function fmtRequest(r) {
  const [k, v] = Object.entries(r)[0];
  return `${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} ${JSON.stringify(v)}`;
}

function printResponse(res, out) {
  switch (res.messageResponse) {
    case 'fileDescriptorResponse': {
      const files = res.fileDescriptorResponse.fileDescriptorProto.map(describeFile);
      out.push(`  -> file_descriptor_response: ${files.length} file(s): ${files.map((f) => f.name).join(', ')}`);
      for (const f of files) {
        out.push(`     file ${JSON.stringify(f.name)}  package ${JSON.stringify(f.package)}  syntax ${JSON.stringify(f.syntax)}  (${f.bytes} bytes)`);
        out.push(`       dependency: ${JSON.stringify(f.dependency)}${f.publicDependency.length ? `  public_dependency: ${JSON.stringify(f.publicDependency)}` : ''}`);
        if (f.services.length) out.push(`       services: ${f.services.join(', ')}`);
        out.push(`       messages: ${f.messages.join(', ') || '(none)'}`);
        if (f.enums.length) out.push(`       enums: ${f.enums.join(', ')}`);
        for (const r of f.refs) out.push(`       ref ${r}`);
        if (f.notableFieldNames.length) out.push(`       field names with '_'/upper case or json_name: ${f.notableFieldNames.join(', ')}`);
      }
      break;
    }
    case 'listServicesResponse':
      out.push(`  -> list_services_response: ${JSON.stringify(res.listServicesResponse.service.map((s) => s.name))}`);
      break;
    case 'errorResponse':
      out.push(`  -> error_response: code ${res.errorResponse.errorCode} ${JSON.stringify(res.errorResponse.errorMessage)}`);
      break;
    default:
      out.push(`  -> ${res.messageResponse}: ${JSON.stringify(res[res.messageResponse])}`);
  }
  const orig = res.originalRequest ? fmtRequest({ [res.originalRequest.messageRequest]: res.originalRequest[res.originalRequest.messageRequest] }) : null;
  out.push(`     valid_host ${JSON.stringify(res.validHost)}  original_request ${orig === null ? '(absent)' : orig}`);
}

async function probeVersion(version, target) {
  const out = [`=== grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`];
  const client = loadClient(version, target);
  const t0 = Date.now();
  const events = [];
  const call = client.ServerReflectionInfo();
  const queue = [];
  let waiter = null;
  call.on('metadata', (md) => events.push(`metadata at +${Date.now() - t0} ms: ${JSON.stringify(md.getMap())}`));
  call.on('data', (d) => {
    if (events.length < 3 || !events.some((e) => e.startsWith('first data'))) {
      events.push(`first data at +${Date.now() - t0} ms`);
    }
    queue.push(d);
    if (waiter) waiter();
  });
  const status = new Promise((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  const next = () =>
    new Promise((resolve) => {
      if (queue.length) return resolve(queue.shift());
      waiter = () => {
        waiter = null;
        resolve(queue.shift());
      };
    });

  await new Promise((r) => setTimeout(r, HEADER_WAIT_MS));
  const before = events.length;
  out.push(`  headers before any request was written (waited ${HEADER_WAIT_MS} ms): ${before ? 'YES' : 'NO'}`);
  events.push(`first request written at +${Date.now() - t0} ms`);

  for (const req of REQUESTS) {
    out.push(`- ${fmtRequest(req)}`);
    call.write({ host: '', ...req });
    printResponse(await next(), out);
  }
  call.end();
  const st = await status;
  out.push(`  event order: ${events.slice(0, 3).join('; ')}`);
  out.push(`  status after half-close: code ${st.code} ${JSON.stringify(st.details)}`);
  client.close();
  return out;
}

// Raw HTTP/2: open the stream, send nothing, see whether :status arrives.
function rawHeadersProbe(version, target) {
  return new Promise((resolve) => {
    const out = [];
    const t0 = Date.now();
    const session = http2.connect(`http://${target}`);
    session.on('error', (e) => out.push(`  session error ${e.message}`));
    const path_ = `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`;
    const req = session.request(
      { ':method': 'POST', ':path': path_, 'content-type': 'application/grpc', te: 'trailers' },
      { endStream: false },
    );
    let gotHeaders = null;
    let firstData = null;
    req.on('response', (h) => {
      gotHeaders = Date.now() - t0;
      out.push(`  raw h2 ${version}: response HEADERS at +${gotHeaders} ms ${JSON.stringify(h)}`);
    });
    req.on('data', (d) => {
      if (firstData === null) {
        firstData = Date.now() - t0;
        out.push(`  raw h2 ${version}: first DATA at +${firstData} ms (${d.length} bytes)`);
      }
    });
    req.on('trailers', (t) => out.push(`  raw h2 ${version}: trailers ${JSON.stringify(t)}`));
    setTimeout(() => {
      out.push(`  raw h2 ${version}: response HEADERS within ${HEADER_WAIT_MS} ms of sending request HEADERS only: ${gotHeaders === null ? 'NO' : 'YES'}`);
      // One framed ServerReflectionRequest{list_services: "*"} (field 7).
      const msg = Buffer.from([0x3a, 0x01, 0x2a]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      out.push(`  raw h2 ${version}: request message written at +${Date.now() - t0} ms, then END_STREAM`);
      req.end(frame);
    }, HEADER_WAIT_MS);
    req.on('close', () => {
      session.close();
      resolve(out);
    });
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let child = null;
  let target = args.target;
  if (!target) {
    ({ child, target } = await startServer(args.serverArgs));
  }
  console.log(`target ${target}${args.serverArgs.length ? `  server args ${args.serverArgs.join(' ')}` : ''}`);
  const v1 = await probeVersion('v1', target);
  const v1alpha = await probeVersion('v1alpha', target);
  console.log(v1.join('\n'));
  console.log();
  // Timings differ run to run; compare the rest.
  const strip = (lines) => lines.slice(1).filter((l) => !l.startsWith('  event order'));
  if (JSON.stringify(strip(v1)) === JSON.stringify(strip(v1alpha))) {
    console.log(v1alpha[0]);
    console.log('  (every answer identical to v1 above)');
    console.log(v1alpha.find((l) => l.startsWith('  event order')));
  } else {
    console.log(v1alpha.join('\n'));
  }
  console.log();
  console.log('=== raw HTTP/2 (node:http2), no grpc-js client');
  for (const v of ['v1', 'v1alpha']) console.log((await rawHeadersProbe(v, target)).join('\n'));
  if (child) child.stdin.end();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
