# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Real mail-server clients for the suites: Postfix's own socketmap client (postmap, from the
# postfix package) and Exim's ${readsocket} (the exim4 binary that tools/install-deps.sh unpacks
# into /opt/tlspolicy-test/exim without installing the package, which conflicts with postfix).
# Sourced by suites (bash, set -euo pipefail). Every function works in its own temporary
# directory and removes it before returning; nothing is left behind. Run as root (Exim's -C
# with a configuration outside /etc/exim4 is accepted from root without trusted_config_list).
#
#   clients_missing              print what is missing, return 1 if anything is
#   probe_clients                exit 77 with the reason when a client is missing
#   postfix_config_dir DIR       write a minimal main.cf into DIR, for your own `postmap -c DIR`
#   postfix_query SOCKET MAPNAME KEY
#                                postmap -q KEY socketmap:unix:SOCKET:MAPNAME; prints one line:
#                                "OK <value>" | "NOTFOUND" | "TEMP <reason>" | "PERM <reason>"
#                                | "ERROR <postmap's last message>" (anything else: bad reply,
#                                no server, ...). Returns 0 for OK/NOTFOUND/TEMP/PERM, 1 for ERROR.
#   exim_config FILE [SOCKET]    write an Exim configuration to FILE: the main options Exim needs
#                                (users, spool and log directories next to FILE, hostname), the
#                                macro TLSPOLICY_SOCKET=SOCKET when given, then stdin (routers,
#                                transports, more macros) when stdin is not a terminal
#   exim_expand SOCKET STRING    exim -be STRING with a minimal configuration in which the macro
#                                TLSPOLICY_SOCKET is SOCKET; prints the expansion. Returns 1 and
#                                prints Exim's "Failed: ..." message on stderr when it fails.
#   exim_route CONFIG ADDRESS    exim -bt ADDRESS (routing only, nothing is sent); prints Exim's
#                                output (stdout and stderr), returns Exim's exit code
#   exim_option CONFIG ARG...    exim -bP ARG... (e.g. `transport NAME`); prints the options
#
# Observed behaviour of the clients these wrap (Postfix 3.7.11, Exim 4.96, Debian 12) is in
# docs/testing.md, "Real Postfix and Exim".

CLIENTS_EXIM_DIR="${TLSPOLICY_EXIM_DIR:-/opt/tlspolicy-test/exim}"
CLIENTS_EXIM="$CLIENTS_EXIM_DIR/usr/sbin/exim4"
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH="$PATH:/usr/sbin:/sbin" ;; esac

clients_missing() {
  local missing=() out
  command -v postmap >/dev/null 2>&1 || missing+=("postmap (package postfix)")
  if [ ! -x "$CLIENTS_EXIM" ]; then
    missing+=("exim ($CLIENTS_EXIM)")
  else
    out="$("$CLIENTS_EXIM" -bV 2>&1 || true)"  # exits 1 without /etc/exim4, still prints
    grep -q '^Exim version' <<<"$out" || missing+=("a working $CLIENTS_EXIM")
  fi
  [ "$(id -u)" = 0 ] || missing+=("root (exim -C)")
  if [ "${#missing[@]}" -gt 0 ]; then
    printf '%s\n' "${missing[*]}"
    return 1
  fi
}

probe_clients() {
  local missing
  if ! missing="$(clients_missing)"; then
    echo "SKIP: client tests need: $missing (tools/install-deps.sh installs them)" >&2
    exit 77
  fi
}

# postfix_config_dir DIR: a throwaway Postfix configuration directory for `postmap -c DIR`
# (postmap reads only main.cf). myhostname and mydomain are set: otherwise Postfix resolves the
# machine's short host name at every start.
postfix_config_dir() {
  mkdir -p "$1"
  printf '%s\n' 'compatibility_level = 3.6' 'myhostname = postfix.clients.test' \
    'mydomain = clients.test' 'inet_protocols = ipv4' >"$1/main.cf"
  # Postfix re-reads a main.cf modified within the last 2 seconds until it is older (a file still
  # being edited), about 2 s per call: backdate it.
  touch -d '2000-01-01 00:00:00' "$1/main.cf"
}

