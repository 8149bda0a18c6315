#!/usr/bin/env python3
"""Independent-implementation (grpcio) interop peer for Loom.

Three modes:

  interop.py server [--reflection] [--port N]
                    [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
      Serves loom.interop.v1.Interop (interop.proto beside this file), and
      with --reflection grpcio's Server Reflection (v1alpha only), on
      127.0.0.1:<ephemeral> (or port N, to start a server again where one
      was). Prints ``PORT <n>`` to stdout once listening, then one line per
      call as its handler starts (``CALL <method path>``; a unary handler
      once its request has arrived), ``REFLECTION <method path>`` as a
      reflection stream arrives, ``CANCELLED <method path>`` when a
      call of Interop ends cancelled (by the client's reset, its deadline or
      its connection closing), and serves until stdin reaches EOF or
      SIGTERM/SIGINT arrives. With --tls-cert and --tls-key it serves TLS
      (ALPN h2) instead of plaintext, with that certificate chain and key
      (PEM); with --tls-client-ca too, every client must present a
      certificate signed by a CA in that PEM file.

      Request metadata that shapes a call (for the tests of how calls end):
        x-delay-ms: N     wait N ms before each response message (Unary and
                          ClientStream: before their one response); the
                          client's cancel cuts the wait short. (grpcio still
                          enforces the call's deadline itself.)
        x-after: N        the action below happens before response message
                          N+1 (default 0: before any response).
        x-stop: graceful  then stop the server with a long grace (GOAWAY;
                          calls under way go on and finish).
        x-stop: abrupt    then stop the server at once (calls under way are
                          aborted).
        x-cancel: 1       then cancel the call from the server
                          (ServicerContext.cancel()); what goes on the wire is
                          grpc core's choice. grpcio has no way to send an
                          RST_STREAM of a chosen code.

  interop.py client --target HOST:PORT [TLS]
      Runs every scenario (all five methods) with compression off and with
      gzip, checks the responses are what the server is specified to send,
      and prints a canonical JSON transcript to stdout. The same target gives
      the same transcript byte for byte, and so must a transparent relay in
      front of it: tests/tests/interop_grpcio.rs compares the two.
      Exits 2 with a message on stderr on any unexpected result.

  interop.py calls --target HOST:PORT --server grpc-go|grpcio|grpc-js
                   --case CASE [--count N] [--sync] [--deadline-ms MS] [TLS]
      Makes the same kind of call N times, one after the other, against any
      of the three peer servers (messages encoded by hand, no .proto), and
      prints one line per call; the same cases and output as
      tests/node/client.js (see there): complete, cancel_before_response,
      cancel_after_begin, cancel_after_first_response, deadline.

  TLS, for both client modes (without it: plaintext):
      --tls-ca FILE            speak TLS, trusting the CA certificates in FILE
      --tls-server-name NAME   the name to verify in the server's certificate
                               (grpc.ssl_target_name_override, also the
                               :authority); default: the target's host
      --tls-cert FILE --tls-key FILE
                               present this client certificate (PEM)
      With TLS a client does not die when the channel fails to connect: it
      waits until the channel is ready or has failed once, then makes its
      calls, so a failed handshake shows as each call's UNAVAILABLE, the
      handshake's error in its details.

Run with the venv that scripts/setup-python.sh creates (target/pyenv).
The .proto is compiled with grpc_tools.protoc into a temporary directory
at startup; no generated code is checked in.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import queue
import shutil
import signal
import struct
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc
from google.protobuf.json_format import MessageToDict
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = "interop.proto"
SERVICE = "loom.interop.v1.Interop"

# Transcript format version; bump when the layout changes.
TRANSCRIPT_FORMAT = "loom-interop-transcript/1"

# ---------------------------------------------------------------------------
# Fixed values shared by server and client (the client checks them).

TRACE_BIN = bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]) + b"loom"
FAIL_DETAILS = "loom interop: deliberate failure"
# Blob size of the large ServerStream message: 1 MiB + 3, so it spans many
# 16 KiB HTTP/2 DATA frames and is not a round number.
BIG_BLOB_LEN = (1 << 20) + 3
BIG_INDEX = 2  # which ServerStream response carries the big blob
STREAM_COUNT = 5
CLIENT_STREAM_COUNT = 4
BIDI_COUNT = 6
# Every message carries this much compressible padding so that gzip really
# shrinks it: grpc core sends a message uncompressed (flag 0) when
# compressing would not make it smaller, and the test wants flag 1 on the
# wire for gzip calls.
PAD = "loom-interop-padding " * 12

# Response metadata the client leaves out of the transcript because it may
# legitimately differ between a direct connection and one through a relay.
# grpcio hides transport headers (content-type, grpc-encoding,
# grpc-accept-encoding, grpc-status, grpc-message, grpc-timeout, date, ...)
# from the application; the server sets only deterministic entries, and a
# transparent relay forwards everything else untouched, so nothing needs
# excluding. Listed here so that a future need is a one-line change.
EXCLUDED_METADATA: frozenset[str] = frozenset()
# Request metadata the server does not echo back, for the same reason.
# user-agent is the same for the same client either way; kept.
EXCLUDED_REQUEST_METADATA: frozenset[str] = frozenset()


def blob_bytes(n: int, seed: int) -> bytes:
    """Deterministic, mildly compressible bytes."""
    unit = bytes((seed * 7 + i * 13) & 0xFF for i in range(256))
    reps = n // len(unit) + 1
    return (unit * reps)[:n]


def die(msg: str) -> "NoReturn":  # noqa: F821
    print(f"interop.py: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


# ---------------------------------------------------------------------------
# Proto compilation


def load_modules():
    """Compiles interop.proto into a temp dir and imports the generated code."""
    out = tempfile.mkdtemp(prefix="loom-interop-pb-")
    atexit.register(shutil.rmtree, out, True)
    args = [
        "grpc_tools.protoc",
        f"-I{HERE}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        os.path.join(HERE, PROTO),
    ]
    rc = protoc.main(args)
    if rc != 0:
        die(f"grpc_tools.protoc failed (exit {rc}) compiling {os.path.join(HERE, PROTO)}")
    sys.path.insert(0, out)
    import interop_pb2  # noqa: E402  (generated)
    import interop_pb2_grpc  # noqa: E402  (generated)

    return interop_pb2, interop_pb2_grpc


# ---------------------------------------------------------------------------
# TLS


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        die(f"reading {path}: {e}")


def server_credentials(cert: str | None, key: str | None, client_ca: str | None):
    """TLS credentials for the server, or None for plaintext."""
    if not cert and not key:
        if client_ca:
            die("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (cert and key):
        die("--tls-cert and --tls-key go together")
    ca = read_file(client_ca) if client_ca else None
    return grpc.ssl_server_credentials(
        ((read_file(key), read_file(cert)),),
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def add_tls_client_args(parser) -> None:
    parser.add_argument("--tls-ca", help="speak TLS, trusting the CA certificates in this PEM file")
    parser.add_argument("--tls-server-name", help="the name to verify in the server's certificate")
    parser.add_argument("--tls-cert", help="present this client certificate (PEM)")
    parser.add_argument("--tls-key", help="the client certificate's private key (PEM)")


def open_channel(target: str, options: list, args, timeout: float):
    """A channel to target, ready: plaintext, or TLS as args' --tls-* say.

    Plaintext: dies unless the channel is ready within timeout. TLS: returns
    once the channel is ready or has failed to connect once (see the module
    docstring).
    """
    if not getattr(args, "tls_ca", None):
        if args and (args.tls_server_name or args.tls_cert or args.tls_key):
            die("--tls-server-name, --tls-cert and --tls-key need --tls-ca")
        channel = grpc.insecure_channel(target, options=options)
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            die(f"could not connect to {target} within {timeout}s")
        return channel
    if bool(args.tls_cert) != bool(args.tls_key):
        die("--tls-cert and --tls-key go together")
    creds = grpc.ssl_channel_credentials(
        root_certificates=read_file(args.tls_ca),
        private_key=read_file(args.tls_key) if args.tls_key else None,
        certificate_chain=read_file(args.tls_cert) if args.tls_cert else None,
    )
    if args.tls_server_name:
        options = [*options, ("grpc.ssl_target_name_override", args.tls_server_name)]
    channel = grpc.secure_channel(target, creds, options=options)
    settled = threading.Event()

    def on_change(state):
        if state in (grpc.ChannelConnectivity.READY, grpc.ChannelConnectivity.TRANSIENT_FAILURE):
            settled.set()

    channel.subscribe(on_change, try_to_connect=True)
    if not settled.wait(timeout):
        die(f"could not connect to {target} within {timeout}s")
    channel.unsubscribe(on_change)
    return channel


# ---------------------------------------------------------------------------
# Server


def md_value_text(key: str, value) -> str:
    if key.endswith("-bin"):
        return bytes(value).hex()
    return str(value)


_stdout_lock = threading.Lock()


def emit(line: str) -> None:
    """One whole line on stdout, at once."""
    with _stdout_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class ReflectionPrinter(grpc.ServerInterceptor):
    """Prints ``REFLECTION <path>`` as each reflection stream arrives. (The
    handlers print ``CALL <path>`` as they start, as grpc-go's and grpc-js's
    do: a unary handler once its request has arrived.)"""

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method.startswith("/grpc.reflection."):
            emit(f"REFLECTION {method}")
        return continuation(handler_call_details)


class Controls:
    """What a call's x-delay-ms, x-after, x-stop and x-cancel ask of it."""

    def __init__(self, context, server_ref, method: str):
        md = {m.key: m.value for m in context.invocation_metadata()}
        path = f"/{SERVICE}/{method}"
        emit(f"CALL {path}")

        def on_end():
            # grpcio's own record of the call's end (a private field):
            # "cancelled" when the call did not end with its status.
            state = getattr(context, "_state", None)
            if getattr(state, "client", None) == "cancelled":
                emit(f"CANCELLED {path}")

        if not context.add_callback(on_end):
            # The call was over before its handler started.
            on_end()

        def number(key):
            try:
                return max(0, int(str(md.get(key, "0")).strip()))
            except ValueError:
                return 0

        self.context = context
        self.server_ref = server_ref
        self.delay = number("x-delay-ms") / 1000.0
        self.after = number("x-after")
        self.stop = md.get("x-stop")
        self.cancel = "x-cancel" in md
        self.sent = 0

    def pause(self) -> bool:
        """Waits x-delay-ms; False (at once) when the call is over."""
        end = time.monotonic() + self.delay
        while self.context.is_active():
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, 0.01))
        return False

    def before_response(self) -> bool:
        """Called before each response message: pauses, then does the
        action when its turn has come. False when the call is over."""
        if not self.pause():
            return False
        turn = self.sent == self.after
        self.sent += 1
        if not turn:
            return True
        if self.cancel:
            print("interop.py: x-cancel: context.cancel()", file=sys.stderr, flush=True)
            self.context.cancel()
            return False
        server = self.server_ref[0] if self.server_ref else None
        if self.stop == "graceful" and server is not None:
            print("interop.py: x-stop: stop(grace=60)", file=sys.stderr, flush=True)
            server.stop(grace=60)
        elif self.stop == "abrupt" and server is not None:
            print("interop.py: x-stop: stop(grace=None)", file=sys.stderr, flush=True)
            # stop(None) waits for every handler, this one included.
            threading.Thread(target=server.stop, args=(None,), daemon=True).start()
            while self.context.is_active():
                time.sleep(0.01)
            return False
        return True


