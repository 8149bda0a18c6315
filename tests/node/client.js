#!/usr/bin/env node
// Loom integration-test client on grpc-js: makes the same kind of call N
// times and prints one machine-readable line per call, for the tests of how
// calls end (tests/tests/it/call_end*.rs). Messages are encoded by hand, so
// it calls any of the three peer servers without their .proto files.
//
// Usage (run `npm ci --no-audit --no-fund` in tests/node first):
//   node client.js --target HOST:PORT --server grpc-go|grpcio|grpc-js
//                  --case CASE [--count N] [--sync] [--deadline-ms MS]
//
//   --server     Which peer server is behind the target (its service and
//                messages): grpc-go's grpc.testing.TestService, grpcio's
//                loom.interop.v1.Interop (tests/python/interop.py) or grpc-js's
//                harness.v1.Harness (server.js).
//   --case       complete                 unary call, answered: OK
//                cancel_before_response   unary call that the server holds
//                                         (x-delay-ms), cancelled once begun:
//                                         CANCELLED
//                cancel_after_begin       client-streaming call, cancelled once
//                                         begun, before any message (the
//                                         interop case): CANCELLED
//                cancel_after_first_response
//                                         bidi call: one request, one response
//                                         read, then cancelled (the interop
//                                         case): CANCELLED
//                deadline                 unary call with a deadline of
//                                         --deadline-ms (default 300) that the
//                                         server holds for 10 s:
//                                         DEADLINE_EXCEEDED
//   --count N    Calls, one after the other (default 1).
//   --sync       "Once begun" means: after printing `BEGUN <case> <i>`, wait for
//                a line on stdin (the test sends it once the server has seen
//                the call). Without it the client waits 100 ms instead, which
//                is enough by hand but not a guarantee: a cancel before the
//                call's HEADERS went out never reaches the server at all.
//
// stdout, one line each, nothing else:
//   BEGUN <case> <i>       (cancel_before_response, cancel_after_begin)
//   RESULT {"case":..., "i":..., "code":"CANCELLED", "codeNumber":1,
//           "details":..., "responses":N, "ms":...}
//   DONE <count>
// Diagnostics go to stderr. Exits 0 once every call has ended, whatever its
// status (the test judges); 2 on a bad command line.

'use strict';

const grpc = require('@grpc/grpc-js');
const readline = require('readline');

function usage(msg) {
  process.stderr.write(
    `${msg}\nusage: node client.js --target HOST:PORT --server grpc-go|grpcio|grpc-js ` +
      '--case CASE [--count N] [--sync] [--deadline-ms MS] [--proxy]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { count: 1, sync: false, deadlineMs: 300, proxy: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--target') opts.target = value();
    else if (a === '--server') opts.server = value();
    else if (a === '--case') opts.case = value();
    else if (a === '--count') opts.count = Number(value());
    else if (a === '--deadline-ms') opts.deadlineMs = Number(value());
    else if (a === '--sync') opts.sync = true;
    // Through the proxy in grpc_proxy / https_proxy / http_proxy.
    else if (a === '--proxy') opts.proxy = true;
    else usage(`unknown argument: ${a}`);
  }
  if (!opts.target) usage('--target is required');
  if (!SERVERS[opts.server]) usage(`bad --server: ${opts.server}`);
  if (!CASES[opts.case]) usage(`bad --case: ${opts.case}`);
  if (!Number.isInteger(opts.count) || opts.count < 1) usage('bad --count');
  if (!Number.isInteger(opts.deadlineMs) || opts.deadlineMs < 1) usage('bad --deadline-ms');
  return opts;
}

// --- protobuf by hand -------------------------------------------------------

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return Buffer.from(out);
}

// A length-delimited field.
function bytesField(tag, bytes) {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'utf8');
  return Buffer.concat([varint((tag << 3) | 2), varint(b.length), b]);
}

// A varint field.
function intField(tag, n) {
  return Buffer.concat([varint(tag << 3), varint(n)]);
}

// Per server: the unary, client-streaming and bidi methods, and a request
// for each (a bidi request asks for exactly one response).
const SERVERS = {
  'grpc-go': {
    unary: '/grpc.testing.TestService/UnaryCall',
    clientStream: '/grpc.testing.TestService/StreamingInputCall',
    bidi: '/grpc.testing.TestService/FullDuplexCall',
    // SimpleRequest{response_size: 8}
    unaryRequest: () => intField(2, 8),
    // StreamingInputCallRequest{payload: {body}}
    streamRequest: (text) => bytesField(1, bytesField(2, text)),
    // StreamingOutputCallRequest{response_parameters: [{size: 8}]}
    bidiRequest: () => bytesField(2, intField(1, 8)),
  },
  grpcio: {
    unary: '/loom.interop.v1.Interop/Unary',
    clientStream: '/loom.interop.v1.Interop/ClientStream',
    bidi: '/loom.interop.v1.Interop/Bidi',
    // Msg{text}
    unaryRequest: () => bytesField(1, 'grpc-js'),
    streamRequest: (text) => bytesField(1, text),
    bidiRequest: () => bytesField(1, 'grpc-js'),
  },
  'grpc-js': {
    unary: '/harness.v1.Harness/Echo',
    clientStream: '/harness.v1.Harness/Sum',
    bidi: '/harness.v1.Harness/Chat',
    // EchoRequest{text}
    unaryRequest: () => bytesField(1, 'grpc-js'),
    // Number{value: 1}
    streamRequest: () => intField(1, 1),
    // Line{text}
    bidiRequest: () => bytesField(1, 'grpc-js'),
  },
};

