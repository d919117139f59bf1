#!/bin/sh
# Builds tests/arch/switch_test.c for aarch64 with a cross compiler and
# runs it under qemu-user: the aarch64 context switch runs on every CI run
# although CI machines are x86_64. Run from the top of the source tree.
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (WEFT_SETUP_CROSS=1 ./setup installs them); skipped without them.
#
# The second run turns on pointer authentication (-mbranch-protection),
# which qemu's "max" CPU enforces. BTI landing pads are emitted too, but
# cannot be enforced here: Debian's arm64 crt objects lack BTI, so the
# linked program is not marked for it.
set -eu
srcdir=${srcdir:-.}
out=${TMPDIR:-/tmp}/weft-switch-aarch64.$$
cc=aarch64-linux-gnu-gcc
qemu="qemu-aarch64"
for tool in "$cc" "$qemu"; do
    if ! command -v "$tool" >/dev/null; then
        echo "cross-test: $tool not installed; skipped"
        exit 77
    fi
done
src="$srcdir/tests/arch/switch_test.c $srcdir/tests/arch/regs_aarch64.S \
     $srcdir/lib/arch/aarch64/switch.S $srcdir/lib/arch/aarch64/context.c"
flags="-O2 -Wall -Wextra -I$srcdir/lib -I$srcdir/include -DWEFT_BUILDING"
# A stand-in config.h: the real one belongs to the x86_64 build.
inc=$(mktemp -d)
trap 'rm -rf "$out" "$out-bti" "$inc"' EXIT
: > "$inc/config.h"
# shellcheck disable=SC2086 # word splitting is wanted
$cc $flags -I"$inc" -o "$out" $src -lm
$qemu -L /usr/aarch64-linux-gnu "$out"
# Again with pointer authentication on, on a CPU that enforces it.
# shellcheck disable=SC2086
$cc $flags -I"$inc" -mbranch-protection=standard -o "$out-bti" $src -lm
$qemu -cpu max -L /usr/aarch64-linux-gnu "$out-bti"
