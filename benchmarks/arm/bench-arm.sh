#!/usr/bin/env bash
# Emulated aarch64 benchmark of the shipped bundle: an arm64 Debian root under qemu-user-static, the SDK installed
# there from wheels downloaded on the host, `taste2vec-bench` run inside with the latency budget, and the same
# command on the host for the emulation factor. Recipe: ../shared/notes/toolchain-and-arm-emulation.md.
#
# NEEDS ROOT (apt-get, debootstrap, mounting binfmt_misc, chroot). First run: ~8-10 min to build the root
# (cached in $ARM_ROOT, reused afterwards). Exit status: non-zero when the budget is missed.
#
#   sudo make bench-arm                      # or: sudo benchmarks/arm/bench-arm.sh
#   ARM_ROOT=/var/cache/t2v-arm64 BUDGET_MS=50 PERCENTILE=99 RUNS=300 benchmarks/arm/bench-arm.sh
#   KOTLIN=1 benchmarks/arm/bench-arm.sh     # also the Kotlin library (JVM + JNA on the aarch64 libLiteRt.so):
#                                            # arm64 JRE + JNA from Debian in the root (once), KWARMUP warm-up calls
#
# The emulated CPU is a Cortex-A76 (ARM_CPU, qemu's -cpu), a common phone big core, and the root sees it as a phone
# would: the host's /sys (read-only: the core list) and a /proc/cpuinfo describing ARM_CPU. XNNPACK, LiteRT's default
# CPU delegate on Android, reads both to pick its kernels; without them it does not start and LiteRT runs its builtin
# kernels instead. XNNPACK=0 reproduces that setup. Each result says which delegate the runtime applied ("delegate").
set -euo pipefail

cd "$(dirname "$0")/../.."
CACHE=${TASTE2VEC_CACHE:-$HOME/.cache/taste2vec}
ARM_ROOT=${ARM_ROOT:-$CACHE/arm64-bookworm}
WHEELS=${ARM_WHEELS:-$CACHE/arm64-wheels}
OUT=${OUT:-runs/bench-arm}
PY=${PY:-.venv/bin/python}
# the product's budget is one constant, the SDK's (taste2vec.bundle.DEFAULT_LATENCY_BUDGET)
BUDGET_MS=${BUDGET_MS:-$("$PY" -c 'from taste2vec.bundle import DEFAULT_LATENCY_BUDGET as B; print(B["ms"])')}
PERCENTILE=${PERCENTILE:-$("$PY" -c 'from taste2vec.bundle import DEFAULT_LATENCY_BUDGET as B; print(B["percentile"])')}
RUNS=${RUNS:-1000}
WARMUP=${WARMUP:-30}
THREADS=${THREADS:-1}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ARM_CPU=${ARM_CPU:-cortex-a76}
XNNPACK=${XNNPACK:-1}
KOTLIN=${KOTLIN:-0}
KWARMUP=${KWARMUP:-2000}
LITERT=ai-edge-litert==2.3.0

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench-arm: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "needs root (apt-get, debootstrap, binfmt_misc, chroot): run it with sudo"
[ -x "$PY" ] || die "$PY not found: run 'make bench' (or 'make test') first to create the venv"

# 1. host tools ------------------------------------------------------------------------------------------------
if ! command -v debootstrap >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
  say "installing debootstrap + qemu-user-static (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap qemu-user-static >&2
fi

# 2. binfmt_misc: let the kernel run aarch64 ELF files through qemu ---------------------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc (a container may need --privileged)"
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  conf=$(ls /usr/lib/binfmt.d/qemu-aarch64.conf 2>/dev/null || true)
  [ -n "$conf" ] || die "/usr/lib/binfmt.d/qemu-aarch64.conf missing (qemu-user-static not installed?)"
  grep -v '^#' "$conf" | head -1 > /proc/sys/fs/binfmt_misc/register
fi

