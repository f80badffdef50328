#!/usr/bin/env bash
# Installs the system packages the tests and the host build need on Debian/Ubuntu: a userspace NFS
# server (nfs-ganesha) with rpcbind for its NFSv3 registration, the C toolchain that compiles the
# bundled libnfs (cmake, gcc, and the cross compiler for the other Lambda architecture), and the
# tools a fresh machine may lack (venv, git, make, binutils, Node.js for the workflow lint).
# No distribution libnfs is needed: the zip bundles libnfs 7.0, built from source, and the tests
# load that very library. Idempotent; needs root (or sudo) only when something is missing.
# Terraform (1.11+) is not packaged by Debian: install it from HashiCorp (see README).
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

# The cross toolchain for the architecture this machine is not (Lambda runs x86_64 and arm64).
case "$(uname -m)" in
  x86_64) cross=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross) ;;
  aarch64) cross=(gcc-x86-64-linux-gnu libc6-dev-amd64-cross) ;;
  *) cross=() ;;
esac

missing=()
for p in nfs-ganesha nfs-ganesha-vfs rpcbind cmake gcc libc6-dev "${cross[@]}"; do
  installed "$p" || missing+=("$p")
done
# /etc/services (netbase, on every installed system, not in minimal images): ganesha finds an
# rpcbind it cannot reach by its socket (one in another root or container) by the service name.
[ -f /etc/services ] || missing+=(netbase)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v git >/dev/null || missing+=(git)
command -v make >/dev/null || missing+=(make)
command -v objdump >/dev/null || missing+=(binutils)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

# ganesha's VFS finds an export's file system through /etc/mtab, which a booted system has
# (systemd links it) but a debootstrap chroot or a container image may not: without it every
# export is refused.
if [ ! -e /etc/mtab ] && [ "$(id -u)" -eq 0 ]; then
  echo "linking /etc/mtab to /proc/self/mounts (nfs-ganesha needs it; a booted system has it)"
  ln -s ../proc/self/mounts /etc/mtab
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${missing[*]} and no apt-get here; install nfs-ganesha (VFS FSAL)," \
    "rpcbind, cmake, gcc (and a cross gcc for the other architecture), python3-venv, git," \
    "make, binutils, nodejs and npm with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
echo "installing system packages: ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
