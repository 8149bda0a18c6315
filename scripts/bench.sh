#!/usr/bin/env bash
# Loom's benchmark: one backend, one load generator, three paths to the
# backend measured side by side in one run: direct, through nginx 1.22
# (grpc_pass, one worker, keepalive to the upstream: it captures nothing),
# and through Loom with capture on. Prints a table of calls/s, MB/s, p50/p99
# latency and Loom's resident memory, with the ratios Loom/direct and
# Loom/nginx. docs/performance.md says how to read it.
#
# Usage: scripts/bench.sh [ws|record|none] [SECONDS]
#   ws      (default) a WebSocket consumer reads Loom's live feed
#   record  Loom writes --record to a file (checked complete afterwards)
#   none    no consumer but the in-memory store
#   SECONDS per measurement (default 3)
# Env: LOOM_BENCH_LOOM_ARGS, more arguments for loom (e.g. "--threads 1"),
#      LOOM_BENCH_WORKLOADS (default "unary stream bidi"),
#      LOOM_BENCH_CONCURRENCY (default "1 32 256"),
#      LOOM_BENCH_PERF=1 to record a perf profile of Loom per workload
#      (target/bench/perf-*.txt), LOOM_BENCH_PERF_ARGS for perf record's
#      sampling options (default "-F 999 --call-graph dwarf,32768").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode="${1:-ws}"
seconds="${2:-3}"
workloads="${LOOM_BENCH_WORKLOADS:-unary stream bidi}"
concurrency="${LOOM_BENCH_CONCURRENCY:-1 32 256}"
case "${mode}" in ws|record|none) ;; *) echo "bench: mode is ws, record or none" >&2; exit 2;; esac

scripts/setup.sh bench
cargo build --profile profiling --locked -p loom-relay -p loom-tests --bin loom --bin loom-bench
bin=target/profiling
out=target/bench
rm -rf "${out}"
mkdir -p "${out}/nginx/logs"

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

# The backend, kept alive by an open stdin.
mkfifo "${out}/backend.in"
"${bin}/loom-bench" backend < "${out}/backend.in" > "${out}/backend.out" 2>&1 &
pids+=($!)
exec 3> "${out}/backend.in"
backend_port=$(wait_line "${out}/backend.out" '^PORT ' | cut -d' ' -f2)
backend="127.0.0.1:${backend_port}"

# nginx: one worker, HTTP/2 in, grpc_pass with keepalive out.
nginx_port=$(free_port)
cat > "${out}/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
error_log ${PWD}/${out}/nginx/logs/error.log warn;
pid ${PWD}/${out}/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${PWD}/${out}/nginx/body;
    proxy_temp_path ${PWD}/${out}/nginx/proxy;
    fastcgi_temp_path ${PWD}/${out}/nginx/fastcgi;
    uwsgi_temp_path ${PWD}/${out}/nginx/uwsgi;
    scgi_temp_path ${PWD}/${out}/nginx/scgi;
    http2_max_concurrent_streams 1024;
    # Never close a connection for its request count (1000 by default).
    keepalive_requests 100000000;
    keepalive_timeout 3600s;
    upstream backend { server ${backend}; keepalive 64; keepalive_requests 100000000; }
    server {
        listen 127.0.0.1:${nginx_port} http2;
        client_max_body_size 0;
        location / { grpc_pass grpc://backend; grpc_read_timeout 60s; }
    }
}
EOF
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
"${nginx_bin}" -p "${PWD}/${out}/nginx" -c "${PWD}/${out}/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 1 100); do
    (exec 4<>"/dev/tcp/127.0.0.1/${nginx_port}") 2>/dev/null && break
    sleep 0.1
done

# Loom, with capture on.
loom_args=(--upstream "${backend}" --listen 127.0.0.1:0 --ui 127.0.0.1:0)
# shellcheck disable=SC2206 # words on purpose
loom_args+=(${LOOM_BENCH_LOOM_ARGS:-})
if [[ "${mode}" == record ]]; then
    loom_args+=(--record "${PWD}/${out}/record.loom")
fi
RUST_LOG=info "${bin}/loom" "${loom_args[@]}" > "${out}/loom.out" 2>&1 &
loom_pid=$!
pids+=("${loom_pid}")
line=$(wait_line "${out}/loom.out" 'relaying gRPC from')
loom=$(sed -E 's/.*relaying gRPC from ([^ ]+) .*/\1/' <<<"${line}")
ui=$(sed -E 's|.*inspector at http://([^/]+)/.*|\1|' <<<"${line}")
ws=()
if [[ "${mode}" == ws ]]; then ws=(--ws "ws://${ui}/ws"); fi

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/${loom_pid}/status"; }
echo "bench: mode ${mode}, ${seconds}s each; backend ${backend}, nginx 127.0.0.1:${nginx_port}, loom ${loom}" >&2

