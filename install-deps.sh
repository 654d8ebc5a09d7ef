#!/usr/bin/env bash
# Installs the Debian packages vdvk needs (build, tests, benchmarks, UML kernel build).
# Idempotent and quiet when everything is present. Needs root (or sudo).
set -euo pipefail
pkgs=(cmake make g++ gcc pkg-config ccache libev-dev capnproto libcapnp-dev libspdlog-dev
      libgtest-dev libgmock-dev libbenchmark-dev iproute2 procps psmisc
      linux-source-6.1 bc flex bison libelf-dev libssl-dev xz-utils)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "install-deps: all packages present"
