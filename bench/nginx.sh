# Sourced by the bench scripts: serve a directory with nginx from a work dir,
# logging every request (the benchmarks count distinct fetches from the log).
#   nginx_start WORK SITE_DIR LISTEN [WORKERS] [DIRECTIVES]   LISTEN: "127.0.0.1:PORT" or "PORT"
#     (all of 127/8); DIRECTIVES go inside the server block (a location, say)
#   nginx_reopen_log WORK                        empty the access log between runs
#   nginx_stop WORK

nginx_start() {
  local work=$1 site=$2 listen=$3 workers=${4:-1} extra=${5:-}
  command -v nginx >/dev/null 2>&1 || export PATH="$PATH:/usr/sbin"
  mkdir -p "$work/tmp"
  cat > "$work/nginx.conf" <<CONF
worker_processes $workers;
pid $work/nginx.pid;
error_log $work/error.log;
events { worker_connections 4096; }
http {
  access_log $work/access.log;
  sendfile on; tcp_nopush on; keepalive_requests 1000000; keepalive_timeout 120s;
  default_type text/html;
  client_body_temp_path $work/tmp; proxy_temp_path $work/tmp; fastcgi_temp_path $work/tmp;
  uwsgi_temp_path $work/tmp; scgi_temp_path $work/tmp;
  server { listen $listen; root $site; $extra }
}
CONF
  nginx -c "$work/nginx.conf"
  sleep 0.5
}

nginx_reopen_log() {
  : > "$1/access.log"
  kill -USR1 "$(cat "$1/nginx.pid")"
  sleep 0.3
}

nginx_stop() {
  if [ -f "$1/nginx.pid" ]; then kill "$(cat "$1/nginx.pid")" 2>/dev/null || true; fi
  for _ in $(seq 50); do [ -f "$1/nginx.pid" ] || break; sleep 0.1; done
}
