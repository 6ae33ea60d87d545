#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A throwaway PostgreSQL for the fleet suites (store.url; docs/fleet.md): Debian's PostgreSQL
# (/usr/lib/postgresql/15/bin, else the newest /usr/lib/postgresql/*/bin; PG_BIN overrides),
# initdb into DIR/data with trust authentication, listening only on 127.0.0.1:PORT (a free
# port, chosen once and kept in DIR/port) and on a Unix socket in DIR, fsync off, a database
# "tlspolicy". No system service, nothing outside DIR. PostgreSQL refuses to run as root: as
# root, every PostgreSQL program runs as the system user "postgres" (runuser), and DIR is
# chowned to it (every directory above DIR must be searchable by it).
#
#   tests/integration/pg.sh start DIR     initdb (first time only) and start; idempotent (a
#                                         running server is left as it is); prints the URL
#                                         postgresql://postgres@127.0.0.1:PORT/tlspolicy
#   tests/integration/pg.sh stop DIR      stop (fast shutdown, bounded wait, SIGKILL after),
#                                         then remove DIR; idempotent
#   tests/integration/pg.sh halt DIR      stop, keeping DIR: `start DIR` brings the same data
#                                         back on the same port (an outage)
#   tests/integration/pg.sh restart DIR   pg_ctl restart -m fast (same data, same port)
#   tests/integration/pg.sh url DIR       print the URL
#   tests/integration/pg.sh running DIR   exit 0 when the server runs
#   tests/integration/pg.sh psql DIR ARG...  psql -X on the Unix socket, database tlspolicy
#
# Also sourced: the same as functions pg_start, pg_stop, pg_halt, pg_restart, pg_url,
# pg_running, pg_psql (each DIR as its argument). Every function returns non-zero with a
# message on stderr when it fails, and a failed start leaves no server running (the log,
# DIR/postgres.log, is printed). The server inherits the caller's environment (runuser keeps
# it), TLSPOLICY_TEST_MARK included: tests/integration/run finds a postmaster left behind (its
# children overwrite their environment with their process titles; they end with it). A suite
# stops what it started with `stop DIR`.

