#!/bin/sh
# The layering of lib/, checked from the sources and the built objects.
#
# lib/ has one folder per layer, from the bottom up:
#
#   0  core     atomics, lists, clocks, the allocator, threads and locks
#   1  arch     the context switch, one backend per architecture
#   1  reactor  the worker's libevent base: polling, timers, fd watches
#   2  sched    tasks, stacks, workers, the wait protocol, the loop, scopes
#   3  sync     locks, semaphores, events, conditions, barriers, limiter
#   4  flow     queues, channels, generators, gather, groups, retry
#   4  exec     thread pools, threadsafe calls, the process pool
#   5  io       sockets, streams, DNS (coming)
#   6  run.c    weft_run: the composition root, the only file that may
#               reach every layer
#
# The rule: a file includes headers of its own folder, of lower layers,
# and public headers (weft.h, weft/*.h); never a header of a higher layer
# or of another folder at the same layer. Folders at one layer meet only
# through public functions; a lower layer calls no function of a higher
# one, public or not.
#
# Checked twice: at include level (every #include "folder/..." line), and
# at link level, when the objects are built, from what each object uses
# (nm "U"). The second catches a declaration placed in a lower header for
# a function defined higher up, and calls up through the public API.
set -eu
srcdir=${srcdir:-.}
lib=$srcdir/lib

rank() {
    case $1 in
    core) echo 0 ;;
    arch | reactor) echo 1 ;;
    sched) echo 2 ;;
    sync) echo 3 ;;
    flow | exec) echo 4 ;;
    io) echo 5 ;;
    run) echo 6 ;;
    *) echo "" ;;
    esac
}

# The folder (layer name) of a path under lib/: run for lib/*.c.
folder_of() {
    rel=${1#"$lib"/}
    case $rel in
    */*) echo "${rel%%/*}" ;;
    *) echo run ;;
    esac
}

status=0
files=$(find "$lib" \( -name '*.c' -o -name '*.h' -o -name '*.S' \) | sort)
nfiles=0
for f in $files; do
    nfiles=$((nfiles + 1))
    from=$(folder_of "$f")
    from_rank=$(rank "$from")
    if [ -z "$from_rank" ]; then
        echo "layers: $f is in an unknown folder '$from'"
        status=1
        continue
    fi
    # Every quoted include but config.h and the public headers.
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
        case $inc in
        config.h | weft.h | weft/*) continue ;;
        */*) ;;
        *)
            echo "layers: $f includes \"$inc\" without its folder"
            status=1
            continue
            ;;
        esac
        to=${inc%%/*}
        to_rank=$(rank "$to")
        if [ -z "$to_rank" ] || [ ! -f "$lib/$inc" ]; then
            echo "layers: $f includes \"$inc\", which is not a header of lib/"
            status=1
        elif [ "$to" != "$from" ] && [ "$to_rank" -ge "$from_rank" ]; then
            echo "layers: $f ($from, layer $from_rank) includes \"$inc\" ($to, layer $to_rank)"
            status=1
        fi
    done
done

# Link level: the libtool objects of the convenience library. Internal
# (weft__) symbols may come from the object's own folder or lower layers;
# public (weft_) ones from any folder but a higher layer's.
objs=$(find lib -name 'libweft_core_la-*.o' ! -path '*/.libs/*' 2>/dev/null | sort)
if [ -n "$objs" ] && command -v nm >/dev/null; then
    uses=$(mktemp)
    trap 'rm -f "$uses"' EXIT
    for o in $objs; do
        f=$(folder_of "$srcdir/$o")
        nm -P "$o" | awk -v o="$o" -v f="$f" -v r="$(rank "$f")" '
            $1 ~ /^weft_/ && $2 ~ /^[TDBRV]$/ { print "D", $1, f, r, o }
            $1 ~ /^weft_/ && $2 == "U" { print "U", $1, f, r, o }'
    done > "$uses"
    bad=$(awk '
        $1 == "D" { folder[$2] = $3; rank[$2] = $4; next }
        $1 == "U" && ($2 in folder) {
            to = folder[$2]; tr = rank[$2]
            if (to == $3) next
            if (tr > $4 || (tr == $4 && $2 ~ /^weft__/))
                printf "layers: %s (%s) uses %s, defined in %s\n", $5, $3, $2, to
        }' "$uses")
    if [ -n "$bad" ]; then
        echo "$bad"
        status=1
    fi
    linked=" and $(echo "$objs" | wc -l) objects"
else
    linked=""
fi
[ "$status" -eq 0 ] && echo "layers: $nfiles files$linked keep to the layers"
exit "$status"
