#!/usr/bin/env bash
# Configures the module against the installed (Debian) nginx: its configure
# tree from nginx-dev, with the flags the Debian binary was built with
# (conf_flags: --with-compat and the rest), so the .so loads into it.
#
# The tree is linked, not copied, into build/ngx (NGX_BUILD_DIR): configure
# writes its Makefile and objs/ there and nothing into /usr/share/nginx/src.
# PRIVACY_CC_OPT adds compiler flags, e.g. -fsanitize=address.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
ngx_src=${NGX_SRC:-/usr/share/nginx/src}
dir="$top/${NGX_BUILD_DIR:-build/ngx}"

if [ ! -f "$ngx_src/conf_flags" ]; then
    echo "configure-module: $ngx_src/conf_flags not found (apt-get install nginx-dev)" >&2
    exit 1
fi

mkdir -p "$dir"
for f in auto src configure; do
    ln -sfn "$ngx_src/$f" "$dir/$f"
done

# shellcheck disable=SC1091
source "$ngx_src/conf_flags"

cd "$dir"
./configure "${NGX_CONF_FLAGS[@]}" \
    --with-cc-opt="-g -O2 -fPIC ${PRIVACY_CC_OPT:-}" \
    --add-dynamic-module="$top" \
    --builddir=objs > configure.log 2>&1 || {
        tail -20 configure.log >&2
        exit 1
    }
