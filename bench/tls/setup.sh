# shellcheck shell=bash
# Sourced by bench/tls/run.sh and bench/tls/cpu_vs_nginx.sh: a throw-away certificate and the
# nginx peer's configuration (one worker, no access log, the same certificate, TLS 1.2 and 1.3,
# a shared session cache, "Hello, World!" for /).

make_cert() {  # dir key_type(ec|rsa) -> dir/cert.pem, dir/key.pem (CN=localhost, 1 day)
  if [ "$2" = rsa ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/key.pem" -out "$1/cert.pem" \
      -subj /CN=localhost -days 1 2>/dev/null
  else
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/key.pem" \
      -out "$1/cert.pem" -subj /CN=localhost -days 1 2>/dev/null
  fi
}

write_nginx_conf() {  # dir port -> dir/nginx/nginx.conf, serving dir/cert.pem on 127.0.0.1:port
  mkdir -p "$1/nginx"
  cat > "$1/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $1/nginx/nginx.pid;
error_log $1/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $1/nginx/body;
  proxy_temp_path $1/nginx/proxy;
  fastcgi_temp_path $1/nginx/fastcgi;
  uwsgi_temp_path $1/nginx/uwsgi;
  scgi_temp_path $1/nginx/scgi;
  keepalive_requests 100000;
  ssl_session_cache shared:SSL:1m;
  server {
    listen 127.0.0.1:$2 ssl;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate $1/cert.pem;
    ssl_certificate_key $1/key.pem;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
}
