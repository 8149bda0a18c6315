#!/usr/bin/env bash
# Loom's benchmark: for each backend (tonic, and grpc-go serving the same
# calls with the same bytes), one load generator and three paths to that
# backend measured side by side in one run: direct, through nginx 1.22
# (grpc_pass, one worker, keepalive to the upstream: it captures nothing),
# and through Loom with capture on. Every workload x concurrency is driven
# over 1 and over 4 client HTTP/2 connections. Prints, per backend, a table
# of calls/s, MB/s, p50/p99 latency with the ratios Loom/direct and
# Loom/nginx, Loom's resident memory and the sequential unary latency each
# proxy adds; then the goals, each met or not. docs/performance.md says how
# to read it.
#
# Usage: scripts/bench.sh [ws|record|none] [SECONDS]
#   ws      (default) a WebSocket consumer (`loom-bench ws`, a process of
#           its own) reads Loom's live feed for the whole run
#   record  Loom writes --record to a file (checked complete afterwards)
#   none    no consumer but the in-memory store
#   SECONDS per measurement (default 3; each also has a 0.5 s warm-up)
# Env: LOOM_BENCH_BACKENDS (default "tonic go"): `tonic` is `loom-bench
#      backend`, `go` is tests/go/bench (grpc-go 1.33; needs golang-go and
#      golang-google-grpc-dev, which `scripts/setup.sh test` installs),
#      LOOM_BENCH_CONNECTIONS (default "1 4"), client connections per load,
#      LOOM_BENCH_WORKLOADS (default "unary stream bidi"),
#      LOOM_BENCH_CONCURRENCY (default "1 32 256"), calls in flight,
#      LOOM_BENCH_LOOM_ARGS, more arguments for loom (e.g. "--threads 1";
#      a --max-capture-bytes here also sets the RSS goal),
#      LOOM_BENCH_PERF=1 to record a perf profile of Loom per measurement
#      (target/bench/perf-*.txt), LOOM_BENCH_PERF_ARGS for perf record's
#      sampling options (default "-F 999 --call-graph dwarf,32768").
# Everything a run leaves (logs, configs, results.jsonl) is in target/bench.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode="${1:-ws}"
seconds="${2:-3}"
workloads="${LOOM_BENCH_WORKLOADS:-unary stream bidi}"
concurrency="${LOOM_BENCH_CONCURRENCY:-1 32 256}"
connections="${LOOM_BENCH_CONNECTIONS:-1 4}"
backends="${LOOM_BENCH_BACKENDS:-tonic go}"
case "${mode}" in ws|record|none) ;; *) echo "bench: mode is ws, record or none" >&2; exit 2;; esac
for b in ${backends}; do
    case "${b}" in tonic|go) ;; *) echo "bench: backends are tonic and go, not '${b}'" >&2; exit 2;; esac
done

# Build: nginx and perf, the relay and loom-bench (release with line
# tables), and the grpc-go backend when it is asked for.
scripts/setup.sh bench
cargo build --profile profiling --locked -p loom-relay -p loom-tests --bin loom --bin loom-bench
bin=target/profiling
out=target/bench
go_backend="${PWD}/target/loom-bench-go"
if [[ " ${backends} " == *" go "* ]]; then
    tests/go/build.sh --bench "${go_backend}"
fi
rm -rf "${out}"
mkdir -p "${out}"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits until FILE has a line matching PATTERN; prints the line.
wait_line() {
    local file=$1 pattern=$2
    for _ in $(seq 1 300); do
        if line=$(grep -m1 -E "${pattern}" "${file}" 2>/dev/null); then
            echo "${line}"
            return 0
        fi
        sleep 0.1
    done
    echo "bench: no '${pattern}' in ${file}" >&2
    cat "${file}" >&2
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Stops one process this script started and waits for it.
stop_pid() { kill "${1}" 2>/dev/null || true; wait "${1}" 2>/dev/null || true; }

# start_stack BACKEND: starts the backend, an nginx in front of it and a Loom
# in front of it (with its WebSocket consumer in ws mode), all on loopback,
# in ${out}/BACKEND. Sets backend_addr, nginx_addr, loom_addr, loom_pid.
start_stack() {
    local b=$1 dir="${out}/$1"
    mkdir -p "${dir}/nginx/logs"

    # The backend, kept alive by an open stdin (fd 3, closed by stop_stack).
    mkfifo "${dir}/backend.in"
    case "${b}" in
        tonic) "${bin}/loom-bench" backend < "${dir}/backend.in" > "${dir}/backend.out" 2>&1 & ;;
        go) "${go_backend}" < "${dir}/backend.in" > "${dir}/backend.out" 2>&1 & ;;
    esac
    backend_pid=$!
    pids+=("${backend_pid}")
    exec 3> "${dir}/backend.in"
    backend_addr="127.0.0.1:$(wait_line "${dir}/backend.out" '^PORT ' | cut -d' ' -f2)"

    # nginx: one worker, HTTP/2 in, grpc_pass with keepalive out.
    local nginx_port
    nginx_port=$(free_port)
    nginx_addr="127.0.0.1:${nginx_port}"
    cat > "${dir}/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log ${PWD}/${dir}/nginx/logs/error.log warn;
