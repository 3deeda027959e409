#!/usr/bin/env bash
# make run: the whole stack in the foreground, from conf/, under build/run/:
# Redis, privacy-backend, and nginx with the module on 127.0.0.1:8080.
# Ctrl-C stops all of it.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
run="$top/build/run"
redis_port=${PE_REDIS_PORT:-6379}

mkdir -p "$run"/{logs,spool,body,proxy,fastcgi,uwsgi,scgi}
chmod 0755 "$run"
chmod 0777 "$run"/{body,proxy,fastcgi,uwsgi,scgi}

# keys for this local stack only, made once
[ -s "$run/privacy.key" ] || head -c 32 /dev/urandom > "$run/privacy.key"
[ -s "$run/data.key" ] || head -c 32 /dev/urandom > "$run/data.key"
chmod 0600 "$run/privacy.key" "$run/data.key"

# the demo site (conf/demo/demo.conf, its root here), included in the
# shipped server block right after its listen
sed -e "s|/usr/share/privacy-edge/demo;|$top/conf/demo;|" \
    "$top/conf/demo/demo.conf" > "$run/demo.conf"

sed -e "s|/usr/lib/nginx/modules/ngx_http_privacy_module.so|$top/build/ngx_http_privacy_module.so|" \
    -e "s|/run/privacy-edge-nginx.pid|$run/nginx.pid|" \
    -e "s|/var/log/nginx/|$run/logs/|" \
    -e "s|/etc/privacy-edge/cookies.conf|$top/conf/cookies.conf|" \
    -e "s|^\( *\)listen 127.0.0.1:8080;$|&\n\1include $run/demo.conf;|" \
    -e "s|/etc/privacy-edge/privacy.key|$run/privacy.key|" \
    -e "s|privacy_redis 127.0.0.1:6379|privacy_redis 127.0.0.1:$redis_port|" \
    -e "s|^worker_processes auto;|worker_processes 2;\ndaemon off;|" \
    -e "s|^http {|http {\n    client_body_temp_path $run/body;\n    proxy_temp_path $run/proxy;\n    fastcgi_temp_path $run/fastcgi;\n    uwsgi_temp_path $run/uwsgi;\n    scgi_temp_path $run/scgi;|" \
    "$top/conf/nginx.conf" > "$run/nginx.conf"
grep -qF "include $run/demo.conf;" "$run/nginx.conf" || {
    echo "run: conf/nginx.conf has no listen 127.0.0.1:8080 for the demo" >&2
    exit 1
}

# fal.ai itself with FAL_KEY set; otherwise the local stand-in, so a job
# goes from upload to a finished video URL without the internet
fal_base=https://queue.fal.run
standin=
if [ -z "${FAL_KEY:-}" ]; then
    fal_base=http://127.0.0.1:${PE_FAL_PORT:-9100}
    export FAL_KEY=local-standin-key
    standin=1
fi

# Replicate and Kling likewise: the real APIs with their keys set, else
# their stand-ins (Replicate's signs its webhooks with a local secret)
rep_base=https://api.replicate.com
rep_standin=
if [ -z "${REPLICATE_API_TOKEN:-}" ]; then
    rep_base=http://127.0.0.1:${PE_REPLICATE_PORT:-9101}
    export REPLICATE_API_TOKEN=local-standin-token
    export REPLICATE_WEBHOOK_SECRET=whsec_bG9jYWwtc3RhbmQtaW4td2ViaG9vay1zZWNyZXQ=
    rep_standin=1
fi
kling_base=https://api-singapore.klingai.com
kling_standin=
if [ -z "${KLING_ACCESS_KEY:-}" ]; then
    kling_base=http://127.0.0.1:${PE_KLING_PORT:-9102}
    export KLING_ACCESS_KEY=local-access KLING_SECRET_KEY=local-secret
    kling_standin=1
fi
# Veo (the Gemini API) and Seedance (BytePlus ModelArk) likewise
veo_base=https://generativelanguage.googleapis.com
veo_standin=
if [ -z "${GEMINI_API_KEY:-}" ]; then
    veo_base=http://127.0.0.1:${PE_VEO_PORT:-9103}
    export GEMINI_API_KEY=local-standin-key
    veo_standin=1
