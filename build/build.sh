#!/usr/bin/env bash
# Build dist/zei: ONE self-contained executable (Nuitka standalone + static libpython on
# Debian 12's python3.11, whose extension modules are builtins). See build/README.md.
#
#   build/build.sh            -> dist/zei
#   build/build.sh --deps     only the Debian packages and the build venv (a Docker layer)
#   build/build.sh --probe    -> .cache/probe/startup_probe.dist/zei-probe: same flags,
#                                build/startup_probe.py as main (for build/measure.py only)
#
# Environment knobs: ZEI_BUILD_CACHE (default .cache), ZEI_LTO (yes|no, default no),
# PIP_INDEX_URL / PIP_CERT etc. are honoured by pip as usual.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s.%N)

case "${1:-}" in
    "") mode=zei ;;
    --deps) mode=deps ;;
    --probe) mode=probe ;;
    *) echo "usage: $0 [--deps|--probe]" >&2; exit 2 ;;
esac

PY=/usr/bin/python3.11
cache=${ZEI_BUILD_CACHE:-$root/.cache}
venv=$cache/buildvenv
lto=${ZEI_LTO:-no}

say() { printf 'build: %s\n' "$*"; }
die() { printf 'build: ERROR: %s\n' "$*" >&2; exit 1; }

# 1. Debian packages (no-op when present).
"$root/scripts/ensure-apt" python3.11-dev python3.11-venv gcc make ccache patchelf \
    zlib1g-dev libexpat1-dev
[ -f /usr/lib/python3.11/config-3.11-x86_64-linux-gnu/libpython3.11.a ] \
    || die "libpython3.11.a missing (libpython3.11-dev)"

# 2. Build venv with the pinned tool chain; PyYAML built pure (no libyaml binding).
stamp=$venv/.zei-stamp-$(sha256sum < build/requirements.txt | cut -c1-16)
if [ ! -f "$stamp" ]; then
    say "creating build venv $venv"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    PYYAML_FORCE_LIBYAML=0 "$venv/bin/pip" install -q --no-binary PyYAML -r build/requirements.txt
    touch "$stamp"
fi
if find "$venv/lib" -name '_yaml*.so' | grep -q .; then
    die "PyYAML in $venv has its C extension; it must be pure Python"
fi

[ "$mode" = deps ] && exit 0

# 3. Link libz and libexpat statically: a directory holding only their .a files goes
#    first on the library path (Nuitka's scons appends $LDFLAGS).
staticlibs=$cache/staticlibs
mkdir -p "$staticlibs"
ln -sf /usr/lib/x86_64-linux-gnu/libz.a /usr/lib/x86_64-linux-gnu/libexpat.a "$staticlibs/"

if [ "$mode" = probe ]; then
    main=(build/startup_probe.py); outdir=$cache/probe; name=zei-probe
    dist=$outdir/startup_probe.dist
else
    main=(--python-flag=-m zei); outdir=$cache/nuitka; name=zei
    dist=$outdir/zei.dist
fi
rm -rf "$dist"

# 4. Compile. ccache and Nuitka's own caches live under $cache too.
say "nuitka ($mode, lto=$lto)"
env LDFLAGS="-L$staticlibs -Wl,-z,pack-relative-relocs" CCACHE_DIR="$cache/ccache" NUITKA_CACHE_DIR="$cache/nuitka-cache" \
    "$venv/bin/python" -m nuitka \
    --mode=standalone \
    --static-libpython=yes \
    --lto="$lto" \
    --no-deployment-flag=self-execution \
    --python-flag=no_site \
    --python-flag=isolated \
    --python-flag=no_docstrings \
    --include-package=zei \
    --include-module=yaml \
    --include-package=docopt \
    --nofollow-import-to=yaml.cyaml \
    --nofollow-import-to=ctypes \
    --nofollow-import-to=yaml._yaml \
    --user-plugin=build/zei_plugin.py \
    --assume-yes-for-downloads \
    --output-dir="$outdir" \
    --output-filename="$name" \
    --report="$outdir/$name-report.xml" \
    --quiet \
    "${main[@]}"

# 5. Checks on the result, then drop Nuitka's RPATH=$ORIGIN.
files=$(ls -A "$dist")
[ "$files" = "$name" ] || die "$dist is not exactly one file: $files"
bin=$dist/$name
patchelf --remove-rpath "$bin"
if readelf -d "$bin" | grep -Eq 'RPATH|RUNPATH'; then die "RPATH still set"; fi
bad=$(ldd "$bin" | awk '{print $1}' \
      | grep -Ev '^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|/lib64/ld-linux-x86-64\.so\.2)$' || true)
[ -z "$bad" ] || die "unexpected shared libraries: $bad"
if [ "$mode" = zei ]; then
    env -i "$bin" --version >/dev/null || die "$bin --version failed"
    mkdir -p dist
    cp "$bin" dist/.zei.tmp
    mv -f dist/.zei.tmp dist/zei
    bin=dist/zei
fi

end=$(date +%s.%N)
say "$bin: $(stat -c %s "$bin") bytes, built in $(awk "BEGIN {printf \"%.0f\", $end - $start}") s"