results="${out}/results.jsonl"
: > "${results}"
for w in ${workloads}; do
    for c in ${concurrency}; do
        for target in direct nginx loom; do
            case "${target}" in
                direct) addr="${backend}"; extra=() ;;
                nginx) addr="127.0.0.1:${nginx_port}"; extra=() ;;
                loom) addr="${loom}"; extra=("${ws[@]}") ;;
            esac
            perf_pid=""
            if [[ "${target}" == loom && "${LOOM_BENCH_PERF:-0}" == 1 ]]; then
                perf record ${LOOM_BENCH_PERF_ARGS:--F 999 --call-graph dwarf,32768} -o "${out}/perf-${w}-${c}.data" -p "${loom_pid}" >/dev/null 2>&1 &
                perf_pid=$!
            fi
            json=$("${bin}/loom-bench" load --target "${addr}" --workload "${w}" \
                --concurrency "${c}" --seconds "${seconds}" "${extra[@]}")
            if [[ -n "${perf_pid}" ]]; then
                kill -INT "${perf_pid}"; wait "${perf_pid}" || true
                perf report --stdio --no-children -i "${out}/perf-${w}-${c}.data" \
                    --percent-limit 1 2>/dev/null | head -150 > "${out}/perf-${w}-${c}.txt" || true
            fi
            rss=0
            [[ "${target}" == loom ]] && rss=$(rss_kib)
            echo "{\"workload\":\"${w}\",\"concurrency\":${c},\"target\":\"${target}\",\"rss_kib\":${rss},\"result\":${json}}" >> "${results}"
            echo "bench: ${w} x${c} ${target}: ${json}" >&2
        done
    done
done

final_rss=$(rss_kib)
record_note=""
if [[ "${mode}" == record ]]; then
    kill -TERM "${loom_pid}"
    wait "${loom_pid}" 2>/dev/null || true
    set +e
    calls=$("${bin}/loom" decode "${out}/record.loom" 2>"${out}/decode.err" | wc -l)
    code=$?
    set -e
    record_note="record file: ${calls} calls, loom decode exit ${code} ($(cat "${out}/decode.err" | head -c 300))"
fi

python3 - "${results}" "${mode}" "${final_rss}" "${record_note}" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
mode, rss, note = sys.argv[2], int(sys.argv[3] or 0), sys.argv[4]
by = {}
for r in rows:
    by.setdefault((r["workload"], r["concurrency"]), {})[r["target"]] = r
def fmt(r, key):
    v = r["result"][key]
    return f"{v/1000:.1f}k" if key == "rps" and v >= 1000 else (f"{v:.0f}" if key == "rps" else (f"{v:.0f}" if key == "mbps" else f"{v}"))
print(f"Loom benchmark, capture mode: {mode}\n")
print("| workload | conc | metric | direct | nginx | Loom | Loom/direct | Loom/nginx |")
print("|---|---|---|---|---|---|---|---|")
for (w, c), t in by.items():
    metric = "mbps" if w == "stream" else "rps"
    unit = "MB/s" if metric == "mbps" else "calls/s"
    d, n, l = (t[k]["result"][metric] for k in ("direct", "nginx", "loom"))
    print(f"| {w} | {c} | {unit} | {d:,.0f} | {n:,.0f} | {l:,.0f} | {l/d:.2f} | {l/n:.2f} |")
    p50 = [t[k]["result"]["p50_us"] for k in ("direct", "nginx", "loom")]
    p99 = [t[k]["result"]["p99_us"] for k in ("direct", "nginx", "loom")]
    print(f"| | | p50 µs | {p50[0]} | {p50[1]} | {p50[2]} | +{p50[2]-p50[0]} | {p50[2]-p50[1]:+} |")
    print(f"| | | p99 µs | {p99[0]} | {p99[1]} | {p99[2]} | +{p99[2]-p99[0]} | {p99[2]-p99[1]:+} |")
    errors = sum(t[k]["result"]["errors"] for k in t)
    if errors:
        print(f"| | | errors | {t['direct']['result']['errors']} | {t['nginx']['result']['errors']} | {t['loom']['result']['errors']} | | |")
print(f"\nLoom RSS after the run: {rss/1024:.0f} MiB (--max-capture-bytes 256 MiB)")
one = by.get(("unary", 1))
if one:
    d, n, l = (one[k]["result"]["p50_us"] for k in ("direct", "nginx", "loom"))
    print(f"Sequential unary p50 added: Loom +{l-d} µs, nginx +{n-d} µs")
if note:
    print(note)
PY