fi
ark_base=https://ark.ap-southeast.bytepluses.com
seedance_standin=
if [ -z "${ARK_API_KEY:-}" ]; then
    ark_base=http://127.0.0.1:${PE_SEEDANCE_PORT:-9104}
    export ARK_API_KEY=local-standin-key
    seedance_standin=1
fi

sed -e "s|/var/lib/privacy-edge/spool|$run/spool|" \
    -e "s|/etc/privacy-edge/|$run/|" \
    -e "s|127.0.0.1:6379|127.0.0.1:$redis_port|" \
    -e "s|base=https://queue.fal.run|base=$fal_base|" \
    -e "s|base=https://api.replicate.com|base=$rep_base|" \
    -e "s|base=https://api-singapore.klingai.com|base=$kling_base|" \
    -e "s|base=https://generativelanguage.googleapis.com|base=$veo_base|" \
    -e "s|base=https://ark.ap-southeast.bytepluses.com|base=$ark_base|" \
    -e "s|^public_url .*|public_url    http://127.0.0.1:9000;|" \
    "$top/conf/backend.conf" > "$run/backend.conf"

pids=()
stop() {
    trap - INT TERM EXIT
    echo
    echo "run: stopping"
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop INT TERM EXIT

redis-server --bind 127.0.0.1 --port "$redis_port" --save '' \
    --appendonly no --dir "$run" > "$run/logs/redis.log" 2>&1 &
pids+=($!)

# a provider's stand-in: NAME PORT KEY [more options]
standin() {
    local name=$1 port=$2 key=$3
    shift 3
    perl "$top/t/lib/$name-standin" --port "$port" --dir "$run/$name" \
        --key "$key" --run 5 "$@" > "$run/logs/$name-standin.log" 2>&1 &
    pids+=($!)
}

[ -z "$standin" ] || standin fal "${PE_FAL_PORT:-9100}" "$FAL_KEY"
[ -z "$rep_standin" ] || standin replicate "${PE_REPLICATE_PORT:-9101}" \
    "$REPLICATE_API_TOKEN" --webhook-key "$REPLICATE_WEBHOOK_SECRET"
[ -z "$kling_standin" ] || standin kling "${PE_KLING_PORT:-9102}" \
    "$KLING_ACCESS_KEY:$KLING_SECRET_KEY"
[ -z "$veo_standin" ] || standin veo "${PE_VEO_PORT:-9103}" \
    "$GEMINI_API_KEY"
[ -z "$seedance_standin" ] || standin seedance \
    "${PE_SEEDANCE_PORT:-9104}" "$ARK_API_KEY"

"$top/build/privacy-backend" -t -c "$run/backend.conf"
"$top/build/privacy-backend" -c "$run/backend.conf" \
    2> >(tee -a "$run/logs/backend.log" >&2) &
pids+=($!)

nginx -t -q -p "$run/" -c "$run/nginx.conf" -e "$run/logs/error.log"
nginx -p "$run/" -c "$run/nginx.conf" -e "$run/logs/error.log" &
pids+=($!)

cat <<TXT
run: nginx + privacy-edge on http://127.0.0.1:8080, backend on 127.0.0.1:9000,
     redis on 127.0.0.1:$redis_port; logs in $run/logs.  Ctrl-C stops.
run: provider fal at $fal_base${standin:+ (the local stand-in; set FAL_KEY for fal.ai)}

  a job, with the ai_processing opt-in and a session:
    curl -s -H 'Cookie: pe_consent=ai_processing:1; session=me' \\
         -F file=@photo.png -F prompt='a cat surfing' \\
         -F model=fal-ai/kling-video/v2.1/standard/image-to-video \\
         http://127.0.0.1:8080/v1/jobs
  then, with the id it answers:
    curl -s -H 'Cookie: pe_consent=ai_processing:1; session=me' \\
         http://127.0.0.1:8080/v1/jobs/ID
TXT

wait -n "${pids[@]}" || true
