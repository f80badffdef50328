#!/usr/bin/env bash
# Installs the system packages the tests need on Debian/Ubuntu: a userspace NFS server
# (nfs-ganesha) with rpcbind for its NFSv3 registration, libnfs 4.0 (libnfs13, the ABI the function
# uses; the Lambda zip bundles its own), and the tools a fresh machine may lack (venv, git, make,
# Node.js for the workflow lint). Idempotent; needs root (or sudo) only when something is missing.
# Terraform (1.11+) is not packaged by Debian: install it from HashiCorp (see README).
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in nfs-ganesha nfs-ganesha-vfs rpcbind; do installed "$p" || missing+=("$p"); done
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v git >/dev/null || missing+=(git)
command -v make >/dev/null || missing+=(make)
command -v objdump >/dev/null || missing+=(binutils)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
want_libnfs=false
installed libnfs13 || want_libnfs=true

if [ ${#missing[@]} -eq 0 ] && ! $want_libnfs; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${missing[*]} $($want_libnfs && echo libnfs13) and no apt-get here; install" \
    "nfs-ganesha (VFS FSAL), rpcbind, libnfs 4.0 (libnfs.so.13), python3-venv, git, make, nodejs" \
    "and npm with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
if $want_libnfs; then
  if apt-cache show libnfs13 >/dev/null 2>&1; then
    missing+=(libnfs13)
  else
    # e.g. Ubuntu 24.04 has only libnfs 5 (libnfs14): the end-to-end tests still run (the zip
    # bundles libnfs 4.0), the function's own tests will say that libnfs.so.13 is missing.
    echo "warning: this distribution has no libnfs13 (libnfs 4.0); the function tests need it" >&2
  fi
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing system packages: ${missing[*]}"
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
