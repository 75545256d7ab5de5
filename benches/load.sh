#!/usr/bin/env bash
# Load test of the release exporter against a simulated PPDM, on loopback only.
#
#   bash benches/load.sh                   # every estate, about 7 minutes
#   ESTATES="typical:10:10" DURATION=3s bash benches/load.sh
#
# For each estate (name:servers:systems per server) it starts one `ppdm-sim` with
# a generated fleet and an exporter whose [[servers]] all point at it under
# different names, waits for the first poll of every server, and reports:
#   - start to serving: spawn until /-/healthy, and until /metrics, answer 200
#     (median and worst of STARTS starts, probed from bash without forking);
#   - CPU per poll cycle (every server polled once): utime+stime from
#     /proc/PID/stat over CPU_CYCLES intervals of an exporter polling every
#     CPU_INTERVAL_SECONDS, with the number of polls taken from the simulator's
#     request counter; no scrapes run during that window;
#   - /metrics body size, plain and gzip;
#   - wrk at 1, 16 and 64 connections, plain and gzip, against the exporter and
#     against examples/static-metrics serving the same body through the same HTTP
#     stack, with the exporter's figures as ratios to the static server's;
#   - the exporter's RSS after its first poll and its peak (VmHWM) after the load,
#     and the binary size.
# The start and load runs use the default interval of 5m, so no poll competes
# with the scrapes once the first one is done.
#
# Everything is bounded: each wrk run by DURATION, each wait by a deadline, the
# whole script by MAX_SECONDS. Every process it starts is killed on exit, by PID.
# Needs wrk and curl (`apt-get install -y wrk curl`).

set -euo pipefail

ESTATES=${ESTATES:-"typical:10:10 large:50:20 single:1:10000"}
CONNECTIONS=${CONNECTIONS:-"1 16 64"}
DURATION=${DURATION:-5s}
CPU_INTERVAL_SECONDS=${CPU_INTERVAL_SECONDS:-10}
CPU_CYCLES=${CPU_CYCLES:-3}
PAGE_SIZE=${PAGE_SIZE:-100}
STARTS=${STARTS:-15}
MAX_SECONDS=${MAX_SECONDS:-1200}

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d -t ppdm-load.XXXXXX)
pids=()

