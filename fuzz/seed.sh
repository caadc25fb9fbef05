#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the committed bpf-asm objects. Idempotent;
# files the fuzzer added are kept. The structure-aware targets (btf, insn)
# cut their sections out of the objects themselves (the objects are
# embedded in the fuzz crate): their seeds here only pick an object.
set -euo pipefail
cd "$(dirname "$0")"
objs=(../bpf-asm/*.o ../bpf-asm/bad/*.o)
c=corpus
mkdir -p "$c"/{obj_parse,link,globals,btf,insn,kconfig,cli_args,codegen}

for o in "${objs[@]}"; do
    base=$(basename "$(dirname "$o")")_$(basename "$o")
    cp "$o" "$c/obj_parse/$base"
    cp "$o" "$c/link/$base"
    # globals: a 0-byte drive prefix, then the object.
    { printf '\0'; cat "$o"; } >"$c/globals/$base"
done

# Inputs that once crashed a target (fuzz/regressions/<target>/): replayed
# first on every run, and by `cargo test` (tests/loader_errors.rs).
for d in regressions/*/; do
    t=$(basename "$d")
    mkdir -p "$c/$t"
    cp "$d"* "$c/$t/"
done

# btf: [odd mode, object index, 0 = edit .BTF / 1 = edit .BTF.ext].
# insn: [odd mode, code section index].
for i in $(seq 0 31); do
    x=$(printf '\\x%02x' "$i")
    printf "\\x01${x}\\x00" >"$c/btf/seed_btf_$i"
    printf "\\x01${x}\\x01" >"$c/btf/seed_ext_$i"
    printf "\\x01${x}" >"$c/insn/seed_$i"
    # codegen: [object index, options]: every option set, no edit.
    printf "${x}\\x07" >"$c/codegen/seed_$i"
done

cfg='CONFIG_BPF=y
CONFIG_BPF_SYSCALL=y
CONFIG_HZ=250
CONFIG_NR_CPUS=-0x10
CONFIG_LOCALVERSION="-fuzz"
CONFIG_MODULES=m
# CONFIG_DEBUG_INFO_BTF is not set
CONFIG_PAGE_SHIFT=0xc
'
printf '%s' "$cfg" >"$c/kconfig/config"
printf '%s' "$cfg" | gzip -9c >"$c/kconfig/config.gz"
printf '%s' "$cfg" | gzip -1c >"$c/kconfig/config1.gz"

a() { printf '%s\0' "$@" | head -c -1; }
a inspect x.bpf.o >"$c/cli_args/inspect"
a inspect x.bpf.o --pages 16 --disasm main >"$c/cli_args/inspect_disasm"
a run x.bpf.o --set a=-0x10 --get b --pages 4 --times 3 --ctx 0x0011 prog >"$c/cli_args/run"
a probe >"$c/cli_args/probe"
a --help >"$c/cli_args/help"
a run --help >"$c/cli_args/run_help"
a gen x.bpf.o --module m --embed /p.o --arena-type t >"$c/cli_args/gen"
a gen x.bpf.o --types-only >"$c/cli_args/gen_types"

for t in "$c"/*/; do
    echo "seeded $(basename "$t"): $(find "$t" -type f | wc -l) files"
done
