#!/usr/bin/env bash
# Compiles libnfs from its release tarball into one stripped shared library, OUT_DIR/libnfs.so.13.
#
# Runs inside an Amazon Linux 2023 Lambda build image (build/build.py starts it with docker or podman,
# BUILD_IN=container), so the library links against the runtime's own glibc (2.34). Works on any
# Linux with a C toolchain and autotools too; it installs missing tools only with dnf/microdnf/yum.
#
# Usage: compile-libnfs.sh SOURCE_TARBALL OUT_DIR EXPECTED_MACHINE
#   SOURCE_TARBALL    libnfs-4.0.0.tar.gz (already checked against its pinned sha256 by build.py)
#   OUT_DIR           where libnfs.so.13 is written
#   EXPECTED_MACHINE  `uname -m` the library is for: x86_64 or aarch64
# Env: HOST_UID/HOST_GID: chown the output to them (the container runs as root).
set -euo pipefail

if [ $# -ne 3 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
src=$1 out=$2 expected_machine=$3
soname=libnfs.so.13

machine=$(uname -m)
if [ "$machine" != "$expected_machine" ]; then
  echo "error: this machine is $machine, the library is for $expected_machine" >&2
  echo "  (for another architecture under docker, register QEMU first:" >&2
  echo "   docker run --privileged --rm tonistiigi/binfmt --install arm64)" >&2
  exit 1
fi

# tool -> the package that has it (Amazon Linux names)
declare -A package_of=(
  [gcc]=gcc [make]=make [autoreconf]=autoconf [automake]=automake [libtoolize]=libtool
  [tar]=tar [gzip]=gzip [strip]=binutils
)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null || missing+=("${package_of[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  installer=$(command -v dnf || command -v microdnf || command -v yum || true)
  if [ -z "$installer" ]; then
    echo "error: missing ${missing[*]} and no dnf/microdnf/yum to install them with" >&2
    exit 1
  fi
  echo "== installing ${missing[*]}"
  "$installer" install -y "${missing[@]}" >/dev/null
fi

echo "== toolchain: $(gcc --version | head -1); $(ldd --version 2>&1 | head -1)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$src" -C "$work" --strip-components=1
cd "$work"

echo "== autoreconf"
autoreconf -fi >/dev/null 2>&1 || autoreconf -fi # quiet unless it fails
echo "== configure"
# No debug info and no build paths in the binary: the same tarball and image give the same bytes.
CFLAGS="-O2 -g0 -ffile-prefix-map=$work=." ./configure --prefix=/usr --disable-static \
  --disable-utils --disable-examples --disable-werror >configure.out 2>&1 || {
  tail -50 configure.out >&2
  exit 1
}
echo "== make"
make -j"$(nproc)" >make.out 2>&1 || {
  tail -50 make.out >&2
  exit 1
}
make install DESTDIR="$work/root" >install.out 2>&1 || {
  tail -50 install.out >&2
  exit 1
}

built=$(find "$work/root" -name "$soname" | head -1)
if [ -z "$built" ]; then
  echo "error: the build made no $soname; it made: $(find "$work/root" -name 'libnfs.so*' -printf '%f ')" >&2
  exit 1
fi
mkdir -p "$out"
cp -L "$built" "$out/$soname"
strip --strip-unneeded "$out/$soname"
chmod 0755 "$out/$soname"
if [ -n "${HOST_UID:-}" ]; then
  chown "$HOST_UID:${HOST_GID:-$HOST_UID}" "$out/$soname"
fi
echo "== built $out/$soname ($(stat -c %s "$out/$soname") bytes)"