cleanup() {
    local pid
    pkill -KILL -P "$watchdog" 2>/dev/null || true
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "load.sh: stopped" >&2; exit 130' INT TERM

# Ends the whole script once MAX_SECONDS have passed.
(sleep "$MAX_SECONDS" && echo "load.sh: over ${MAX_SECONDS}s, giving up" >&2 &&
    kill -TERM $$) 2>/dev/null &
watchdog=$!
pids+=("$watchdog")

need() {
    command -v "$1" >/dev/null || { echo "load.sh: $1 is missing (apt-get install -y $1)" >&2; exit 2; }
}

# Forgets a PID after it was killed, so cleanup does not touch a recycled one.
forget() {
    local keep=() pid
    for pid in "${pids[@]}"; do
        [[ $pid == "$1" ]] || keep+=("$pid")
    done
    pids=("${keep[@]}")
}

stop() {
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget "$1"
}

# Whether GET $2 on loopback port $1 answers 200, using bash's /dev/tcp (no fork).
probe() {
    local status=""
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
    IFS= read -r -t 2 status <&3 || true
    exec 3>&-
    [[ $status == "HTTP/1.1 200"* ]]
}

# Waits until probe $1 $2 succeeds, at most $3 seconds, while process $4 lives.
wait_for() {
    local deadline=$((SECONDS + $3))
    until probe "$1" "$2"; do
        kill -0 "$4" 2>/dev/null || { echo "load.sh: process $4 exited, see $5:" >&2; tail -5 "$5" >&2; exit 1; }
        ((SECONDS < deadline)) || { echo "load.sh: 127.0.0.1:$1$2 not 200 after $3s" >&2; exit 1; }
        sleep 0.05
    done
}

# Prints a loopback TCP port that nothing listens on now.
free_port() {
    local port
    while true; do
        port=$((20000 + RANDOM % 30000))
        if ! { exec 4<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
            echo "$port"
            return
        fi
        exec 4>&-
    done
}

now_us() {
    local t=${EPOCHREALTIME/./}
    echo "$((10#$t))"
}

cpu_ticks() {
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    # Fields after the command: utime and stime are the 12th and 13th.
    awk '{ print $12 + $13 }' <<<"$stat"
}

storage_calls() {
    curl -sf --max-time 5 --cacert "$work/ca.pem" "https://127.0.0.1:$SIM_PORT/sim/counters" |
        grep -o '"storage_calls":[0-9]*' | cut -d: -f2
}

# Converts wrk's latency text (e.g. 812.00us, 1.20ms, 2.01s) to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}

# Runs wrk; prints "requests_per_second p50_ms p99_ms errors".
run_wrk() {
    local port=$1 connections=$2 encoding=$3 threads=2 out
    ((connections > 1)) || threads=1
    local args=(-t "$threads" -c "$connections" -d "$DURATION" --latency --timeout 5s)
    [[ $encoding == gzip ]] && args+=(-H "Accept-Encoding: gzip")
    out=$(wrk "${args[@]}" "http://127.0.0.1:$port/metrics")
    local rps p50 p99 errors
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    errors=$(awk '/Non-2xx|Socket errors/ { gsub(/^ +/, ""); printf "%s; ", $0 }' <<<"$out")
    echo "$rps $p50 $p99 ${errors:-none}"
}

# Writes a config of $1 servers polled every $2 seconds; prints its path.
write_config() {
    local servers=$1 interval=$2 file=$work/exporter-$2s.toml i
    cat >"$file" <<EOF
listen_address = "127.0.0.1:$EXPORTER_PORT"
log_level = "warn"
max_concurrent_polls = 8
EOF
    for ((i = 0; i < servers; i++)); do
        cat >>"$file" <<EOF

[[servers]]
name = "ppdm-$(printf '%02d' "$i")"
url = "https://127.0.0.1:$SIM_PORT"
username = "admin"
password_env = "PPDM_LOAD_PASSWORD"
ca_file = "$work/ca.pem"
interval = "${interval}s"
timeout = "$((interval < 10 ? interval : 10))s"
page_size = $PAGE_SIZE
EOF
    done
    echo "$file"
}

# Starts the exporter with config $1; its PID is left in $started.
start_exporter() {
    "$target/release/ppdm-exporter" --config "$1" >>"$work/exporter.log" 2>&1 &
    started=$!
    pids+=("$started")
}

# Reads microseconds, one a line; prints "median / worst" in milliseconds.
median_and_max() {
    sort -n | awk '{ v[NR] = $1 } END { printf "%.1f / %.1f", v[int((NR + 1) / 2)] / 1000, v[NR] / 1000 }'
}

# Spawns the exporter STARTS times; prints the median and worst milliseconds until
# /-/healthy, then until /metrics, answer 200.
measure_start() {
    local config=$1 i pid t0 healthy metrics
    : >"$work/healthy.us"
    : >"$work/metrics.us"
    for ((i = 0; i < STARTS; i++)); do
        t0=$(now_us)
        start_exporter "$config"
        pid=$started
        until probe "$EXPORTER_PORT" /-/healthy; do
            kill -0 "$pid" 2>/dev/null || { echo "load.sh: exporter died, see its log:" >&2; tail "$work/exporter.log" >&2; exit 1; }
            (($(now_us) - t0 < 10000000)) || { echo "load.sh: no /-/healthy after 10s" >&2; exit 1; }
        done
        healthy=$(now_us)
        until probe "$EXPORTER_PORT" /metrics; do :; done
        metrics=$(now_us)
        echo "$((healthy - t0))" >>"$work/healthy.us"
        echo "$((metrics - t0))" >>"$work/metrics.us"
        stop "$pid"
    done
    echo "start to serving (ms, median / worst of $STARTS):" \
        "/-/healthy $(median_and_max <"$work/healthy.us")," \
        "/metrics $(median_and_max <"$work/metrics.us")"
}

# Runs an exporter polling every CPU_INTERVAL_SECONDS for $1 servers of $2 pages
# each, and prints its CPU time per poll cycle.
measure_cpu() {
    local servers=$1 pages=$2 config exporter
    config=$(write_config "$servers" "$CPU_INTERVAL_SECONDS")
    start_exporter "$config"
    exporter=$started
    wait_for "$EXPORTER_PORT" /-/ready 120 "$exporter" "$work/exporter.log"

    local calls0 ticks0 calls1 ticks1
    calls0=$(storage_calls)
    ticks0=$(cpu_ticks "$exporter")
    sleep $((CPU_CYCLES * CPU_INTERVAL_SECONDS))
    calls1=$(storage_calls)
    ticks1=$(cpu_ticks "$exporter")
    stop "$exporter"
    awk -v t="$((ticks1 - ticks0))" -v c="$((calls1 - calls0))" -v hz="$(getconf CLK_TCK)" \
        -v per="$((servers * pages))" -v s="$servers" 'BEGIN {
            cycles = c / per
            if (cycles > 0) printf "CPU per poll cycle: %.1f ms, %.1f ms per server poll (%d ticks over %.2f cycles)\n", t * 1000 / hz / cycles, t * 1000 / hz / cycles / s, t, cycles
            else print "CPU per poll cycle: no poll seen" }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

run_estate() {
    local name=$1 servers=$2 systems=$3
    local pages=$(((systems + PAGE_SIZE - 1) / PAGE_SIZE))
    echo
    echo "## $name: $servers server(s) x $systems systems ($pages page(s) of $PAGE_SIZE per poll)"

    rm -f "$work/ca.pem"
    "$target/release/ppdm-sim" --listen "127.0.0.1:$SIM_PORT" --fleet "$systems" --seed 7 \
        --ca-file "$work/ca.pem" >"$work/sim.log" 2>&1 &
    local sim=$!
    pids+=("$sim")
    local deadline=$((SECONDS + 30))
    until [[ -s $work/ca.pem ]] && storage_calls >/dev/null; do
        ((SECONDS < deadline)) || { echo "load.sh: simulator did not start" >&2; cat "$work/sim.log" >&2; exit 1; }
        sleep 0.1
    done

    local config
    config=$(write_config "$servers" 300)
    measure_start "$config"
    measure_cpu "$servers" "$pages"

    start_exporter "$config"
    local exporter=$started
    wait_for "$EXPORTER_PORT" /-/ready 120 "$exporter" "$work/exporter.log"
    local up
    up=$(curl -sf "http://127.0.0.1:$EXPORTER_PORT/metrics" | grep -c '^ppdm_up{.*} 1$' || true)
    echo "first poll done: $up of $servers server(s) up;" \
        "RSS $(awk '/^VmRSS:/ { print $2 }' "/proc/$exporter/status") kB," \
        "peak so far $(awk '/^VmHWM:/ { print $2 }' "/proc/$exporter/status") kB"

    curl -sf -o "$work/body.txt" "http://127.0.0.1:$EXPORTER_PORT/metrics"
    curl -sf -H "Accept-Encoding: gzip" -o "$work/body.gz" "http://127.0.0.1:$EXPORTER_PORT/metrics"
    local plain_size gzip_size
    plain_size=$(stat -c %s "$work/body.txt")
    gzip_size=$(stat -c %s "$work/body.gz")
    echo "body: plain $plain_size bytes, gzip $gzip_size bytes, $(wc -l <"$work/body.txt") lines"

    "$target/release/examples/static-metrics" "127.0.0.1:$STATIC_PORT" "$work/body.txt" \
        >"$work/static.log" 2>&1 &
    local static=$!
    pids+=("$static")
    wait_for "$STATIC_PORT" /-/healthy 60 "$static" "$work/static.log"

    printf '%-5s %5s | %10s %8s %8s | %10s %8s %8s | %6s %6s | %s\n' enc conns \
        exp_rps p50_ms p99_ms static_rps p50_ms p99_ms rps_x p99_x errors
    local encoding connections
    for encoding in plain gzip; do
        for connections in $CONNECTIONS; do
            read -r e_rps e_p50 e_p99 e_err < <(run_wrk "$EXPORTER_PORT" "$connections" "$encoding")
            read -r s_rps s_p50 s_p99 s_err < <(run_wrk "$STATIC_PORT" "$connections" "$encoding")
            printf '%-5s %5s | %10s %8s %8s | %10s %8s %8s | %6s %6s | %s\n' "$encoding" \
                "$connections" "$e_rps" "$e_p50" "$e_p99" "$s_rps" "$s_p50" "$s_p99" \
                "$(ratio "$s_rps" "$e_rps")" "$(ratio "$e_p99" "$s_p99")" "exp: $e_err static: $s_err"
        done
    done

    local hwm_kb
    hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$exporter/status")
    echo "exporter peak RSS (VmHWM): $hwm_kb kB; static server: $(awk '/^VmHWM:/ { print $2 }' "/proc/$static/status") kB"
    awk -v hwm="$hwm_kb" -v body="$plain_size" 'BEGIN {
        printf "RSS budget 3 x body + 10 MB = %.1f MB; used %.1f MB\n", (3 * body + 10e6) / 1e6, hwm * 1024 / 1e6 }'

    stop "$static"
    stop "$exporter"
    stop "$sim"
}

main() {
    need wrk
    need curl
    echo "# ppdm-exporter load test, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
        "$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo);" \
        "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wrk runs of $DURATION; rps_x = static rps / exporter rps (1.00 = as fast as a static file);"
    echo "p99_x = exporter p99 / static p99"

    (cd "$repo" && cargo build --release --quiet --bin ppdm-exporter --bin ppdm-sim \
        --example static-metrics)
    echo "binary size: ppdm-exporter $(stat -c %s "$target/release/ppdm-exporter") bytes" \
        "(release profile, stripped)"

    SIM_PORT=${SIM_PORT:-$(free_port)}
    EXPORTER_PORT=${EXPORTER_PORT:-$(free_port)}
    STATIC_PORT=${STATIC_PORT:-$(free_port)}
    echo "ports: simulator $SIM_PORT, exporter $EXPORTER_PORT, static $STATIC_PORT"
    export PPDM_LOAD_PASSWORD="load-test-$RANDOM$RANDOM"
    export PPDM_SIM_PASSWORD=$PPDM_LOAD_PASSWORD
    local estate
    for estate in $ESTATES; do
        IFS=: read -r name servers systems <<<"$estate"
        run_estate "$name" "$servers" "$systems"
    done
    echo
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