pid ${PWD}/${dir}/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${PWD}/${dir}/nginx/body;
    proxy_temp_path ${PWD}/${dir}/nginx/proxy;
    fastcgi_temp_path ${PWD}/${dir}/nginx/fastcgi;
    uwsgi_temp_path ${PWD}/${dir}/nginx/uwsgi;
    scgi_temp_path ${PWD}/${dir}/nginx/scgi;
    http2_max_concurrent_streams 1024;
    # Never close a connection for its request count (1000 by default).
    keepalive_requests 100000000;
    keepalive_timeout 3600s;
    upstream backend { server ${backend_addr}; keepalive 64; keepalive_requests 100000000; }
    server {
        listen ${nginx_addr} http2;
        client_max_body_size 0;
        location / { grpc_pass grpc://backend; grpc_read_timeout 60s; }
    }
}
EOF
    local nginx_bin
    nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
    "${nginx_bin}" -p "${PWD}/${dir}/nginx" -c "${PWD}/${dir}/nginx/nginx.conf" &
    nginx_pid=$!
    pids+=("${nginx_pid}")
    for _ in $(seq 1 100); do
        (exec 4<>"/dev/tcp/127.0.0.1/${nginx_port}") 2>/dev/null && break
        sleep 0.1
    done

    # Loom, with capture on; ready when it logs
    # "relaying gRPC from ADDR to ...; inspector at http://UI/".
    local loom_args=(--upstream "${backend_addr}" --listen 127.0.0.1:0 --ui 127.0.0.1:0)
    # shellcheck disable=SC2206 # words on purpose
    loom_args+=(${LOOM_BENCH_LOOM_ARGS:-})
    if [[ "${mode}" == record ]]; then
        loom_args+=(--record "${PWD}/${dir}/record.loom")
    fi
    RUST_LOG=info "${bin}/loom" "${loom_args[@]}" > "${dir}/loom.out" 2>&1 &
    loom_pid=$!
    pids+=("${loom_pid}")
    local line ui
    line=$(wait_line "${dir}/loom.out" 'relaying gRPC from')
    loom_addr=$(sed -E 's/.*relaying gRPC from ([^ ]+) .*/\1/' <<<"${line}")
    ui=$(sed -E 's|.*inspector at http://([^/]+)/.*|\1|' <<<"${line}")

    # The WebSocket consumer, a process of its own for the whole run; ready
    # once the relay's first batch arrived.
    ws_pid=""
    if [[ "${mode}" == ws ]]; then
        "${bin}/loom-bench" ws --url "ws://${ui}/ws" > "${dir}/ws.out" 2> "${dir}/ws.err" &
        ws_pid=$!
        pids+=("${ws_pid}")
        wait_line "${dir}/ws.out" '^READY' >/dev/null
    fi
    echo "bench: backend ${b} ${backend_addr}, nginx ${nginx_addr}, loom ${loom_addr}; mode ${mode}, ${seconds}s each" >&2
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${loom_pid}/status"; }

# stop_stack BACKEND: Loom's RSS, the consumer's report, the record file's
# check; stops everything start_stack started; one line in stacks.jsonl.
stop_stack() {
    local b=$1 dir="${out}/$1" rss ws_report=null record_note=""
    rss=$(rss_kib)
    if [[ -n "${ws_pid}" ]]; then
        kill -TERM "${ws_pid}"
        wait "${ws_pid}" 2>/dev/null || true
        ws_report=$(grep -m1 '^{' "${dir}/ws.out" || echo null)
    fi
    kill -TERM "${loom_pid}"
    wait "${loom_pid}" 2>/dev/null || true
    if [[ "${mode}" == record ]]; then
        local calls code
        set +e
        calls=$("${bin}/loom" decode "${dir}/record.loom" 2>"${dir}/decode.err" | wc -l)
        code=$?   # with pipefail: loom decode's status when it failed
        set -e
        record_note="record file: ${calls} calls, loom decode exit ${code} ($(head -c 300 "${dir}/decode.err"))"
    fi
    stop_pid "${nginx_pid}"
    exec 3>&-
    wait "${backend_pid}" 2>/dev/null || true
    python3 -c 'import json,sys; print(json.dumps({"backend":sys.argv[1],"rss_kib":int(sys.argv[2] or 0),"ws":json.loads(sys.argv[3]),"record":sys.argv[4]}))' \
        "${b}" "${rss}" "${ws_report}" "${record_note}" >> "${out}/stacks.jsonl"
}

