#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and the queue measurements: its own data directory
# and Unix socket under DIR (no TCP port, trust authentication), so it never meets a server the
# machine already runs.
#   Tests/postgres/server.sh start DIR   → prints the catalog URL (database "biotag")
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
  "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -c listen_addresses='' -c shared_preload_libraries=pg_stat_statements -c max_connections=200" start >/dev/null
  "${as[@]}" "$bin/createdb" -h "$dir" -U postgres biotag
  echo "postgres://postgres@/biotag?host=$dir"
  ;;
stop)
  [ -d "$dir/data" ] && "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  rm -rf "$dir"
  ;;
*) echo "usage: server.sh start|stop DIR" >&2; exit 2 ;;
esac