pg_bin_dir() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
  elif [ -x /usr/lib/postgresql/15/bin/postgres ]; then
    echo /usr/lib/postgresql/15/bin
  else
    local d best=""
    for d in /usr/lib/postgresql/*/bin; do
      [ -x "$d/postgres" ] && best="$d"
    done
    [ -n "$best" ] || { echo "pg.sh: no PostgreSQL server in /usr/lib/postgresql/*/bin" >&2; return 1; }
    # The glob sorts 10 before 9: pick the highest version by number.
    for d in /usr/lib/postgresql/*/bin; do
      [ -x "$d/postgres" ] || continue
      if [ "$(basename "$(dirname "$d")" | tr -cd 0-9)" -gt \
        "$(basename "$(dirname "$best")" | tr -cd 0-9)" ]; then best="$d"; fi
    done
    echo "$best"
  fi
}

# pg_as CMD...: run CMD as the "postgres" user when we are root, else as ourselves.
pg_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_err() {
  printf 'pg.sh: %s\n' "$*" >&2
  return 1
}

# pg_dir DIR: DIR made absolute (it must exist).
pg_dir() { (cd "$1" 2>/dev/null && pwd) || pg_err "no directory $1"; }

pg_free_port() {
  python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pg_port() { cat "$1/port" 2>/dev/null || pg_err "no server was set up in $1 (no $1/port)"; }

pg_url() {
  local dir port
  dir="$(pg_dir "${1:?pg_url DIR}")" || return 1
  port="$(pg_port "$dir")" || return 1
  echo "postgresql://postgres@127.0.0.1:$port/tlspolicy"
}

pg_running() {
  local dir bin
  dir="$(pg_dir "${1:?pg_running DIR}")" || return 1
  [ -f "$dir/data/PG_VERSION" ] || return 1
  bin="$(pg_bin_dir)" || return 1
  (cd "$dir" && pg_as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1)
}

# pg_postmaster_pid DIR: the postmaster's pid from DIR/data/postmaster.pid, if any.
pg_postmaster_pid() { head -n 1 "$1/data/postmaster.pid" 2>/dev/null | tr -cd 0-9; }

# pg_kill DIR: SIGKILL the postmaster and its children (the last resort of a failed stop).
pg_kill() {
  local dir="$1" pid kids i
  pid="$(pg_postmaster_pid "$dir")"
  [ -n "$pid" ] || return 0
  kids="$(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ' || true)"
  # shellcheck disable=SC2086  # a list of pids
  kill -KILL "$pid" $kids 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  rm -f "$dir/data/postmaster.pid"
}

pg_init() {  # pg_init DIR: initdb and configuration, once
  local dir="$1" bin="$2" port
  [ -f "$dir/data/PG_VERSION" ] && return 0
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || pg_err "running as root needs the system user postgres" || return 1
    chown postgres: "$dir" || return 1
    runuser -u postgres -- test -w "$dir" ||
      pg_err "the user postgres cannot write $dir (is every directory above it searchable?)" ||
      return 1
  fi
  rm -rf "$dir/data"
  if ! (cd "$dir" && pg_as "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
    --locale=C --no-sync) >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    rm -rf "$dir/data"
    pg_err "initdb failed in $dir/data"
    return 1
  fi
  port="$(pg_free_port)" || return 1
  cat >>"$dir/data/postgresql.conf" <<EOF

# tests/integration/pg.sh: a throwaway server for the fleet suites
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
logging_collector = off
log_line_prefix = '%m [%p] %a '
EOF
  echo "$port" >"$dir/port"
}

pg_start() {
  local dir bin port i
  mkdir -p "${1:?pg_start DIR}" || return 1
  dir="$(pg_dir "$1")" || return 1
  bin="$(pg_bin_dir)" || return 1
  pg_init "$dir" "$bin" || return 1
  port="$(pg_port "$dir")" || return 1
  if ! pg_running "$dir"; then
    rm -f "$dir/data/postmaster.pid"  # stale, from a server killed outright
    if ! (cd "$dir" && pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
      start) >>"$dir/pg_ctl.log" 2>&1; then
      cat "$dir/pg_ctl.log" >&2
      tail -n 50 "$dir/postgres.log" >&2 2>/dev/null || true
      (cd "$dir" && pg_as "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 10 stop) \
        >>"$dir/pg_ctl.log" 2>&1 || true
      pg_kill "$dir"
      pg_err "PostgreSQL did not start in $dir (port $port)"
      return 1
    fi
  fi
  # The database, once (createdb fails when it exists; a race with ourselves is none).
  for ((i = 0; i < 50; i++)); do
    if (cd "$dir" && pg_as "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'tlspolicy'") 2>>"$dir/pg_ctl.log" | grep -q 1; then
      break
    fi
    if (cd "$dir" && pg_as "$bin/createdb" -h "$dir" -p "$port" -U postgres tlspolicy) \
      >>"$dir/pg_ctl.log" 2>&1; then
      break
    fi
    sleep 0.1
  done
  if [ "$i" = 50 ]; then
    cat "$dir/pg_ctl.log" >&2
    pg_stop_server "$dir" "$bin" || true
    pg_err "could not create the database tlspolicy in $dir"
    return 1
  fi
  pg_url "$dir"
}

# pg_stop_server DIR BIN: fast shutdown, bounded; SIGKILL when it does not end.
pg_stop_server() {
  local dir="$1" bin="$2"
  [ -f "$dir/data/postmaster.pid" ] || return 0
  if ! (cd "$dir" && pg_as "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 20 stop) \
    >>"$dir/pg_ctl.log" 2>&1; then
    if pg_running "$dir"; then
      echo "pg.sh: PostgreSQL in $dir ignored a fast shutdown: SIGKILL" >&2
    fi
    pg_kill "$dir"
  fi
}

pg_halt() {
  local dir bin
  [ -d "${1:?pg_halt DIR}" ] || return 0
  dir="$(pg_dir "$1")" || return 1
  bin="$(pg_bin_dir)" || return 1
  pg_stop_server "$dir" "$bin"
}

pg_stop() {
  local dir bin
  [ -d "${1:?pg_stop DIR}" ] || return 0
  dir="$(pg_dir "$1")" || return 1
  bin="$(pg_bin_dir)" || return 1
  pg_stop_server "$dir" "$bin"
  if pg_running "$dir"; then
    pg_err "PostgreSQL in $dir still runs; $dir kept"
    return 1
  fi
  rm -rf "$dir"
}

pg_restart() {
  local dir bin
  dir="$(pg_dir "${1:?pg_restart DIR}")" || return 1
  bin="$(pg_bin_dir)" || return 1
  if ! pg_running "$dir"; then
    pg_start "$dir" >/dev/null
    return
  fi
  if ! (cd "$dir" && pg_as "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -m fast -w \
    -t 30 restart) >>"$dir/pg_ctl.log" 2>&1; then
    cat "$dir/pg_ctl.log" >&2
    pg_err "pg_ctl restart failed in $dir"
    return 1
  fi
}

pg_psql() {
  local dir bin port
  dir="$(pg_dir "${1:?pg_psql DIR [ARG...]}")" || return 1
  shift
  bin="$(pg_bin_dir)" || return 1
  port="$(pg_port "$dir")" || return 1
  (cd "$dir" && pg_as "$bin/psql" -X -h "$dir" -p "$port" -U postgres -d tlspolicy "$@")
}

# Executed rather than sourced: one command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  case "${1:-}" in
    start | stop | halt | restart | url | running | psql)
      cmd="$1"
      shift
      [ $# -ge 1 ] || { echo "usage: $0 $cmd DIR" >&2; exit 64; }
      "pg_$cmd" "$@"
      ;;
    *)
      echo "usage: $0 start|stop|halt|restart|url|running|psql DIR [ARG...]" >&2
      exit 64
      ;;
  esac
fi