def make_servicer(pb, pbg, server_ref=None):
    class Servicer(pbg.InteropServicer):
        @staticmethod
        def _begin(context, method: str):
            """Common start of every call: compression and initial metadata."""
            md = {m.key: m.value for m in context.invocation_metadata()}
            # The client sets x-compression alongside grpc-encoding, because
            # grpcio does not expose the request's grpc-encoding to handlers.
            if md.get("x-compression") == "gzip":
                context.set_compression(grpc.Compression.Gzip)
            else:
                context.set_compression(grpc.Compression.NoCompression)
            context.send_initial_metadata(
                (
                    ("x-echo", str(md.get("x-probe", ""))),
                    ("x-method", method),
                    ("x-trace-bin", TRACE_BIN),
                )
            )
            # What the server received, so the transcript shows request
            # metadata survived the trip.
            seen = {}
            for m in context.invocation_metadata():
                if m.key in EXCLUDED_REQUEST_METADATA:
                    continue
                k = f"req-md:{m.key}"
                v = md_value_text(m.key, m.value)
                seen[k] = f"{seen[k]},{v}" if k in seen else v
            return seen

        @staticmethod
        def _end(context, sent: int):
            context.set_trailing_metadata(
                (
                    ("x-trailer", "done"),
                    ("x-count-bin", struct.pack(">I", sent)),
                )
            )

        def Unary(self, request, context):
            controls = Controls(context, server_ref, "Unary")
            # Nothing is sent (response headers included) before the pause.
            if not controls.before_response():
                return pb.Msg()
            seen = self._begin(context, "Unary")
            resp = pb.Msg()
            resp.CopyFrom(request)
            resp.text = "unary:" + request.text
            resp.number = request.number + 1
            resp.mood = pb.MOOD_CALM
            resp.labels.update(seen)
            self._end(context, 1)
            return resp

        def ServerStream(self, request, context):
            controls = Controls(context, server_ref, "ServerStream")
            seen = None
            n = request.count
            for i in range(n):
                if not controls.before_response():
                    return
                if seen is None:
                    seen = self._begin(context, "ServerStream")
                resp = pb.Msg(
                    text=f"stream:{i}:{request.text}",
                    number=request.number * 1000 + i,
                    values=list(range(i + 1)),
                    count=i,
                    blob=blob_bytes(BIG_BLOB_LEN if i == BIG_INDEX else 16 + i, i),
                )
                if i == 0:
                    resp.labels.update(seen)
                yield resp
            if seen is None:
                self._begin(context, "ServerStream")
            self._end(context, n)

        def ClientStream(self, request_iterator, context):
            controls = Controls(context, server_ref, "ClientStream")
            total = 0
            texts = []
            values = []
            blob = b""
            got = 0
            for req in request_iterator:
                got += 1
                total += req.number
                texts.append(req.text)
                values.extend(req.values)
                blob += req.blob
            if not controls.before_response():
                return pb.Msg()
            seen = self._begin(context, "ClientStream")
            resp = pb.Msg(
                text="|".join(texts),
                number=total,
                values=values,
                blob=hashlib.sha256(blob).digest(),
                count=got,
            )
            resp.labels.update(seen)
            self._end(context, 1)
            return resp

        def Bidi(self, request_iterator, context):
            controls = Controls(context, server_ref, "Bidi")
            seen = None
            sent = 0
            for req in request_iterator:
                if not controls.before_response():
                    return
                if seen is None:
                    seen = self._begin(context, "Bidi")
                resp = pb.Msg()
                resp.CopyFrom(req)
                resp.text = "bidi:" + req.text
                resp.count = sent
                if sent == 0:
                    resp.labels.update(seen)
                yield resp
                sent += 1
            if seen is None:
                self._begin(context, "Bidi")
            self._end(context, sent)

        def Fail(self, request, context):
            emit(f"CALL /{SERVICE}/Fail")
            self._begin(context, "Fail")
            context.set_trailing_metadata(
                (
                    ("x-trailer", "failed"),
                    ("grpc-status-details-bin", status_details_bytes()),
                )
            )
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, FAIL_DETAILS)

    return Servicer()


