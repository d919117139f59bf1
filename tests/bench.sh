#!/bin/sh
# weft-bench's peer workloads, small: each runs, passes its own checks
# (w1's sum, w3's replies) and prints the keys bench/peers/run reads.
# Figures are not checked: speed is for benchmarks, not tests.
status=0
# run ARGS... KEYS...: runs weft-bench with the arguments before "--",
# then checks that its output holds each key after it.
run() {
    args=
    while [ "$1" != -- ]; do
        args="$args $1"
        shift
    done
    shift
    # shellcheck disable=SC2086 # the arguments split on purpose
    if ! out=$(timeout 120 ./src/weft-bench $args 2>&1); then
        echo "bench: weft-bench$args failed:"
        echo "$out"
        status=1
        return
    fi
    echo "$out"
    for key in "$@"; do
        if ! printf '%s\n' "$out" | grep -q " $key"; then
            echo "bench: weft-bench$args printed no '$key'"
            status=1
        fi
    done
}
run w1 -n 20000 -- runtime=weft workers=2 tasks=20000 sum=70000 tasks_per_s= spawn_seconds=
run w2 -n 1000 -y 10 -- tasks=1000 yields=10 yields_per_s=
run w3 -n 20000 -- rounds=20000 capacity=1 capacity=0 ns_per_round_trip=
run w4 -n 2000 -w 1 -- workers=1 tasks=2000 peak_rss_kib= base_rss_kib= bytes_per_task=
run w4 -n 0 -- tasks=0 peak_rss_kib=
run w4 -n 2000 -w 2 --compact -- tasks=2000 compact=1 bytes_per_task=
# Bad input: a message and status 2.
./src/weft-bench w1 -n 0 >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] || { echo "bench: w1 -n 0 gave status $rc, not 2"; status=1; }
[ $status -eq 0 ] && echo "bench: w1-w4 ok"
exit $status
