#!/usr/bin/env bash
# Rebuilds every object in bpf-asm/ reproducibly with clang-19.
#
#   bash bpf-asm/build.sh          rebuild in place
#   bash bpf-asm/build.sh --check  rebuild into a temporary directory and
#                                  fail if anything differs from what is
#                                  committed (CI runs this)
#
# Objects are built from inside bpf-asm/ with relative paths only, so no
# absolute path ends up in them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CLANG=${CLANG:-clang-19}
OBJDUMP=${OBJDUMP:-llvm-objdump-19}
check=0
[ "${1:-}" = "--check" ] && check=1
out=$here
if [ $check = 1 ]; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
cd "$here"
mkdir -p "$out/bad"
for s in *.s bad/*.s; do
  o=${s%.s}.o
  "$CLANG" --target=bpf -mcpu=v4 -c "$s" -o "$out/$o"
done
for c in *.bpf.c bad/*.bpf.c; do
  [ -e "$c" ] || continue
  o=${c%.c}.o
  "$CLANG" --target=bpf -mcpu=v4 -O2 -g -Wall -Werror -I. -fdebug-prefix-map="$here"=. -fdebug-compilation-dir=. -c "$c" -o "$out/$o"
done
# The golden listing of the instruction-coverage object.
(cd "$out" && "$OBJDUMP" -d --mcpu=v4 insns.o) > "$out/insns.objdump"
if [ $check = 1 ]; then
  status=0
  for f in "$out"/*.o "$out"/bad/*.o "$out"/insns.objdump; do
    b=${f#"$out"/}
    if ! cmp -s "$f" "$here/$b"; then
      echo "bpf-asm: $b differs from the committed copy (run bash bpf-asm/build.sh and commit)" >&2
      status=1
    fi
  done
  for f in "$here"/*.o "$here"/bad/*.o; do
    b=${f#"$here"/}
    [ -e "$out/$b" ] || { echo "bpf-asm: $b is committed but has no source" >&2; status=1; }
  done
  [ $status = 0 ] && echo "bpf-asm: all objects reproduce byte for byte"
  exit $status
fi
echo "bpf-asm: rebuilt $(ls "$here"/*.o "$here"/bad/*.o | wc -l) objects"
