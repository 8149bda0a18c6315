#!/usr/bin/env node
// Loom integration-test peer: a gRPC server built on grpc-js (Node), with
// server reflection from @grpc/reflection. Loom's Rust tests start it as a
// child process so the relay is exercised against a gRPC implementation that
// is not tonic, and, above all, against @grpc/reflection's way of answering
// reflection requests. probe-reflection.js beside this file records how that
// differs from protoc-generated descriptors.
//
// Usage (run `npm ci --no-audit --no-fund` in tests/node first):
//   node server.js [--reflection-delay-ms N] [--no-reflection] [--camel-case]
//
//   --reflection-delay-ms N  Hold the first response of every reflection
//                            stream for N ms after it is produced (default 0).
//                            Later responses and the end of the stream queue
//                            behind it, so the order stays the same. grpc-js
//                            sends the response headers together with the
//                            first message, so they are held back too.
//   --no-reflection          Do not register the reflection services.
//   --camel-case             Load the protos with proto-loader keepCase:false
//                            (its default), so that reflection reports
//                            camelCase field names (tagCount, textBytes).
//                            Without it, keepCase:true: the names in the .proto.
//
// Schema: proto/harness/v1/harness.proto (package harness.v1, service
// harness.v1.Harness) and proto/harness/common/v1/common.proto (package
// harness.common.v1), loaded with @grpc/proto-loader. google/protobuf/*.proto
// come from the copies bundled in protobufjs.
//
// Listens on 127.0.0.1:<ephemeral>, plaintext. stdout carries one line per
// event and nothing else (stdout writes to a pipe are synchronous in Node, so
// each line is out as soon as it is written); logs go to stderr:
//   PORT <n>                  once, when bound; the server then serves
//   REFLECTION <method path>  a reflection stream was opened, e.g.
//                             REFLECTION /grpc.reflection.v1.ServerReflection/ServerReflectionInfo
//   CALL <method path>        an application call started, e.g.
//                             CALL /harness.v1.Harness/Echo
// Exits 0 when stdin reaches EOF (so it cannot outlive the test that spawned
// it; give it a pipe, not /dev/null) or on SIGTERM/SIGINT. Exits 2 on a bad
// command line or if it cannot bind.
//
// Behaviour (deterministic):
//   Echo   replies with the request's text, mood and tags, at =
//          {seconds: 1700000000, nanos: 5}, meta = {server: "loom-grpc-js",
//          text_bytes: UTF-8 length of text}, and the oneof detail set to
//          tag_count = number of tags if there are any, else note = "no tags".
//   Count  streams `count` Ticks, index 0..count-1, each at
//          {seconds: 1700000000, nanos: 5}, then ends with OK.
//   Sum    adds every Number.value (int64) and replies with
//          {sum, count = number of messages} once the client half-closes.
//   Chat   writes each Line back as soon as it arrives (ping-pong), unchanged,
//          and ends with OK when the client half-closes.
//   Metadata "x-fail: <code>" (a number 1..16) on any of the four methods
//   makes it fail at once, before any response message, with that status code
//   and the message "loom grpc-js: deliberate failure".

'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { ReflectionService } = require('@grpc/reflection');

const PROTO_DIR = path.join(__dirname, 'proto');
const PROTO_FILES = ['harness/v1/harness.proto', 'harness/common/v1/common.proto'];
const SERVICE = 'harness.v1.Harness';
const FIXED_AT = { seconds: '1700000000', nanos: 5 };
const FAIL_MESSAGE = 'loom grpc-js: deliberate failure';

function log(...args) {
  process.stderr.write(`[grpc-js server] ${args.join(' ')}\n`);
}