def status_details_bytes() -> bytes:
    """A google.rpc.Status{code: 3, message: FAIL_DETAILS}, hand-encoded."""
    msg = FAIL_DETAILS.encode()
    assert len(msg) < 128
    # field 1 (code), varint: tag 0x08; field 2 (message), bytes: tag 0x12.
    return bytes([0x08, 3, 0x12, len(msg)]) + msg


def run_server(reflection: bool = False, port: int = 0, tls=None, unix=None) -> int:
    """Serves until stdin closes; tls: grpc.ServerCredentials, or None."""
    pb, pbg = load_modules()
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def watch_stdin():
        # os.read on the raw fd, not sys.stdin: a daemon thread blocked inside
        # a BufferedReader makes interpreter shutdown abort.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        stop.set()

    # Enough workers for the tests' cancelled and held calls too (a held
    # call keeps its worker until the client cancels it).
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), interceptors=(ReflectionPrinter(),))
    server_ref = [server]
    pbg.add_InteropServicer_to_server(make_servicer(pb, pbg, server_ref), server)
    if reflection:
        # grpcio's reflection serves v1alpha only.
        from grpc_reflection.v1alpha import reflection as grpc_reflection

        names = (
            pb.DESCRIPTOR.services_by_name["Interop"].full_name,
            grpc_reflection.SERVICE_NAME,
        )
        grpc_reflection.enable_server_reflection(names, server)
    address = f"unix:{unix}" if unix else f"127.0.0.1:{port}"
    if tls is None:
        bound = server.add_insecure_port(address)
    else:
        bound = server.add_secure_port(address, tls)
    if bound == 0:
        die(f"could not bind {address}")
    server.start()
    threading.Thread(target=watch_stdin, name="stdin-watch", daemon=True).start()
    # On a Unix socket there is no port: "PORT 0", once it listens.
    emit(f"PORT {0 if unix else bound}")
    while not stop.wait(0.2):
        pass
    server.stop(grace=0.5).wait()
    return 0


