# Shared by the HTTP benchmarks (serve_wrk.sh, decide_wrk.sh, experiment_overhead.sh); source it
# after setting OUT (a fresh scratch folder). It gives:
#   pids+=(PID)        background processes killed (and OUT removed) when the script exits
#   bench_lock         waits for and takes /tmp/marquee-bench.lock (a folder); bench_unlock
#   free_port          a free loopback port
#   start_nginx NAME BODY WORKERS
#                      nginx (run under ${SRV_PIN[@]} when set) serving BODY as /NAME from
#                      $OUT/nginx with WORKERS workers, access log off; sets NPORT
#   recommend_lua FILE USERS_FILE FIELDS
#                      a wrk script posting /v1/recommend {FIELDS, "user": U, "k": 10} for a
#                      member U drawn per request from USERS_FILE (one id a line)
#   train_ml100k_ease BIN HOME DATA
#                      trains EASE (lambda 300) on DATA/movielens-100k/u.data into HOME as
#                      ml100k-ease v1 and points its alias "production" at it
pids=()
have_lock=0
bench_cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ "$have_lock" = 1 ]; then rmdir /tmp/marquee-bench.lock 2>/dev/null || true; fi
  rm -rf "$OUT"
}
trap bench_cleanup EXIT
bench_lock() {
  while ! mkdir /tmp/marquee-bench.lock 2>/dev/null; do sleep 15; done
  have_lock=1
}
bench_unlock() {
  rmdir /tmp/marquee-bench.lock 2>/dev/null || true
  have_lock=0
}
free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
start_nginx() {  # NAME BODY WORKERS
  local name=$1 body=$2 workers=$3 nginx
  nginx=$(command -v nginx || echo /usr/sbin/nginx)
  NPORT=$(free_port)
  mkdir -p "$OUT/nginx/www" "$OUT/nginx/tmp"
  printf '%s' "$body" >"$OUT/nginx/www/$name"
  # When run as root, nginx's workers drop to "nobody": let them read the file.
  chmod 755 "$OUT" "$OUT/nginx" "$OUT/nginx/www"
  chmod 644 "$OUT/nginx/www/$name"
  cat >"$OUT/nginx/nginx.conf" <<CONF
worker_processes $workers;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $OUT/nginx/tmp;
  proxy_temp_path $OUT/nginx/tmp;
  fastcgi_temp_path $OUT/nginx/tmp;
  uwsgi_temp_path $OUT/nginx/tmp;
  scgi_temp_path $OUT/nginx/tmp;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NPORT;
    root $OUT/nginx/www;
    default_type application/json;
  }
}
CONF
  ${SRV_PIN[@]+"${SRV_PIN[@]}"} "$nginx" -p "$OUT/nginx" -c "$OUT/nginx/nginx.conf" \
    2>"$OUT/nginx/stderr" &
  pids+=($!)
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NPORT/$name" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$NPORT/$name" >/dev/null || {
    echo "nginx does not serve the file" >&2
    cat "$OUT/nginx/error.log" >&2
    exit 1
  }
}

recommend_lua() {  # FILE USERS_FILE FIELDS
  cat >"$1" <<LUA
local users = {}
for line in io.lines("$2") do users[#users + 1] = line end
math.randomseed(42)
request = function()
  local u = users[math.random(#users)]
  return wrk.format("POST", "/v1/recommend", {["Content-Type"] = "application/json"},
    '{$3, "user": "' .. u .. '", "k": 10}')
end
LUA
}

train_ml100k_ease() {
  cat >"$OUT/ease.toml" <<TOML
[data]
train = "$3/movielens-100k/u.data"
[split]
test_users = 50
[model]
family = "ease"
name = "ml100k-ease"
lambda = 300.0
[eval]
metrics = ["recall@20"]
TOML
  "$1" --home "$2" -q train "$OUT/ease.toml" >/dev/null
  "$1" --home "$2" -q models promote ml100k-ease/1 --alias production >/dev/null
}
