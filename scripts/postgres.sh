#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the PostgreSQL store and River tests.
#
#   eval "$(bash scripts/postgres.sh start)"   create, start, print the env
#   bash scripts/postgres.sh stop              stop it and remove its directory
#
# start installs Debian's postgresql package with apt-get when initdb and
# pg_ctl are missing (that needs root), creates a cluster under a new
# temporary directory (mktemp -d; or $DIRSYNC_PG_DIR when set), starts it
# listening on a Unix socket in that directory only (no TCP port), creates
# the database "dirsync" and prints:
#
#   export DIRSYNC_PG_DIR=/tmp/dirsync-pg.XXXXXX
#   export DIRSYNC_PG_URL=postgres://postgres@/dirsync?host=...&sslmode=disable
#
# stop reads DIRSYNC_PG_DIR. The cluster is not durable (fsync off): it is
# thrown away anyway, and the tests run faster. initdb refuses to run as
# root, so as root the cluster belongs to the "postgres" user (created by
# the package), and clients connect over the socket with trust auth.
set -euo pipefail

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

find_bin() {
  local name=$1 d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
  done
  command -v "$name" 2>/dev/null && return 0
  return 1
}

ensure_installed() {
  if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then return 0; fi
  log "initdb/pg_ctl missing: installing the postgresql package"
  if [ "$(id -u)" != 0 ]; then log "not root: install postgresql yourself"; exit 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  find_bin initdb >/dev/null || { log "initdb still missing after install"; exit 1; }
}

# as_owner runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

start() {
  ensure_installed
  local initdb pg_ctl psql dir
  initdb=$(find_bin initdb); pg_ctl=$(find_bin pg_ctl); psql=$(find_bin psql)
  dir="${DIRSYNC_PG_DIR:-$(mktemp -d /tmp/dirsync-pg.XXXXXX)}"
  mkdir -p "$dir/data" "$dir/sock"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" postgres
    chown -R postgres "$dir"
    chmod 755 "$dir"
  fi
  as_owner "$initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner "$pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses='' -c unix_socket_directories=$dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >&2 || { cat "$dir/server.log" >&2; exit 1; }
  as_owner "$psql" -h "$dir/sock" -U postgres -d postgres -qc 'CREATE DATABASE dirsync' >&2
  log "PostgreSQL running in $dir"
  echo "export DIRSYNC_PG_DIR=$dir"
  echo "export DIRSYNC_PG_URL='postgres://postgres@/dirsync?host=$dir/sock&sslmode=disable'"
}

stop() {
  local dir="${DIRSYNC_PG_DIR:-}"
  [ -n "$dir" ] || { log "DIRSYNC_PG_DIR not set"; exit 1; }
  [ -d "$dir/data" ] || { log "no cluster in $dir"; exit 0; }
  as_owner "$(find_bin pg_ctl)" -D "$dir/data" -m immediate -w stop >&2 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