# The measurements: per backend, every workload x concurrency x connections
# against direct, nginx and Loom in turn, one load generator process each.
results="${out}/results.jsonl"
: > "${results}"
: > "${out}/stacks.jsonl"
for b in ${backends}; do
    start_stack "${b}"
    for w in ${workloads}; do
        for c in ${concurrency}; do
            for n in ${connections}; do
                for target in direct nginx loom; do
                    case "${target}" in
                        direct) addr="${backend_addr}" ;;
                        nginx) addr="${nginx_addr}" ;;
                        loom) addr="${loom_addr}" ;;
                    esac
                    perf_pid=""
                    perf_name="${out}/perf-${b}-${w}-${c}x${n}"
                    if [[ "${target}" == loom && "${LOOM_BENCH_PERF:-0}" == 1 ]]; then
                        # shellcheck disable=SC2086 # words on purpose
                        perf record ${LOOM_BENCH_PERF_ARGS:--F 999 --call-graph dwarf,32768} -o "${perf_name}.data" -p "${loom_pid}" >/dev/null 2>&1 &
                        perf_pid=$!
                    fi
                    json=$("${bin}/loom-bench" load --target "${addr}" --workload "${w}" \
                        --concurrency "${c}" --connections "${n}" --seconds "${seconds}")
                    if [[ -n "${perf_pid}" ]]; then
                        kill -INT "${perf_pid}"; wait "${perf_pid}" || true
                        perf report --stdio --no-children -i "${perf_name}.data" \
                            --percent-limit 1 2>/dev/null | head -150 > "${perf_name}.txt" || true
                    fi
                    rss=0
                    [[ "${target}" == loom ]] && rss=$(rss_kib)
                    echo "{\"backend\":\"${b}\",\"workload\":\"${w}\",\"concurrency\":${c},\"connections\":${n},\"target\":\"${target}\",\"rss_kib\":${rss},\"result\":${json}}" >> "${results}"
                    echo "bench: ${b} ${w} x${c} ${n}conn ${target}: ${json}" >&2
                done
            done
        done
    done
    stop_stack "${b}"
done

# The summary: a table per backend, then the goals.
python3 - "${results}" "${out}/stacks.jsonl" "${mode}" "${seconds}" "${LOOM_BENCH_LOOM_ARGS:-}" <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
stacks = {s["backend"]: s for s in map(json.loads, open(sys.argv[2]))}
mode, seconds, loom_args = sys.argv[3], sys.argv[4], sys.argv[5].split()
MiB = 1 << 20

def size(text):
    """A size as loom reads it: 1024, 64KiB, 256MiB, 1GiB, 100MB."""
    m = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    units = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": MiB, "mib": MiB, "g": 1 << 30,
             "gib": 1 << 30, "kb": 10**3, "mb": 10**6, "gb": 10**9}
    return int(m.group(1)) * units[m.group(2).lower()]

def loom_flag(name, default):
    for i, a in enumerate(loom_args):
        if a == name and i + 1 < len(loom_args):
            return size(loom_args[i + 1])
        if a.startswith(name + "="):
            return size(a.split("=", 1)[1])
    return default

max_capture = loom_flag("--max-capture-bytes", 256 * MiB)
record_buffer = loom_flag("--record-buffer", 256 * MiB)
names = {"tonic": "tonic (loom-bench backend)", "go": "grpc-go 1.33 (tests/go/bench)"}
backends = list(dict.fromkeys(r["backend"] for r in rows))
by = {}
for r in rows:
    by.setdefault(r["backend"], {}).setdefault(
        (r["workload"], r["concurrency"], r["connections"]), {})[r["target"]] = r["result"]

def metric(w):
    return "mbps" if w == "stream" else "rps"

def ratio(t, w):
    return t["loom"][metric(w)] / t["nginx"][metric(w)] if t["nginx"][metric(w)] else 0.0

def sequential(b):
    """p50 added by Loom and by nginx to one unary call at a time (fewest connections)."""
    keys = sorted(k for k in by[b] if k[0] == "unary" and k[1] == 1)
    if not keys:
        return None
    t = by[b][keys[0]]
    d, n, l = (t[k]["p50_us"] for k in ("direct", "nginx", "loom"))
    return l - d, n - d