# 3. the arm64 root (cached) -------------------------------------------------------------------------------------
if [ ! -e "$ARM_ROOT/.taste2vec-root-ready" ]; then
  say "building the arm64 Debian root in $ARM_ROOT (once; ~8-10 min)"
  rm -rf "$ARM_ROOT"
  mkdir -p "$ARM_ROOT"
  debootstrap --arch=arm64 --variant=minbase bookworm "$ARM_ROOT" "$MIRROR" >&2
  chroot "$ARM_ROOT" /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      python3 python3-venv ca-certificates" >&2
  chroot "$ARM_ROOT" python3 -m venv /opt/taste2vec >&2
  touch "$ARM_ROOT/.taste2vec-root-ready"
fi
ARM_PY=$(chroot "$ARM_ROOT" /opt/taste2vec/bin/python -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')

# 4. wheels for the root: downloaded on the host (pip's TLS inside the chroot fails), SDK built from this checkout --
mkdir -p "$WHEELS"
if ! ls "$WHEELS"/ai_edge_litert-*aarch64*.whl "$WHEELS"/cryptography-*aarch64*.whl >/dev/null 2>&1; then
  say "downloading aarch64 wheels (cp$ARM_PY) into $WHEELS"
  "$PY" -m pip download --quiet --only-binary=:all: --platform manylinux_2_34_aarch64 --platform manylinux_2_28_aarch64 \
      --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 \
      --python-version "$ARM_PY" --implementation cp --abi "cp$ARM_PY" --abi abi3 --abi none -d "$WHEELS" \
      "$LITERT" numpy flatbuffers protobuf backports.strenum tqdm typing-extensions ml_dtypes cryptography cffi \
      pycparser >&2
fi
rm -f "$WHEELS"/taste2vec_edge-*.whl
BUILD=$(mktemp -d)
trap 'rm -rf "$BUILD"' EXIT
"$PY" -m pip wheel --quiet --no-deps --no-build-isolation -w "$WHEELS" . >&2 2>/dev/null \
  || "$PY" -m pip wheel --quiet --no-deps -w "$WHEELS" . >&2
rm -rf build/lib build/bdist.*  # setuptools leftovers of pip wheel; build/ also holds the JVM and Maven outputs
mkdir -p "$ARM_ROOT/wheels"
cp "$WHEELS"/*.whl "$ARM_ROOT/wheels/"
say "installing the SDK into the arm64 root"
# the host's pip settings name host paths the root does not have
chroot "$ARM_ROOT" env -u PIP_FIND_LINKS -u PIP_CERT -u PIP_INDEX_URL /opt/taste2vec/bin/pip install --quiet --no-index --find-links /wheels --force-reinstall \
    taste2vec-edge >&2

# 5. a phone's view of its CPU inside the root (see the header) ----------------------------------------------------
MOUNTS=()
cleanup() {
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[i]}" 2>/dev/null || true; done
  rm -rf "$BUILD"
}
trap cleanup EXIT
export QEMU_CPU=$ARM_CPU
if [ "$XNNPACK" = 1 ]; then
  case "$ARM_CPU" in
    cortex-a76) part=0xd0b variant=0x4 revision=1
                features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp" ;;
    *) die "ARM_CPU=$ARM_CPU: only cortex-a76 has a /proc/cpuinfo description here (or run with XNNPACK=0)" ;;
  esac
  for ((cpu = 0; cpu < $(nproc --all); cpu++)); do
    printf 'processor\t: %d\nBogoMIPS\t: 38.40\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\n' "$cpu" "$features"
    printf 'CPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' "$variant" "$part" "$revision"
  done > "$BUILD/cpuinfo"
  mountpoint -q "$ARM_ROOT/sys" || { mount -o bind,ro /sys "$ARM_ROOT/sys" && MOUNTS+=("$ARM_ROOT/sys"); }
  mountpoint -q "$ARM_ROOT/proc" || { mount -t proc proc "$ARM_ROOT/proc" && MOUNTS+=("$ARM_ROOT/proc"); }
  mount --bind "$BUILD/cpuinfo" "$ARM_ROOT/proc/cpuinfo" && MOUNTS+=("$ARM_ROOT/proc/cpuinfo")
fi

# 5b. the Kotlin library: a JRE and JNA (arm64, Debian) in the root, the jars built on the host ------------------------
KCP=/opt/taste2vec-jvm/taste2vec-jvm.jar:/opt/taste2vec-jvm/taste2vec-core.jar:/usr/share/java/jna.jar:/opt/taste2vec-jvm/kotlin-stdlib.jar
if [ "$KOTLIN" = 1 ]; then
  PY="$PY" android_demo/jvm.sh jars
  if [ ! -e "$ARM_ROOT/.taste2vec-jre-ready" ]; then
    say "installing an arm64 JRE and JNA into the root (once; a few minutes)"
    mountpoint -q "$ARM_ROOT/proc" || { mount -t proc proc "$ARM_ROOT/proc" && MOUNTS+=("$ARM_ROOT/proc"); }  # java's postinst
    chroot "$ARM_ROOT" /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        openjdk-17-jre-headless libjna-java libjna-jni" >&2
    touch "$ARM_ROOT/.taste2vec-jre-ready"
  fi
  mkdir -p "$ARM_ROOT/opt/taste2vec-jvm"
  cp build/jvm/taste2vec-core.jar build/jvm/taste2vec-jvm.jar /usr/share/java/kotlin-stdlib.jar "$ARM_ROOT/opt/taste2vec-jvm/"
fi
ARM_BUNDLE=$(chroot "$ARM_ROOT" /opt/taste2vec/bin/python -c 'from taste2vec.bundle import default_bundle_path; print(default_bundle_path())')

# 6. run: emulated aarch64, then the host, same command --------------------------------------------------------
mkdir -p "$OUT"
printf '{"arm_cpu": "%s", "xnnpack_requested": %s}\n' "$ARM_CPU" "$([ "$XNNPACK" = 1 ] && echo true || echo false)" \
  > "$OUT/setup.json"
ARGS=(--num-threads "$THREADS" --runs "$RUNS" --warmup "$WARMUP" --budget-ms "$BUDGET_MS" --percentile "$PERCENTILE")
status=0
for rec in typical maximal; do
  say "aarch64 (qemu) embed, $rec record"
  chroot "$ARM_ROOT" /opt/taste2vec/bin/taste2vec-bench "${ARGS[@]}" --record "$rec" --no-samples \
      --out "/tmp/arm64-$rec.json" > /dev/null 2> "$OUT/arm64-$rec.log" || status=1
  grep -v 'cpuinfo' "$OUT/arm64-$rec.log" >&2 || true
  cp "$ARM_ROOT/tmp/arm64-$rec.json" "$OUT/arm64-$rec.json"
  # the delegate as the runtime applied it (the result's "delegate", read from the loaded graph), not a log line
  say "aarch64: $("$PY" benchmarks/arm/report.py --delegate "$OUT/arm64-$rec.json") ($ARM_CPU)"
  say "x86_64 (host) embed, $rec record"
  "$PY" -m taste2vec.bench "${ARGS[@]}" --record "$rec" --no-samples --out "$OUT/x86_64-$rec.json" > /dev/null || true
  if [ "$KOTLIN" = 1 ]; then
    "$PY" -c "import json, sys; from taste2vec.bench import bench_record; json.dump(bench_record(sys.argv[1]), sys.stdout)" \
      "$rec" > "$ARM_ROOT/tmp/record-$rec.json"
    KARGS=(--runs "$RUNS" --warmup "$KWARMUP" --threads "$THREADS")
    say "aarch64 (qemu) Kotlin embed, $rec record"
    chroot "$ARM_ROOT" env TASTE2VEC_PYTHON=/opt/taste2vec/bin/python java -cp "$KCP" com.taste2vec.edge.jvm.tools.Bench \
      --record "/tmp/record-$rec.json" "${KARGS[@]}" --bundle "$ARM_BUNDLE" --allow-unsigned \
      > "$OUT/kotlin-arm64-$rec.json" || status=1
    say "x86_64 (host) Kotlin embed, $rec record"
    android_demo/jvm.sh bench --record "$ARM_ROOT/tmp/record-$rec.json" "${KARGS[@]}" > "$OUT/kotlin-x86_64-$rec.json" \
      || status=1
  fi
done
"$PY" benchmarks/arm/report.py "$OUT" "$BUDGET_MS" "$PERCENTILE"
exit $status
