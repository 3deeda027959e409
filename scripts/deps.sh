#!/usr/bin/env bash
# Installs the Debian packages privacy-edge needs, those missing only.
# Idempotent: a machine that has them all is left alone (no apt-get at all).
set -euo pipefail

packages=(
    # the nginx binary and its module API (/usr/share/nginx/src)
    nginx nginx-dev libpcre2-dev zlib1g-dev libssl-dev
    # the module's and the backend's libraries
    libhiredis-dev libcurl4-openssl-dev libmicrohttpd-dev libjansson-dev
    # the tests: a real Redis, a C toolchain with libFuzzer, Perl's prove
    redis-server gcc make clang libclang-rt-14-dev perl curl
    # the fal stand-in signs its webhooks (Ed25519) with the openssl tool
    openssl
    # the benchmarks
    wrk
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps: installing ${missing[*]}"

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# the Debian nginx package starts the system nginx on port 80 where it can;
# policy-rc.d keeps package scripts from starting services during install
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod +x "$policy"
    made_policy=1
fi
trap '[ $made_policy -eq 1 ] && $sudo rm -f "$policy"' EXIT

$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
