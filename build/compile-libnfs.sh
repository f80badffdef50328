#!/usr/bin/env bash
# Compiles libnfs from its source release into one stripped shared library, OUT_DIR/libnfs.so.17,
# that needs nothing but libc: multithreading, TLS (GnuTLS) and Kerberos (GSSAPI) are left out.
#
# The one compile recipe of both build paths (build/build.py):
# - container: runs inside the Amazon Linux 2023 Lambda build image, natively for the target
#   (arm64 under QEMU), so the library links against the runtime's own glibc;
# - host: runs on this machine, natively for its own architecture or with Debian's cross compiler
#   (gcc-aarch64-linux-gnu) for arm64 on x86_64.
# It installs missing tools only with dnf/microdnf/yum (the container); elsewhere it names them.
#
# Usage: compile-libnfs.sh SOURCE_TARBALL OUT_DIR TARGET_MACHINE
#   SOURCE_TARBALL  libnfs-<version>.tar(.gz) (already checked against its pin by build.py)
#   OUT_DIR         where libnfs.so.17 is written
#   TARGET_MACHINE  `uname -m` of the target: x86_64 or aarch64
# Env: CC: the C compiler (default: gcc natively, TARGET_MACHINE-linux-gnu-gcc across);
#      HOST_UID/HOST_GID: chown the output to them (a container runs as root).
set -euo pipefail

if [ $# -ne 3 ]; then
  sed -n '2,17p' "$0" >&2
  exit 2
fi
src=$1 out=$2 target=$3
soname=libnfs.so.17

machine=$(uname -m)
cross=()
if [ "$machine" = "$target" ]; then
  cc=${CC:-gcc}
  strip=strip
else
  cc=${CC:-$target-linux-gnu-gcc}
  strip=${cc%gcc}strip
  cross=(-DCMAKE_SYSTEM_NAME=Linux "-DCMAKE_SYSTEM_PROCESSOR=$target")
fi

# tool -> the Amazon Linux package that has it
declare -A package_of=([cmake]=cmake [make]=make [tar]=tar [gzip]=gzip [gcc]=gcc [strip]=binutils)
missing=()
for tool in cmake make tar gzip "$cc" "$strip"; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  installer=$(command -v dnf || command -v microdnf || command -v yum || true)
  if [ -z "$installer" ] || [ ${#cross[@]} -gt 0 ]; then
    echo "error: missing ${missing[*]}; on Debian/Ubuntu: apt-get install cmake make gcc binutils" \
      "(for arm64 on x86_64 also gcc-aarch64-linux-gnu libc6-dev-arm64-cross), or run" \
      "scripts/install-system-deps.sh" >&2
    exit 1
  fi
  packages=()
  for tool in "${missing[@]}"; do packages+=("${package_of[$tool]}"); done
  echo "== installing ${packages[*]}"
  "$installer" install -y "${packages[@]}" >/dev/null
fi

echo "== toolchain: $($cc --version | head -1); cmake $(cmake --version | head -1 | cut -d' ' -f3)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"
tar -xf "$src" -C "$work/src" --strip-components=1
cd "$work"

# Upstream's CMake sets SOVERSION 17.0.0 (soname libnfs.so.17.0.0); its autotools build, and so
# any distribution package, names the ABI libnfs.so.17. Use that soname.
grep -q '^set(SOVERSION 17.0.0 CACHE' src/CMakeLists.txt || {
  echo "error: src/CMakeLists.txt no longer sets SOVERSION 17.0.0: review this recipe" >&2
  exit 1
}
sed -i 's/^set(SOVERSION 17.0.0 CACHE/set(SOVERSION 17 CACHE/' src/CMakeLists.txt

# glibc 2.38+ (Debian 13, Ubuntu 24.04) links strto*() to their C23 variants (__isoc23_strtol@
# GLIBC_2.38) under _GNU_SOURCE, which libnfs defines: newer than the Lambda runtime's glibc.
# Bind the classic symbols, which every glibc has; older glibcs bind them anyway.
cat >compat.h <<'EOF'
extern long int strtol(const char *, char **, int) __asm__("strtol");
extern unsigned long int strtoul(const char *, char **, int) __asm__("strtoul");
extern long long int strtoll(const char *, char **, int) __asm__("strtoll");
extern unsigned long long int strtoull(const char *, char **, int) __asm__("strtoull");
EOF

echo "== cmake"
# No debug info, no build paths: the same source and compiler give the same bytes, wherever built.
flags="-O2 -g0 -ffile-prefix-map=$work=. -include $work/compat.h"
cmake -S src -B obj "${cross[@]}" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="$flags -DNDEBUG" \
  -DBUILD_SHARED_LIBS=ON -DENABLE_MULTITHREADING=OFF \
  -DENABLE_TESTS=OFF -DENABLE_UTILS=OFF -DENABLE_EXAMPLES=OFF -DENABLE_DOCUMENTATION=OFF \
  -DCMAKE_DISABLE_FIND_PACKAGE_GnuTLS=ON -DCMAKE_DISABLE_FIND_PACKAGE_GSSAPI=ON \
  >cmake.out 2>&1 || {
  tail -50 cmake.out >&2
  exit 1
}
echo "== build"
cmake --build obj -j"$(nproc)" >build.out 2>&1 || {
  tail -50 build.out >&2
  exit 1
}

built=obj/lib/$soname
if [ ! -e "$built" ]; then
  echo "error: the build made no $soname; it made: $(find obj -name 'libnfs.so*' -printf '%f ')" >&2
  exit 1
fi
mkdir -p "$out"
cp -L "$built" "$out/$soname"
"$strip" --strip-unneeded "$out/$soname"
chmod 0755 "$out/$soname"
if [ -n "${HOST_UID:-}" ]; then
  chown "$HOST_UID:${HOST_GID:-$HOST_UID}" "$out/$soname"
fi
echo "== built $out/$soname ($(stat -c %s "$out/$soname") bytes)"