# postfix_query SOCKET MAPNAME KEY
# postmap (dict_sockmap) maps the replies so: "OK v" -> v on stdout, exit 0; "NOTFOUND " -> no
# output, exit 1; "TEMP r" -> stderr "warning: ... socketmap server temporary error: r" then
# "fatal: ... query error: Application error", exit 1; "PERM r" -> "... socketmap server
# permanent error: r", "fatal: ... query error", exit 1; anything else -> "... socketmap server
# unknown error: ..." (or a connect/lookup error), fatal, exit 1.
postfix_query() {
  local sock="$1" map="$2" key="$3" tmp rc=0 line
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-postmap.XXXXXX")"
  postfix_config_dir "$tmp/etc"
  postmap -c "$tmp/etc" -q "$key" "socketmap:unix:$sock:$map" >"$tmp/out" 2>"$tmp/err" || rc=$?
  if [ "$rc" = 0 ]; then
    echo "OK $(cat "$tmp/out")"
  elif [ "$rc" = 1 ] && [ ! -s "$tmp/err" ] && [ ! -s "$tmp/out" ]; then
    echo "NOTFOUND"
  elif line="$(grep -m1 -o 'socketmap server temporary error: .*' "$tmp/err")"; then
    echo "TEMP ${line#socketmap server temporary error: }"
  elif line="$(grep -m1 -o 'socketmap server permanent error: .*' "$tmp/err")"; then
    echo "PERM ${line#socketmap server permanent error: }"
  else
    line="$(grep -v '^[[:space:]]*$' "$tmp/err" | tail -n 1 || true)"
    echo "ERROR (exit $rc) ${line:-no message}"
    rc=ERROR
  fi
  rm -rf "$tmp"
  [ "$rc" != ERROR ]
}

# exim_config FILE [SOCKET] [< BODY]
exim_config() {
  local file="$1" sock="${2:-}" dir
  mkdir -p "$(dirname "$file")"
  dir="$(cd "$(dirname "$file")" && pwd)"
  mkdir -p "$dir/spool" "$dir/log"
  {
    echo "# written by tests/integration/clients.sh exim_config"
    [ -z "$sock" ] || echo "TLSPOLICY_SOCKET = $sock"
    # The unpacked binary is not where Debian's build says (/usr/sbin/exim4): Exim re-executes
    # itself for deliveries.
    echo "exim_path = $CLIENTS_EXIM"
    echo "exim_user = Debian-exim"
    echo "exim_group = Debian-exim"
    echo "primary_hostname = exim.clients.test"
    echo "qualify_domain = clients.test"
    echo "spool_directory = $dir/spool"
    echo "log_file_path = $dir/log/%slog"
    echo "keep_environment ="
    [ -t 0 ] || cat
  } >"$file"
  chmod 644 "$file"
}

# exim_expand SOCKET STRING
exim_expand() {
  local sock="$1" string="$2" tmp out rc=0
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/tlspolicy-exim.XXXXXX")"
  exim_config "$tmp/exim.conf" "$sock" </dev/null
  out="$("$CLIENTS_EXIM" -C "$tmp/exim.conf" -be "$string" 2>"$tmp/err")" || rc=$?
  # -be prints a failed expansion as "Failed: MESSAGE" on stdout and still exits 0.
  if [ "$rc" != 0 ] || [[ "$out" == "Failed: "* ]]; then
    { printf '%s\n' "$out"; cat "$tmp/err"; } >&2
    rm -rf "$tmp"
    return 1
  fi
  printf '%s\n' "$out"
  rm -rf "$tmp"
}

# exim_route CONFIG ADDRESS
exim_route() {
  "$CLIENTS_EXIM" -C "$1" -bt "$2" 2>&1
}

# exim_option CONFIG ARG...
exim_option() {
  local conf="$1"
  shift
  "$CLIENTS_EXIM" -C "$conf" -bP "$@"
}
