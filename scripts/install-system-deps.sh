#!/usr/bin/env bash
# Installs the system packages the tests need (Debian/Ubuntu): a userspace NFS server (nfs-ganesha),
# rpcbind for its NFSv3 registration, and libnfs. Idempotent; needs root (or sudo) only when
# something is missing.
set -euo pipefail
pkgs=(nfs-ganesha nfs-ganesha-vfs rpcbind libnfs13 libnfs-dev libnfs-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${missing[*]} and no apt-get here; install nfs-ganesha (VFS FSAL), rpcbind and libnfs with your package manager" >&2
  exit 1
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing system packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
