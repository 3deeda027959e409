#!/usr/bin/env bash
# Installs the Debian packages privacy-edge needs, those missing only, and
# the IAB's reference libraries the tests check consent decoding against
# (t/iab, by npm, at the versions t/iab/package.json pins), and the driver
# of the browser test (playwright-core as t/browser/package.json pins it,
# into build/browser; it downloads no browser: the test drives Debian's
# chromium).
# Idempotent: a machine that has them all is left alone (no apt-get, no npm,
# no network at all).
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
    # the tests' reference for what is a country (ISO 3166-1)
    iso-codes
    # the tests' reference for what an audio file is: t/15-upload-audio.t
    # has ffmpeg write MP3, WAV, M4A, Ogg, WebM and FLAC files to sniff
    ffmpeg
    # the tests' oracles for metadata: t/66-edge-strip-metadata.t has
    # ImageMagick, libheif's heif-enc and ffmpeg make pictures, videos and
    # sounds, exiftool write GPS, serials, owners and text into them and
    # read what a provider received
    libimage-exiftool-perl imagemagick webp libheif-examples
    # t/43-geoip2.t: conf/cdn/geoip2.conf with Debian's geoip2 module, on
    # MaxMind-format databases the test writes with MaxMind::DB::Writer
    libnginx-mod-http-geoip2 libmaxmind-db-writer-perl
    # t/44-cdn-trust.t runs the CDN snippets' own jq pipelines
    jq
    # t/70-demo-browser.t: the demo site in Debian's chromium, headless
    chromium
    # make compat (scripts/compat.sh): the Perl packages nginx's own tests
    # use (SCGI for scgi_*.t, GD for image_filter.t), and the seven dynamic
    # modules the Debian nginx is built with, which the suite loads into
    # every test
    libio-socket-ssl-perl libnet-ssleay-perl libfcgi-perl
    libprotocol-websocket-perl libcryptx-perl libscgi-perl libgd-perl
    libnginx-mod-http-geoip libnginx-mod-http-image-filter
    libnginx-mod-http-perl libnginx-mod-http-xslt-filter libnginx-mod-mail
    libnginx-mod-stream libnginx-mod-stream-geoip
    # make deb (debian/): dpkg-buildpackage, debhelper and dh-sequence-nginx
    # (nginx-dev, above); lintian checks the packages; t/80-deb.t installs
    # and purges them
    dpkg-dev debhelper lintian
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null \
            | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

# node and npm run the IAB's libraries (t/37-consent-iab.t); a machine with
# a node of its own (NodeSource's brings npm) keeps it
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
    echo "deps: installing ${missing[*]}"

    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi

    export DEBIAN_FRONTEND=noninteractive
    # the Debian nginx package starts the system nginx on port 80 where it
    # can; policy-rc.d keeps package scripts from starting services during
    # install
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
fi

# @iabtcf/core and @iabgpp/cmpapi in t/iab/node_modules, and
# playwright-core (t/browser/package.json) in build/browser/node_modules,
# out of the tests' tree: exactly the pinned versions, npm only when one
# is missing or another version.  No lockfile (the .npmrc beside each
# package.json): it would name registry hosts; playwright-core has no
# dependencies, so its pin is the whole tree.
top="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$top/build/browser"
cp "$top/t/browser/package.json" "$top/t/browser/.npmrc" "$top/build/browser/"
for dir in t/iab build/browser; do
    npmdir="$top/$dir"
    if ! node -e '
        const dir = process.argv[1];
        const deps = require(dir + "/package.json").dependencies;
        for (const [name, want] of Object.entries(deps)) {
            let have;
            try {
                have = require(dir + "/node_modules/" + name + "/package.json")
                    .version;
            } catch (e) {
                have = null;
            }
            if (have !== want) process.exit(1);
        }' "$npmdir"; then
        echo "deps: npm install in $dir"
        (cd "$npmdir" && PUPPETEER_SKIP_DOWNLOAD=1 \
            PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
            npm install --no-package-lock --no-audit --no-fund --loglevel=error)
    fi
done