const identity = (b) => b;

// How long a held call waits on the server: far beyond any test.
const HOLD_MS = '10000';

// --- stdin, for --sync -------------------------------------------------------

let stdinLines = null;
const waiting = [];
const buffered = [];

function nextStdinLine() {
  if (stdinLines === null) {
    stdinLines = readline.createInterface({ input: process.stdin });
    stdinLines.on('line', (line) => {
      const w = waiting.shift();
      if (w) w(line);
      else buffered.push(line);
    });
    stdinLines.on('close', () => {
      log('stdin closed while waiting to cancel');
      process.exit(3);
    });
  }
  if (buffered.length > 0) return Promise.resolve(buffered.shift());
  return new Promise((resolve) => waiting.push(resolve));
}

function log(...args) {
  process.stderr.write(`[grpc-js client] ${args.join(' ')}\n`);
}

function emit(line) {
  process.stdout.write(`${line}\n`);
}

// Waits until the call is under way on the server (see --sync).
async function begun(opts, i) {
  emit(`BEGUN ${opts.case} ${i}`);
  if (opts.sync) await nextStdinLine();
  else await new Promise((r) => setTimeout(r, 100));
}

// --- the cases --------------------------------------------------------------

// Each returns a promise of {status, responses}.
const CASES = {
  complete(client, s) {
    return new Promise((resolve) => {
      client.makeUnaryRequest(s.unary, identity, identity, s.unaryRequest(), new grpc.Metadata(), {}, (err) =>
        resolve({ status: err || { code: grpc.status.OK, details: '' }, responses: err ? 0 : 1 }),
      );
    });
  },

  async cancel_before_response(client, s, opts, i) {
    const md = new grpc.Metadata();
    md.set('x-delay-ms', HOLD_MS);
    let settle;
    const done = new Promise((r) => (settle = r));
    const call = client.makeUnaryRequest(s.unary, identity, identity, s.unaryRequest(), md, {}, (err) =>
      settle({ status: err || { code: grpc.status.OK, details: '' }, responses: err ? 0 : 1 }),
    );
    await begun(opts, i);
    call.cancel();
    return done;
  },

  async cancel_after_begin(client, s, opts, i) {
    let settle;
    const done = new Promise((r) => (settle = r));
    const call = client.makeClientStreamRequest(s.clientStream, identity, identity, new grpc.Metadata(), {}, (err) =>
      settle({ status: err || { code: grpc.status.OK, details: '' }, responses: err ? 0 : 1 }),
    );
    await begun(opts, i);
    call.cancel();
    return done;
  },

  cancel_after_first_response(client, s) {
    return new Promise((resolve) => {
      const call = client.makeBidiStreamRequest(s.bidi, identity, identity, new grpc.Metadata(), {});
      let responses = 0;
      call.on('data', () => {
        responses += 1;
        if (responses === 1) call.cancel();
      });
      call.on('error', () => {});
      call.on('status', (status) => resolve({ status, responses }));
      call.write(s.bidiRequest());
    });
  },

  deadline(client, s, opts) {
    return new Promise((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-delay-ms', HOLD_MS);
      const deadline = Date.now() + opts.deadlineMs;
      client.makeUnaryRequest(s.unary, identity, identity, s.unaryRequest(), md, { deadline }, (err) =>
        resolve({ status: err || { code: grpc.status.OK, details: '' }, responses: err ? 0 : 1 }),
      );
    });
  },
};

const CODE_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, n]) => [n, name]));

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const client = new grpc.Client(opts.target, grpc.credentials.createInsecure(), {
    'grpc.enable_retries': 0,
    'grpc.enable_http_proxy': opts.proxy ? 1 : 0,
  });
  await new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + 10000, (err) => (err ? reject(err) : resolve())),
  ).catch((err) => {
    log(`could not connect to ${opts.target}: ${err.message}`);
    process.exit(2);
  });
  const s = SERVERS[opts.server];
  for (let i = 0; i < opts.count; i++) {
    const started = Date.now();
    const { status, responses } = await CASES[opts.case](client, s, opts, i);
    emit(
      `RESULT ${JSON.stringify({
        case: opts.case,
        i,
        code: CODE_NAMES[status.code] || String(status.code),
        codeNumber: status.code,
        details: status.details || '',
        responses,
        ms: Date.now() - started,
      })}`,
    );
  }
  emit(`DONE ${opts.count}`);
  if (stdinLines) {
    stdinLines.removeAllListeners('close');
    stdinLines.close();
  }
  process.stdin.destroy();
  // Node sends a cancel's RST_STREAM a few milliseconds after the call's
  // END_STREAM; closing the channel at once would drop the last one.
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Let the last cancel's RST_STREAM go out: close the channel (GOAWAY) and
  // let the process end by itself, not process.exit, which drops what is
  // still queued on the socket and makes the last call a disconnect.
  client.close();
  setTimeout(() => process.exit(0), 2000).unref();
}

main().catch((err) => {
  log(`failed: ${err.stack || err}`);
  process.exit(1);
});