print(f"Loom benchmark, capture mode: {mode}, {seconds} s per measurement\n")
for b in backends:
    print(f"### Backend: {names[b]}\n")
    print("| workload | conc | conns | metric | direct | nginx | Loom | Loom/direct | Loom/nginx |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (w, c, n), t in by[b].items():
        m = metric(w)
        unit = "MB/s" if m == "mbps" else "calls/s"
        d, g, l = (t[k][m] for k in ("direct", "nginx", "loom"))
        print(f"| {w} | {c} | {n} | {unit} | {d:,.0f} | {g:,.0f} | {l:,.0f} | {l/d if d else 0:.2f} | {l/g if g else 0:.2f} |")
        p50 = [t[k]["p50_us"] for k in ("direct", "nginx", "loom")]
        p99 = [t[k]["p99_us"] for k in ("direct", "nginx", "loom")]
        print(f"| | | | p50 µs | {p50[0]} | {p50[1]} | {p50[2]} | {p50[2]-p50[0]:+} | {p50[2]-p50[1]:+} |")
        print(f"| | | | p99 µs | {p99[0]} | {p99[1]} | {p99[2]} | {p99[2]-p99[0]:+} | {p99[2]-p99[1]:+} |")
        if any(t[k]["errors"] for k in t):
            print(f"| | | | errors | {t['direct']['errors']} | {t['nginx']['errors']} | {t['loom']['errors']} | | |")
    s = stacks.get(b, {})
    print(f"\nLoom RSS after the run: {s.get('rss_kib', 0)/1024:.0f} MiB (--max-capture-bytes {max_capture/MiB:.0f} MiB)")
    seq = sequential(b)
    if seq:
        print(f"Sequential unary p50 added: Loom {seq[0]:+} µs, nginx {seq[1]:+} µs")
    ws = s.get("ws")
    if ws:
        print(f"WebSocket consumer: {ws['events']:,} events in {ws['batches']:,} batches "
              f"({ws['bytes']/1e6:,.1f} MB); fell behind {ws['lagged']} times, {ws['lost']:,} events lost "
              f"(the rest resent from the store); {ws['other_gaps']} other gaps, "
              f"{ws['undecodable_batches']} undecodable batches; {ws['ended']}")
    if s.get("record"):
        print(s["record"])
    print()

# Goals: each met only when every measured row meets it.
def ratio_goal(w, floor):
    cells = []
    for b in backends:
        rs = {k: ratio(t, w) for k, t in by[b].items() if k[0] == w}
        if not rs:
            cells.append("not measured")
            continue
        concs = sorted({k[1] for k in rs})
        detail = " · ".join(
            f"×{c} " + " ".join(f"{rs[k]:.2f}" for k in sorted(rs) if k[1] == c) for c in concs)
        met = all(v >= floor for v in rs.values())
        cells.append(f"{'met' if met else 'not met'}: {detail}")
    return cells

conns = sorted({r["connections"] for r in rows})
print("### Goals (Loom with capture on against nginx; ×N = N calls in flight, "
      f"one ratio per connection count {'/'.join(map(str, conns))})\n")
print("| goal | " + " | ".join(names[b].split(" (")[0] for b in backends) + " |")
print("|---|" + "---|" * len(backends))
print("| unary ≥ 1.1× nginx (1, 32, 256 in flight; 1 and 4 conns) | " + " | ".join(ratio_goal("unary", 1.1)) + " |")
print("| streams ≥ 1.3× nginx (MB/s) | " + " | ".join(ratio_goal("stream", 1.3)) + " |")
print("| bidi ≥ 1.0× nginx | " + " | ".join(ratio_goal("bidi", 1.0)) + " |")
cells = []
for b in backends:
    seq = sequential(b)
    cells.append("not measured" if seq is None else
                 f"{'met' if seq[0] <= seq[1] else 'not met'}: Loom {seq[0]:+} µs, nginx {seq[1]:+} µs")
print("| sequential unary p50 added ≤ nginx's | " + " | ".join(cells) + " |")
bound = max_capture + 64 * MiB + (record_buffer if mode == "record" else 0)
cells = []
for b in backends:
    rss = stacks.get(b, {}).get("rss_kib", 0) * 1024
    cells.append(f"{'met' if rss <= bound else 'not met'}: {rss/MiB:.0f} MiB")
extra = f" + --record-buffer {record_buffer/MiB:.0f} MiB" if mode == "record" else ""
print(f"| RSS ≤ --max-capture-bytes + 64 MiB{extra} ({bound/MiB:.0f} MiB) | " + " | ".join(cells) + " |")
concs = sorted({r["concurrency"] for r in rows})
if concs != [1, 32, 256] or conns != [1, 4]:
    print(f"\nThis run measured {', '.join(f'×{c}' for c in concs)} over {' and '.join(map(str, conns))} "
          f"connection{'s' if conns != [1] else ''}; the goals are set for 1, 32 and 256 in flight "
          "over 1 and 4 connections.")
PY
