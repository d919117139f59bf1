#!/bin/sh
# The samples that start child processes and signal themselves, run and
# checked: each checks its own results and exits 0. They are not in CI's
# valgrind step, which cannot run them: valgrind knows no pidfd_open.
status=0
for sample in shell_pipeline parallel_xargs graceful_server; do
    if ! out=$(timeout 120 "./samples/$sample" 2>&1); then
        echo "samples: $sample failed:"
        echo "$out"
        status=1
    fi
done
# Ctrl-C for real: a graceful_server waiting for the user gets SIGINT.
out=$(mktemp)
./samples/graceful_server --wait >"$out" 2>&1 &
pid=$!
tries=0
until grep -q serving "$out" || [ $tries -ge 600 ]; do
    sleep 0.1
    tries=$((tries + 1))
done
kill -INT $pid
if ! wait $pid || ! grep -q "got SIGINT: stopping" "$out"; then
    echo "samples: graceful_server --wait did not stop on SIGINT:"
    cat "$out"
    status=1
fi
rm -f "$out"
[ $status -eq 0 ] && echo "samples: shell_pipeline, parallel_xargs, graceful_server ok"
exit $status
