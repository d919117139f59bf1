#!/bin/sh
# The public API, checked from the built library:
#   - libweft.so exports weft_* symbols only (the rest is hidden);
#   - every function a public header marks WEFT_EXPORT is exported;
#   - each one has a man page in doc/man3/ and is called by a test.
set -eu
srcdir=${srcdir:-.}
lib=lib/.libs/libweft.so
if [ ! -f "$lib" ]; then
    echo "exports: no shared library (--disable-shared?); skipped"
    exit 77
fi

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u)
declared=$(sed -n 's/^WEFT_EXPORT.*[ *]\(weft_[a-z0-9_]*\)(.*/\1/p' \
    "$srcdir"/include/weft/*.h | sort -u)
status=0

stray=$(printf '%s\n' "$exported" | grep -v '^weft_' || true)
if [ -n "$stray" ]; then
    echo "exports: symbols leak out of libweft:"; echo "$stray"; status=1
fi
for fn in $declared; do
    if ! printf '%s\n' "$exported" | grep -qx "$fn"; then
        echo "exports: $fn is declared but not exported"; status=1
    fi
    if [ ! -f "$srcdir/doc/man3/$fn.3" ]; then
        echo "exports: $fn has no man page doc/man3/$fn.3"; status=1
    fi
    if ! grep -qw "$fn" "$srcdir"/tests/check_*.c; then
        echo "exports: no test calls $fn"; status=1
    fi
done
for fn in $exported; do
    if ! printf '%s\n' "$declared" | grep -qx "$fn"; then
        echo "exports: $fn is exported but no public header declares it"; status=1
    fi
done
count=$(printf '%s\n' "$declared" | wc -l)
[ "$status" -eq 0 ] && echo "exports: $count public functions, all exported, documented and tested"
exit "$status"