# ---------------------------------------------------------------------------
# Client


class Unexpected(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise Unexpected(what)


def canon_metadata(md) -> list:
    """Sorted "key: value" strings; -bin values as lowercase hex."""
    out = []
    for m in md or ():
        if m.key in EXCLUDED_METADATA:
            continue
        out.append(f"{m.key}: {md_value_text(m.key, m.value)}")
    out.sort()
    return out


def canon_message(msg) -> dict:
    """MessageToDict (proto3 JSON names) with the blob summarised when long.

    Also records the sha256 and length of the deterministic serialisation,
    which pins every byte of the message.
    """
    d = MessageToDict(msg, preserving_proto_field_name=True)
    if len(msg.blob) > 64:
        d["blob"] = {"len": len(msg.blob), "sha256": hashlib.sha256(msg.blob).hexdigest()}
    wire = msg.SerializeToString(deterministic=True)
    return {
        "fields": d,
        "serialized_len": len(wire),
        "serialized_sha256": hashlib.sha256(wire).hexdigest(),
    }


def md_dict(md) -> dict:
    return {m.key: m.value for m in md or ()}


def run_client(target: str, timeout: float, tls_args=None) -> int:
    pb, pbg = load_modules()
    # One channel per target, shared by every call; compression is per call.
    options = [
        ("grpc.max_receive_message_length", 8 * 1024 * 1024),
        ("grpc.enable_retries", 0),
        # No proxy from the environment: talk to exactly this target.
        ("grpc.enable_http_proxy", 0),
    ]
    channel = open_channel(target, options, tls_args, timeout)
    stub = pbg.InteropStub(channel)

    calls = []
    for comp_name, comp in (("none", grpc.Compression.NoCompression), ("gzip", grpc.Compression.Gzip)):
        for scenario in (scenario_unary, scenario_server_stream, scenario_client_stream, scenario_bidi, scenario_fail):
            name = scenario.__name__.removeprefix("scenario_")
            metadata = (
                ("x-probe", f"probe-{name}-{comp_name}"),
                ("x-compression", comp_name),
                ("x-probe-bin", TRACE_BIN[::-1]),
            )
            try:
                record = scenario(pb, stub, comp, metadata, timeout)
            except Unexpected as e:
                die(f"{name} (compression {comp_name}) against {target}: {e}")
            except grpc.RpcError as e:
                die(
                    f"{name} (compression {comp_name}) against {target}: unexpected RPC error "
                    f"{e.code().name}: {e.details()!r}"
                )
            # "call" sorts first among the keys, naming the call at its top.
            record = {"call": f"{name}/{comp_name}", "scenario": name, "compression": comp_name, **record}
            check_common(record, name, comp_name)
            calls.append(record)
    channel.close()

    transcript = {"format": TRANSCRIPT_FORMAT, "service": SERVICE, "calls": calls}
    sys.stdout.write(json.dumps(transcript, sort_keys=True, indent=1, ensure_ascii=True))
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


def check_common(record: dict, name: str, comp_name: str) -> None:
    """Metadata every call must carry (fails loudly if a relay loses any)."""
    try:
        init = dict(e.split(": ", 1) for e in record["initial_metadata"])
        trail = dict(e.split(": ", 1) for e in record["trailing_metadata"])
        check(init.get("x-echo") == f"probe-{name}-{comp_name}", f"x-echo initial metadata: {init.get('x-echo')!r}")
        check(init.get("x-trace-bin") == TRACE_BIN.hex(), f"x-trace-bin initial metadata: {init.get('x-trace-bin')!r}")
        check("x-trailer" in trail, f"x-trailer missing from trailing metadata {trail!r}")
    except Unexpected as e:
        die(f"{name} (compression {comp_name}): {e}")


def finish(call, responses: list) -> dict:
    return {
        "responses": [canon_message(r) for r in responses],
        "initial_metadata": canon_metadata(call.initial_metadata()),
        "trailing_metadata": canon_metadata(call.trailing_metadata()),
        "code": call.code().name,
        "details": call.details() or "",
    }


def check_echoed_request_md(resp, metadata) -> None:
    for k, v in metadata:
        want = v.hex() if k.endswith("-bin") else v
        got = resp.labels.get(f"req-md:{k}")
        check(got == want, f"server saw request metadata {k}={got!r}, sent {want!r}")


def scenario_unary(pb, stub, comp, metadata, timeout):
    req = pb.Msg(
        text="hello " + PAD,
        number=-(1 << 40),
        values=[0, 1, -1, (1 << 62), -(1 << 62)],
        blob=bytes(range(256)),
        labels={"k1": "v1", "k2": "", "ünï": "cødé ✓"},
    )
    resp, call = stub.Unary.with_call(req, timeout=timeout, compression=comp, metadata=metadata)
    check(resp.text == "unary:" + req.text, f"text {resp.text!r}")
    check(resp.number == req.number + 1, f"number {resp.number}")
    check(list(resp.values) == list(req.values), f"values {list(resp.values)}")
    check(resp.blob == req.blob, "blob changed")
    for k, v in req.labels.items():
        check(resp.labels.get(k) == v, f"label {k!r} = {resp.labels.get(k)!r}")
    check_echoed_request_md(resp, metadata)
    trail = md_dict(call.trailing_metadata())
    check(trail.get("x-trailer") == "done", f"x-trailer {trail.get('x-trailer')!r}")
    check(trail.get("x-count-bin") == struct.pack(">I", 1), f"x-count-bin {trail.get('x-count-bin')!r}")
    return finish(call, [resp])


def scenario_server_stream(pb, stub, comp, metadata, timeout):
    req = pb.Msg(text="stream " + PAD, number=7, count=STREAM_COUNT)
    call = stub.ServerStream(req, timeout=timeout, compression=comp, metadata=metadata)
    responses = list(call)
    check(len(responses) == STREAM_COUNT, f"{len(responses)} responses, want {STREAM_COUNT}")
    for i, r in enumerate(responses):
        check(r.count == i, f"response {i} has index {r.count}")
        want_len = BIG_BLOB_LEN if i == BIG_INDEX else 16 + i
        check(r.blob == blob_bytes(want_len, i), f"response {i} blob wrong (len {len(r.blob)}, want {want_len})")
    check_echoed_request_md(responses[0], metadata)
    trail = md_dict(call.trailing_metadata())
    check(trail.get("x-count-bin") == struct.pack(">I", STREAM_COUNT), f"x-count-bin {trail.get('x-count-bin')!r}")
    return finish(call, responses)


def scenario_client_stream(pb, stub, comp, metadata, timeout):
    reqs = [
        pb.Msg(
            text=f"part{i} " + PAD,
            number=10**i,
            values=[i, -i],
            blob=blob_bytes(1000 * (i + 1), 100 + i),
        )
        for i in range(CLIENT_STREAM_COUNT)
    ]
    resp, call = stub.ClientStream.with_call(iter(reqs), timeout=timeout, compression=comp, metadata=metadata)
    check(resp.count == len(reqs), f"server got {resp.count} messages, sent {len(reqs)}")
    check(resp.number == sum(r.number for r in reqs), f"sum {resp.number}")
    check(resp.text == "|".join(r.text for r in reqs), "concatenated text differs")
    check(resp.blob == hashlib.sha256(b"".join(r.blob for r in reqs)).digest(), "blob digest differs")
    check_echoed_request_md(resp, metadata)
    return finish(call, [resp])


def scenario_bidi(pb, stub, comp, metadata, timeout):
    """Ping-pong: each request is sent only after the previous echo arrived.

    A relay that buffered a stream until end-of-stream would stall here until
    the deadline (DEADLINE_EXCEEDED is reported as an error).
    """
    to_send: queue.Queue = queue.Queue()
    sent_count = [0]

    def requests():
        while True:
            item = to_send.get()
            if item is None:
                return
            sent_count[0] += 1
            yield item

    def make(i: int):
        return pb.Msg(text=f"ping{i} " + PAD, number=i * i, values=[i], blob=bytes([i]) * (i + 1), labels={"i": str(i)})

    call = stub.Bidi(requests(), timeout=timeout, compression=comp, metadata=metadata)
    to_send.put(make(0))
    responses = []
    try:
        for resp in call:
            i = len(responses)
            # The client has sent exactly i+1 messages when echo i arrives.
            check(sent_count[0] == i + 1, f"echo {i} arrived after {sent_count[0]} sends")
            check(resp.text == f"bidi:ping{i} " + PAD, f"echo {i} text {resp.text[:40]!r}")
            check(resp.count == i, f"echo {i} index {resp.count}")
            responses.append(resp)
            to_send.put(make(i + 1) if i + 1 < BIDI_COUNT else None)
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise Unexpected(
                f"ping-pong stalled after {len(responses)} echoes (deadline {timeout}s): "
                "messages are not forwarded as they arrive"
            ) from None
        raise
    finally:
        to_send.put(None)
    check(len(responses) == BIDI_COUNT, f"{len(responses)} echoes, want {BIDI_COUNT}")
    check_echoed_request_md(responses[0], metadata)
    return finish(call, responses)


def scenario_fail(pb, stub, comp, metadata, timeout):
    req = pb.Msg(text="please fail " + PAD)
    try:
        stub.Fail.with_call(req, timeout=timeout, compression=comp, metadata=metadata)
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"status {e.code().name}, want INVALID_ARGUMENT")
        check(e.details() == FAIL_DETAILS, f"details {e.details()!r}")
        trail = md_dict(e.trailing_metadata())
        details_bin = trail.get("grpc-status-details-bin")
        check(details_bin == status_details_bytes(), f"grpc-status-details-bin {details_bin!r}")
        return finish(e, [])
    raise Unexpected("Fail returned OK")



