#!/usr/bin/env bash
# Build a small x86_64 sched_ext kernel from Debian's linux-source-6.12 and the
# kernel tree's own BPF schedulers (scx_simple, scx_qmap) with clang-19.
#
# Usage: tools/build-scx-kernel.sh [CACHE_DIR]   (default /work/cache/scx-kernel)
# Needs (apt): linux-source-6.12 clang-19 llvm-19 lld-19 pahole build-essential
#              flex bison bc libelf-dev libssl-dev zlib1g-dev
# Output: CACHE_DIR/linux-source-6.12/arch/x86/boot/bzImage and
#         CACHE_DIR/linux-source-6.12/tools/sched_ext/build/bin/{scx_simple,scx_qmap}
# Not run in CI (about 25 minutes on two shared cores). Each step prints its duration.
# BPF_EVENTS (through KPROBE_EVENTS) is needed: without it (and without NET) libbpf's
# "trivial program" probe fails with EINVAL and bpf_probe_read_kernel is missing.
# NET is needed for BPF_PROG_TYPE_SOCKET_FILTER, which libbpf's global-data probe loads:
# without it libbpf skips creating .rodata/.data/.bss and the load fails with
# "fd 4 is not pointing to valid bpf_map".
# ACPI: without it the kernel finds the CPUs in SeaBIOS's MP table, which listed only
# CPU 0 under "-smp 2" here; QEMU's own ACPI MADT lists them all.
# KALLSYMS_ALL lets the dump's "class=%ps" name the sched_class (a data symbol), as on
# distribution kernels.
set -euo pipefail

CACHE=${1:-/work/cache/scx-kernel}
TARBALL=${TARBALL:-/usr/src/linux-source-6.12.tar.xz}
JOBS=${JOBS:-2}
NICE=${NICE:-15}
SRC="$CACHE/linux-source-6.12"

step() {  # step NAME CMD...: run CMD, print its wall time
    local name=$1 t0 t1
    shift
    t0=$(date +%s)
    echo "== $name"
    "$@"
    t1=$(date +%s)
    echo "== $name: $((t1 - t0)) s"
}

unpack() {
    if [[ -f "$SRC/Makefile" ]]; then
        echo "already unpacked: $SRC"
    else
        mkdir -p "$CACHE"
        tar -xf "$TARBALL" -C "$CACHE"
    fi
}

configure() {
    local frag="$CACHE/scx.config"
    cat > "$frag" <<'FRAG'
CONFIG_64BIT=y
CONFIG_SMP=y
CONFIG_PRINTK=y
CONFIG_PRINTK_TIME=y
CONFIG_EARLY_PRINTK=y
CONFIG_TTY=y
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y
CONFIG_PCI=y
CONFIG_ACPI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_CONSOLE=y
CONFIG_HYPERVISOR_GUEST=y
CONFIG_PARAVIRT=y
CONFIG_KVM_GUEST=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_BINFMT_ELF=y
CONFIG_BINFMT_SCRIPT=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_TMPFS=y
CONFIG_MAGIC_SYSRQ=y
CONFIG_MAGIC_SYSRQ_SERIAL=y
CONFIG_FTRACE=y
CONFIG_ENABLE_DEFAULT_TRACERS=y
CONFIG_DEBUG_KERNEL=y
CONFIG_DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT=y
CONFIG_DEBUG_INFO_BTF=y
CONFIG_BPF=y
CONFIG_BPF_SYSCALL=y
CONFIG_BPF_JIT=y
CONFIG_BPF_JIT_ALWAYS_ON=y
CONFIG_NET=y
CONFIG_KPROBES=y
CONFIG_KPROBE_EVENTS=y
CONFIG_BPF_EVENTS=y
CONFIG_CGROUPS=y
CONFIG_CGROUP_SCHED=y
CONFIG_FAIR_GROUP_SCHED=y
CONFIG_SCHED_CLASS_EXT=y
CONFIG_MODULES=n
CONFIG_KALLSYMS=y
CONFIG_KALLSYMS_ALL=y
CONFIG_STACKTRACE=y
FRAG
    (cd "$SRC" && make ARCH=x86_64 KCONFIG_ALLCONFIG="$frag" allnoconfig >/dev/null \
        && make ARCH=x86_64 olddefconfig >/dev/null)
    local missing=0 line sym want got
    while IFS= read -r line; do
        [[ $line == CONFIG_* ]] || continue
        sym=${line%%=*}
        want=${line#*=}
        got=$(cd "$SRC" && scripts/config --state "${sym#CONFIG_}")
        [[ $want == n && $got == undef ]] && got=n
        if [[ $got != "$want" ]]; then
            echo "config: $sym wanted $want, got $got" >&2
            missing=1
        fi
    done < "$frag"
    [[ $missing == 0 ]] || { echo "config: required options did not survive" >&2; return 1; }
}

kernel() {
    (cd "$SRC" && nice -n "$NICE" make ARCH=x86_64 -j"$JOBS" bzImage)
}

schedulers() {
    # tools/sched_ext builds libbpf and bpftool from the tree and generates
    # vmlinux.h from ../../vmlinux (the kernel just built).
    (cd "$SRC" && nice -n "$NICE" make -C tools/sched_ext -j"$JOBS" \
        LLVM=-19 CLANG=clang-19 LLVM_STRIP=llvm-strip-19 scx_simple scx_qmap)
}

T0=$(date +%s)
step unpack unpack
step configure configure
step kernel kernel
step schedulers schedulers
echo "kernel:     $SRC/arch/x86/boot/bzImage ($(cd "$SRC" && make -s kernelrelease))"
echo "schedulers: $SRC/tools/sched_ext/build/bin/"
ls -l "$SRC/tools/sched_ext/build/bin/"
echo "== total: $(($(date +%s) - T0)) s"
