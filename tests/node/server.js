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
//                  [--port N]
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
//   --port N                 Listen on 127.0.0.1:N (default 0: an ephemeral
//                            port), to start a server again where one was.
//
// Schema: proto/harness/v1/harness.proto (package harness.v1, service
// harness.v1.Harness) and proto/harness/common/v1/common.proto (package
// harness.common.v1), loaded with @grpc/proto-loader. google/protobuf/*.proto
// come from the copies bundled in protobufjs.
//
// Listens on 127.0.0.1:<ephemeral> (or --port), plaintext. stdout carries one line per
// event and nothing else (stdout writes to a pipe are synchronous in Node, so
// each line is out as soon as it is written); logs go to stderr:
//   PORT <n>                  once, when bound; the server then serves
//   REFLECTION <method path>  a reflection stream was opened, e.g.
//                             REFLECTION /grpc.reflection.v1.ServerReflection/ServerReflectionInfo
//   CALL <method path>        an application call started, e.g.
//                             CALL /harness.v1.Harness/Echo
//   CANCELLED <method path>   an application call's stream was reset by the
//                             client (or its connection went away)
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
//
// More request metadata, for the tests of how calls end:
//   x-delay-ms: N    Wait N ms before each response message (Echo and Sum:
//                    before their one response). The client's cancel cuts the
//                    wait short. (grpc-js still enforces the call's deadline:
//                    it sends DEADLINE_EXCEEDED when grpc-timeout passes.)
//   x-after: N       The action below happens when the server is about to send
//                    response message N+1, or its trailers after N messages
//                    (default 0: before anything, response headers included).
//   x-reset: CODE    Then reset the stream: RST_STREAM with HTTP/2 error CODE
//                    (any number; 2 INTERNAL_ERROR, 7 REFUSED_STREAM, 8 CANCEL).
//   x-goaway: CODE   Then end the whole connection: one GOAWAY with error CODE
//                    whose last stream is this call's (the call may have been
//                    processed), and the socket closes with the call still open.
//                    (Node cannot send a GOAWAY whose last stream is below one
//                    it has processed: it raises a last stream of 0 to the last
//                    processed one. tests/src/raw.rs has an upstream that does.)
//   x-stop: graceful Then tryShutdown the server (GOAWAY; calls under way go on
//                    and finish; no new connections).
//   x-stop: abrupt   Then forceShutdown the server (every connection gets
//                    GOAWAY CANCEL and closes at once).
// These act on the HTTP/2 stream itself, below grpc-js: a listener of the
// http2 server's 'stream' event, ahead of grpc-js's own, wraps the stream's
// respond/write/end. (grpc-js keeps its http2 servers in the private field
// `http2Servers`; this is the one place that reaches into grpc-js.)

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
    `${msg}\nusage: node server.js [--reflection-delay-ms N] [--no-reflection] [--camel-case] [--port N]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { reflectionDelayMs: 0, reflection: true, keepCase: true, port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-reflection') {
      opts.reflection = false;
    } else if (a === '--camel-case') {
      opts.keepCase = false;
    } else if (a === '--port' || a.startsWith('--port=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) usage(`bad value for --port: ${v}`);
      opts.port = Number(v);
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

// x-delay-ms of a call, 0 when absent or bad.
function delayOf(call) {
  const v = call.metadata.get('x-delay-ms');
  const ms = v.length > 0 ? Number(String(v[0]).trim()) : 0;
  return Number.isInteger(ms) && ms > 0 ? ms : 0;
}

// A pause of the call's x-delay-ms: resolves true when it is over, false at
// once when the client cancels (the call is then over).
function pauser(call) {
  const ms = delayOf(call);
  let wake = null;
  call.on('cancelled', () => {
    if (wake) wake();
  });
  return () =>
    new Promise((resolve) => {
      if (call.cancelled) return resolve(false);
      if (ms === 0) return resolve(true);
      const timer = setTimeout(() => {
        wake = null;
        resolve(!call.cancelled);
      }, ms);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve(false);
      };
    });
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
    pauser(call)().then((go) => go && callback(null, reply));
  },

  Count(call) {
    const fail = deliberateFailure(call);
    if (fail) return call.emit('error', fail);
    const n = call.request.count;
    const pause = pauser(call);
    (async () => {
      for (let i = 0; i < n; i++) {
        if (!(await pause())) return;
        call.write({ index: i, at: FIXED_AT });
      }
      call.end();
    })();
  },

  Sum(call, callback) {
    const fail = deliberateFailure(call);
    if (fail) {
      call.on('data', () => {});
      return callback(fail);
    }
    const pause = pauser(call);
    let sum = 0n;
    let count = 0;
    call.on('data', (n) => {
      sum += BigInt(n.value);
      count += 1;
    });
    call.on('end', () => pause().then((go) => go && callback(null, { sum: sum.toString(), count })));
  },

  Chat(call) {
    const fail = deliberateFailure(call);
    if (fail) {
      call.on('data', () => {});
      return call.emit('error', fail);
    }
    // Each echo waits for its pause; the order is kept.
    const pause = pauser(call);
    let chain = Promise.resolve(true);
    call.on('data', (line) => {
      chain = chain.then(pause).then((go) => {
        if (go) call.write(line);
        return go;
      });
    });
    call.on('end', () => chain.then((go) => go && call.end()));
  },
};

// The HTTP/2 stream's side of x-after, x-reset, x-goaway and x-stop (see the
// header comment): a listener of the http2 server's 'stream' event.
function streamActions(stream, headers) {
  const one = (name) => {
    const v = headers[name];
    return v === undefined ? undefined : String(Array.isArray(v) ? v[0] : v).trim();
  };
  const code = (name) => {
    const v = one(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) {
      log(`ignoring ${name} with bad code ${JSON.stringify(v)}`);
      return undefined;
    }
    return n;
  };
  const reset = code('x-reset');
  const goaway = code('x-goaway');
  const stop = one('x-stop');
  const path = String(headers[':path']);
  let fired = false;
  if (!path.startsWith('/grpc.reflection.')) {
    stream.once('close', () => {
      // rstCode: the RST_STREAM code the stream ended with (0 when it
      // completed); our own x-reset and x-goaway do not count.
      if (stream.rstCode && !fired) emit(`CANCELLED ${path}`);
    });
  }
  if (reset === undefined && goaway === undefined && stop === undefined) return;
  const after = Number(one('x-after') || '0');
  let sent = 0;
  // Does the action now; true when the operation it stands in for must not
  // happen (the stream or the connection is gone).
  const fire = () => {
    fired = true;
    if (reset !== undefined) {
      log(`x-reset: RST_STREAM ${reset} on stream ${stream.id}`);
      stream.close(reset);
      return true;
    }
    if (goaway !== undefined) {
      const session = stream.session;
      log(`x-goaway: GOAWAY ${goaway} with last stream ${stream.id} (this call), then closing`);
      // A session destroyed with a code emits 'error'; nobody else listens.
      session.on('error', () => {});
      session.destroy(goaway);
      return true;
    }
    if (stop === 'abrupt') {
      log('x-stop: forceShutdown');
      server.forceShutdown();
      return true;
    }
    log('x-stop: tryShutdown');
    server.tryShutdown(() => log('x-stop: the server has shut down'));
    return false;
  };
  // Once the action has taken the stream away (a reset, a GOAWAY), nothing
  // more is sent on it.
  let gone = false;
  const guard = (name, counts, isEnd) => {
    const original = stream[name].bind(stream);
    stream[name] = (...args) => {
      if (!gone && !fired && (isEnd || counts || name === 'respond') && sent === after) {
        gone = fire();
      }
      if (gone) return name === 'write' ? false : stream;
      if (counts) sent += 1;
      return original(...args);
    };
  };
  // respond: headers (the first thing sent), or trailers-only with endStream.
  guard('respond', false, false);
  guard('write', true, false);
  guard('sendTrailers', false, true);
  guard('end', false, true);
}

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

server.bindAsync(`127.0.0.1:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    log(`bind failed: ${err.message}`);
    process.exit(2);
  }
  // Ahead of grpc-js's own 'stream' listener (see streamActions).
  for (const http2Server of server.http2Servers.keys()) {
    http2Server.prependListener('stream', streamActions);
  }
  log(
    `serving ${SERVICE} on 127.0.0.1:${port} (reflection ${opts.reflection ? 'on' : 'off'}, ` +
      `delay ${opts.reflectionDelayMs} ms, keepCase ${opts.keepCase})`,
  );
  emit(`PORT ${port}`);
});
