#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the queue measurements: its own data directory
# and Unix socket under DIR, a free TCP port on 127.0.0.1 with TLS, trust authentication, so it
# never meets a server the machine already runs.
#   Tests/postgres/server.sh start DIR   → prints the catalog URL (database "biotag", Unix socket);
#                                          DIR/tls-url is the same server over TCP with TLS
#   Tests/postgres/server.sh stop DIR    → stops it and removes DIR
# Debian's postgresql package provides the binaries (`make postgres-tools` installs it).
set -euo pipefail
command=${1:?usage: server.sh start|stop DIR}
dir=${2:?usage: server.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "no PostgreSQL server binaries under /usr/lib/postgresql: run make postgres-tools" >&2; exit 1; }
# The server refuses to run as root: as root it runs as the Debian package's user.
as=()
[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
case $command in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log"
  # TLS on 127.0.0.1 with a certificate of its own (for the sslmode tests), on a free port: a
  # server the machine runs already may hold 5432.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$dir/server.key" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key"
  [ "$(id -u)" = 0 ] && chown postgres "$dir/server.key" "$dir/server.crt"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file=$dir/server.crt -c ssl_key_file=$dir/server.key \
        -c shared_preload_libraries=pg_stat_statements -c max_connections=200" start >/dev/null
  "${as[@]}" "$bin/createdb" -h "$dir" -p "$port" -U postgres biotag
  echo "postgres://postgres@127.0.0.1:$port/biotag?sslmode=require" >"$dir/tls-url"
  echo "postgres://postgres@localhost:$port/biotag?host=$dir"
  ;;
stop)
  [ -d "$dir/data" ] && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
  ;;
*) echo "usage: server.sh start|stop DIR" >&2; exit 2 ;;
esac