# ---------------------------------------------------------------------------
# Calls: one case N times against any peer server (see the module docstring)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes_field(tag: int, value) -> bytes:
    value = value.encode() if isinstance(value, str) else value
    return _varint(tag << 3 | 2) + _varint(len(value)) + value


def _int_field(tag: int, n: int) -> bytes:
    return _varint(tag << 3) + _varint(n)


# Per server: the unary, client-streaming and bidi methods, and a request for
# each (a bidi request asks for exactly one response).
PEER_SERVERS = {
    "grpc-go": {
        "unary": "/grpc.testing.TestService/UnaryCall",
        "client_stream": "/grpc.testing.TestService/StreamingInputCall",
        "bidi": "/grpc.testing.TestService/FullDuplexCall",
        "unary_request": _int_field(2, 8),  # SimpleRequest{response_size: 8}
        "bidi_request": _bytes_field(2, _int_field(1, 8)),  # {response_parameters: [{size: 8}]}
    },
    "grpcio": {
        "unary": f"/{SERVICE}/Unary",
        "client_stream": f"/{SERVICE}/ClientStream",
        "bidi": f"/{SERVICE}/Bidi",
        "unary_request": _bytes_field(1, "grpcio"),  # Msg{text}
        "bidi_request": _bytes_field(1, "grpcio"),
    },
    "grpc-js": {
        "unary": "/harness.v1.Harness/Echo",
        "client_stream": "/harness.v1.Harness/Sum",
        "bidi": "/harness.v1.Harness/Chat",
        "unary_request": _bytes_field(1, "grpcio"),  # EchoRequest{text}
        "bidi_request": _bytes_field(1, "grpcio"),  # Line{text}
    },
}