function emit(line) {
  process.stdout.write(`${line}\n`);
}

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: node server.js [--reflection-delay-ms N] [--no-reflection] [--camel-case]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { reflectionDelayMs: 0, reflection: true, keepCase: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-reflection') {
      opts.reflection = false;
    } else if (a === '--camel-case') {
      opts.keepCase = false;
    } else if (a === '--reflection-delay-ms' || a.startsWith('--reflection-delay-ms=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || !/^\d+$/.test(v)) usage(`bad value for --reflection-delay-ms: ${v}`);
      opts.reflectionDelayMs = Number(v);
    } else {
      usage(`unknown argument: ${a}`);
    }
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// Field names as proto-loader presents them for the chosen keepCase.
const fname = (snake) =>
  opts.keepCase ? snake : snake.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

const packageDefinition = protoLoader.loadSync(PROTO_FILES, {
  keepCase: opts.keepCase,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});
const loaded = grpc.loadPackageDefinition(packageDefinition);
const harnessService = loaded.harness.v1.Harness.service;

// x-fail: returns a status object if the call must fail, else null.
function deliberateFailure(call) {
  const v = call.metadata.get('x-fail');
  if (v.length === 0) return null;
  const code = Number(String(v[0]).trim());
  if (!Number.isInteger(code) || code < 1 || code > 16) {
    log(`ignoring x-fail with bad code ${JSON.stringify(String(v[0]))}`);
    return null;
  }
  return { code, details: FAIL_MESSAGE };
}

const handlers = {
  Echo(call, callback) {
    const fail = deliberateFailure(call);
    if (fail) return callback(fail);
    const req = call.request;
    const tags = req.tags || [];
    const reply = {
      text: req.text,
      mood: req.mood,
      tags,
      at: FIXED_AT,
      meta: { server: 'loom-grpc-js', [fname('text_bytes')]: String(Buffer.byteLength(req.text, 'utf8')) },
    };
    if (tags.length > 0) reply[fname('tag_count')] = tags.length;
    else reply.note = 'no tags';
    callback(null, reply);
  },

  Count(call) {
    const fail = deliberateFailure(call);
    if (fail) return call.emit('error', fail);
    const n = call.request.count;
    for (let i = 0; i < n && !call.cancelled; i++) {
      call.write({ index: i, at: FIXED_AT });
    }
    call.end();
  },

  Sum(call, callback) {
    const fail = deliberateFailure(call);
    if (fail) {
      call.on('data', () => {});
      return callback(fail);
    }
    let sum = 0n;
    let count = 0;
    call.on('data', (n) => {
      sum += BigInt(n.value);
      count += 1;
    });
    call.on('end', () => callback(null, { sum: sum.toString(), count }));
  },

  Chat(call) {
    const fail = deliberateFailure(call);
    if (fail) {
      call.on('data', () => {});
      return call.emit('error', fail);
    }
    call.on('data', (line) => call.write(line));
    call.on('end', () => call.end());
  },
};

// Wraps every handler of `impl` so that each call first prints
// `<prefix> <method path>` and then goes through `around(call)`.
function instrument(definition, impl, prefix, around) {
  const out = {};
  for (const [name, method] of Object.entries(definition)) {
    const key = impl[name] ? name : method.originalName;
    const h = impl[key];
    if (typeof h !== 'function') continue;
    out[key] = function (call, callback) {
      emit(`${prefix} ${method.path}`);
      if (around) around(call);
      return h.call(this, call, callback);
    };
  }
  return out;
}

// Holds the first write on a reflection stream for `ms` ms; later writes and
// end() are chained behind it so the order is kept.
function delayFirstResponse(ms) {
  return (stream) => {
    const write = stream.write.bind(stream);
    const end = stream.end.bind(stream);
    let chain = null;
    const guard = (f) => () => {
      if (stream.cancelled) return;
      try {
        f();
      } catch (e) {
        log(`delayed reflection write failed: ${e.message}`);
      }
    };
    stream.write = (...args) => {
      if (chain === null) chain = new Promise((r) => setTimeout(r, ms));
      chain = chain.then(guard(() => write(...args)));
      return true;
    };
    stream.end = (...args) => {
      if (chain === null) return end(...args);
      chain = chain.then(guard(() => end(...args)));
      return stream;
    };
  };
}

const server = new grpc.Server();
server.addService(harnessService, instrument(harnessService, handlers, 'CALL'));

if (opts.reflection) {
  const reflection = new ReflectionService(packageDefinition);
  const around = opts.reflectionDelayMs > 0 ? delayFirstResponse(opts.reflectionDelayMs) : null;
  // ReflectionService.addToServer only calls server.addService(definition,
  // impl) (once for v1, once for v1alpha); hand it a stand-in that
  // instruments the handlers on the way through.
  reflection.addToServer({
    addService(definition, impl) {
      server.addService(definition, instrument(definition, impl, 'REFLECTION', around));
    },
  });
}

let stopping = false;
function shutdown(why) {
  if (stopping) return;
  stopping = true;
  log(`shutting down (${why})`);
  const force = setTimeout(() => {
    server.forceShutdown();
    process.exit(0);
  }, 1000);
  force.unref();
  server.tryShutdown(() => process.exit(0));
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.stdin.on('end', () => shutdown('stdin EOF'));
process.stdin.on('error', () => shutdown('stdin error'));
process.stdin.on('data', () => {});
process.stdin.resume();

server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    log(`bind failed: ${err.message}`);
    process.exit(2);
  }
  log(
    `serving ${SERVICE} on 127.0.0.1:${port} (reflection ${opts.reflection ? 'on' : 'off'}, ` +
      `delay ${opts.reflectionDelayMs} ms, keepCase ${opts.keepCase})`,
  );
  emit(`PORT ${port}`);
});
