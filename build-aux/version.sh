#!/bin/sh
# Prints the version from include/weft/version.h, so that file stays the
# single source of truth for configure, weft.pc and weft_version().
dir=$(dirname "$0")/..
get() { sed -n "s/^#define WEFT_VERSION_$1 *\([0-9][0-9]*\).*/\1/p" "$dir/include/weft/version.h"; }
printf '%s.%s.%s' "$(get MAJOR)" "$(get MINOR)" "$(get PATCH)"