# How long a held call waits on the server: far beyond any test.
HOLD = (("x-delay-ms", "10000"),)


class _Requests:
    """A request iterator fed by hand; close() ends it."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue()

    def put(self, item) -> None:
        self._queue.put(item)

    def close(self) -> None:
        self._queue.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._queue.get()
        if item is None:
            raise StopIteration
        return item


def run_calls(
    target: str,
    server: str,
    case: str,
    count: int,
    sync: bool,
    deadline_ms: int,
    tls_args=None,
    proxy: bool = False,
) -> int:
    peer = PEER_SERVERS[server]
    options = [("grpc.enable_retries", 0), ("grpc.enable_http_proxy", 1 if proxy else 0)]
    channel = open_channel(target, options, tls_args, 10)
    unary = channel.unary_unary(peer["unary"])
    client_stream = channel.stream_unary(peer["client_stream"])
    bidi = channel.stream_stream(peer["bidi"])

    def begun(i: int) -> None:
        emit(f"BEGUN {case} {i}")
        if sync:
            if not sys.stdin.readline():
                die("stdin closed while waiting to cancel")
        else:
            time.sleep(0.1)

    def outcome(call) -> tuple:
        """(code, details) of a finished future or call."""
        return call.code(), call.details() or ""

    for i in range(count):
        started = time.monotonic()
        responses = 0
        if case == "complete":
            fut = unary.future(peer["unary_request"])
            if fut.exception() is None:
                responses = 1
            code, details = outcome(fut)
        elif case == "cancel_before_response":
            fut = unary.future(peer["unary_request"], metadata=HOLD)
            begun(i)
            fut.cancel()
            code, details = outcome(fut)
        elif case == "cancel_after_begin":
            requests = _Requests()
            fut = client_stream.future(requests)
            begun(i)
            fut.cancel()
            requests.close()
            code, details = outcome(fut)
        elif case == "cancel_after_first_response":
            requests = _Requests()
            call = bidi(requests)
            requests.put(peer["bidi_request"])
            try:
                next(call)
                responses = 1
            except grpc.RpcError:
                pass
            call.cancel()
            requests.close()
            code, details = outcome(call)
        elif case == "deadline":
            fut = unary.future(peer["unary_request"], timeout=deadline_ms / 1000.0, metadata=HOLD)
            fut.exception()
            code, details = outcome(fut)
        else:
            die(f"unknown case {case}")
        record = {
            "case": case,
            "i": i,
            "code": code.name,
            "codeNumber": code.value[0],
            "details": details,
            "responses": responses,
            "ms": int((time.monotonic() - started) * 1000),
        }
        emit("RESULT " + json.dumps(record, sort_keys=True))
    emit(f"DONE {count}")
    channel.close()
    return 0

# ---------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    srv = sub.add_parser("server", help="serve on 127.0.0.1:0, print 'PORT <n>'")
    srv.add_argument(
        "--reflection",
        action="store_true",
        help="also serve gRPC Server Reflection (grpcio's: v1alpha only)",
    )
    srv.add_argument("--port", type=int, default=0, help="port to listen on (default 0: ephemeral)")
    srv.add_argument("--unix", help="listen on this Unix domain socket instead of a port")
    srv.add_argument("--tls-cert", help="serve TLS with this certificate chain (PEM)")
    srv.add_argument("--tls-key", help="the --tls-cert certificate's private key (PEM)")
    srv.add_argument("--tls-client-ca", help="require client certificates signed by a CA in this PEM file")
    c = sub.add_parser("client", help="run all scenarios, print a JSON transcript")
    c.add_argument("--target", required=True, help="HOST:PORT of the server or relay")
    c.add_argument("--timeout", type=float, default=30.0, help="per-call deadline in seconds (default 30)")
    add_tls_client_args(c)
    k = sub.add_parser("calls", help="one case N times against any peer server, a line per call")
    k.add_argument("--target", required=True, help="HOST:PORT of the server or relay")
    k.add_argument("--server", required=True, choices=sorted(PEER_SERVERS), help="which peer server is behind it")
    k.add_argument(
        "--case",
        required=True,
        choices=["complete", "cancel_before_response", "cancel_after_begin", "cancel_after_first_response", "deadline"],
    )
    k.add_argument("--count", type=int, default=1)
    k.add_argument("--sync", action="store_true", help="after BEGUN, wait for a line on stdin before cancelling")
    k.add_argument("--deadline-ms", type=int, default=300, help="the deadline case's deadline (default 300)")
    k.add_argument(
        "--proxy", action="store_true", help="reach the target through the proxy in grpc_proxy / https_proxy / http_proxy"
    )
    add_tls_client_args(k)
    args = parser.parse_args(argv)
    if args.mode == "server":
        tls = server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
        return run_server(args.reflection, args.port, tls, args.unix)
    if args.mode == "calls":
        return run_calls(
            args.target, args.server, args.case, args.count, args.sync, args.deadline_ms, args, args.proxy
        )
    return run_client(args.target, args.timeout, args)


if __name__ == "__main__":
    sys.exit(main())
