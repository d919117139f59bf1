#!/bin/sh
# weft-models --quick, checked for structure, never for speed: every
# workload x model has a row or a skip with its reason, every row's
# result check passed, the CSV and JSON parse (with python3, when there
# is one) and agree, the SVG is well-formed XML; bad input exits 2.
set -u
srcdir=${srcdir:-.}
prog=./src/weft-models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# --- bad input: usage and exit status 2 ----------------------------------
for args in "--bogus" "--workloads nope" "--workloads io,nope" \
    "--models nope" "--repeat 0" "--repeat x" "extra" "--csv --json"; do
    # shellcheck disable=SC2086 # the words split on purpose
    $prog $args >"$tmp/out" 2>"$tmp/err"
    status=$?
    [ $status -eq 2 ] || fail "weft-models $args: exit status $status, not 2"
    grep -q '^usage: weft-models' "$tmp/err" ||
        fail "weft-models $args: no usage message"
done
echo "bad input: exit status 2 with a usage message"

# --- no Python: a skipped row with its reason, the rest runs --------------
WEFT_MODELS_PYTHON=/nonexistent/python3 $prog --quick --workloads blocking \
    --models loop,python --csv >"$tmp/nopy.csv" ||
    fail "the run without python failed"
grep -q '^blocking,python,,skipped,.*no python3' "$tmp/nopy.csv" ||
    fail "no skipped python row: $(cat "$tmp/nopy.csv")"
grep -q '^blocking,loop,inline,ok,' "$tmp/nopy.csv" ||
    fail "no loop row beside the python skip"
echo "python missing: a reasoned skip, the rest ran"

# --- a wrong result is an error, never a row ------------------------------
# A stand-in for the Python script, run by sh: it reports FAKE_REPORT on
# the descriptor it is given, and exits with FAKE_STATUS.
cat >"$tmp/fake.sh" <<'FAKE'
while [ $# -gt 0 ]; do
    case $1 in --fd) fd=$2; shift ;; esac
    shift
done
eval "echo \"\$FAKE_REPORT\" >&$fd"
exit "${FAKE_STATUS:-0}"
FAKE
fake() {
    WEFT_MODELS_PYTHON=/bin/sh FAKE_REPORT=$1 FAKE_STATUS=${2:-0} \
        $prog --quick --workloads cpu --models python --script "$tmp/fake.sh" \
        --csv >"$tmp/fake.csv" 2>"$tmp/fake.err"
}
fake "items=16 checksum=1 wall=0.5 cpu=0.5 maxrss=1000 worst=-1"
status=$?
[ $status -eq 1 ] || fail "a wrong checksum gave exit status $status"
grep -q 'wrong result' "$tmp/fake.err" || fail "no message for a wrong checksum"
[ ! -s "$tmp/fake.csv" ] || fail "a wrong result was written as a row"
fake "items=15 checksum=1 wall=0.5 cpu=0.5 maxrss=1000 worst=-1"
[ $? -eq 1 ] || fail "a wrong count was not an error"
fake "garbage"
[ $? -eq 1 ] || fail "a report that does not parse was not an error"
fake "items=16 checksum=1 wall=0.5 cpu=0.5 maxrss=1000 worst=-1" 3
[ $? -eq 1 ] || fail "a child that failed was not an error"
fake "skip=not here, for a reason" || fail "a skip was an error"
grep -q '^cpu,py-asyncio,,skipped,.*not here, for a reason' "$tmp/fake.csv" ||
    fail "a reported skip is not a row with its reason"
echo "wrong results, bad reports and failed children: exit status 1"

# --- the quick run ---------------------------------------------------------
start=$(date +%s)
$prog --quick --csv="$tmp/out.csv" --json="$tmp/out.json" \
    --svg "$tmp/out.svg" >"$tmp/table.txt" || fail "weft-models --quick failed"
echo "weft-models --quick: $(($(date +%s) - start)) s"
cat "$tmp/table.txt"
[ "$(grep -c '^  verdict: ' "$tmp/table.txt")" -eq 4 ] ||
    fail "not four verdicts in the table"
[ -s "$tmp/out.svg" ] || fail "no SVG"

if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/out.csv" "$tmp/out.json" "$tmp/out.svg" <<'EOF' || exit 1
import csv, json, sys
import xml.etree.ElementTree as ET

csv_path, json_path, svg_path = sys.argv[1:4]
rows = list(csv.DictReader(open(csv_path)))
doc = json.load(open(json_path))
svg = ET.parse(svg_path).getroot()

def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)

workloads = ["io", "wait", "cpu", "blocking"]
models = ["loop", "steal", "threads", "procs", "loop+pool"]
if [w["name"] for w in doc["workloads"]] != workloads:
    fail("JSON workloads: %r" % [w["name"] for w in doc["workloads"]])
for w in workloads:
    mine = [r for r in rows if r["workload"] == w]
    for m in models:
        if not any(r["model"] == m for r in mine):
            fail("%s: no row for %s" % (w, m))
    py = [r for r in mine if r["model"].startswith("py-")]
    if not py and not any(r["model"] == "python" and r["status"] == "skipped"
                          for r in mine):
        fail("%s: neither Python rows nor a python skip" % w)
    for r in mine:
        if r["status"] == "skipped":
            if not r["reason"]:
                fail("%s %s: skipped without a reason" % (w, r["model"]))
            continue
        if r["status"] != "ok" or not r["check"].endswith(" ok"):
            fail("%s %s: check %r" % (w, r["model"], r["check"]))
        # Lower bounds only: the machine may be loaded.
        if float(r["wall_s"]) <= 0 or float(r["throughput"]) <= 0:
            fail("%s %s: wall or throughput not positive" % (w, r["model"]))
        if int(r["maxrss_kib"]) <= 0 or float(r["cpu_s"]) < 0:
            fail("%s %s: memory or CPU time missing" % (w, r["model"]))
        if w == "wait" and float(r["wall_s"]) < 0.1:
            fail("%s %s: 100 ms waits took under 100 ms" % (w, r["model"]))
    if w == "blocking":
        inline = [r for r in mine if r["model"] == "loop" and
                  r["variant"] == "inline"][0]
        # 20 calls of 10 ms, one after another on the loop.
        if float(inline["wall_s"]) < 0.2:
            fail("blocking inline on the loop took under 200 ms")
    jw = [x for x in doc["workloads"] if x["name"] == w][0]
    if len(jw["rows"]) != len(mine):
        fail("%s: %d JSON rows, %d CSV rows" % (w, len(jw["rows"]), len(mine)))
    if not jw["verdict"]:
        fail("%s: no verdict" % w)
bars = [e for e in svg.iter() if e.tag.endswith("rect") and
        e.get("class") == "bar"]
if len(bars) != sum(1 for r in rows if r["status"] == "ok"):
    fail("%d bars for %d measured rows" % (len(bars), len(rows)))
print("CSV, JSON and SVG parse and agree: %d rows, %d bars"
      % (len(rows), len(bars)))
EOF
elif command -v xmllint >/dev/null 2>&1; then
    echo "no python3: CSV and JSON parsing skipped"
    xmllint --noout "$tmp/out.svg" || fail "the SVG is not well-formed"
    echo "SVG well-formed (xmllint)"
else
    echo "no python3 nor xmllint: CSV, JSON and SVG parsing skipped"
fi
echo "PASS"
