#!/usr/bin/env bash
# A throwaway Samba Active Directory domain controller on loopback, for the
# connector/ad integration tests.
#
#   bash scripts/samba.sh start   install (when missing), provision, start, wait
#   bash scripts/samba.sh provision   install and provision only, DC not started
#                                 (an offline import such as scripts/ad-bench-load.sh
#                                 writes into the database before the first start)
#   bash scripts/samba.sh env     print the DIRSYNC_AD_* variables (eval them)
#   bash scripts/samba.sh stop    stop the DC and remove its directory
#
# Everything lives under ${DIRSYNC_SAMBA_DIR:-/tmp/dirsync-samba}: the
# provisioned database, smb.conf, pid/lock/state/cache/log directories, and a
# CA plus server certificate generated here with openssl (Samba's own
# self-signed certificate can carry a negative serial number, which Go
# refuses to parse). The DC listens on 127.0.0.1 only (LDAP 389, LDAPS 636).
# Its database is not fsync-ed (ldb:nosync): it is thrown away anyway, and
# loading the test fixture is several times faster.
# Both ports are fixed, so only one such DC can run per network namespace:
# a second DC runs in a namespace of its own, with its own directory, e.g.
#   ip netns add ds100k && ip netns exec ds100k ip link set lo up
#   DIRSYNC_SAMBA_DIR=/tmp/dirsync-samba-100k ip netns exec ds100k bash scripts/samba.sh start
# (DIRSYNC_SAMBA_DIR holds every file of the DC: nothing is shared with
# another directory's DC but the installed packages).
set -euo pipefail

DIR="${DIRSYNC_SAMBA_DIR:-/tmp/dirsync-samba}"
REALM=EXAMPLE.TEST
DOMAIN=EXAMPLE
BASE="DC=example,DC=test"
ADMINPASS="${DIRSYNC_SAMBA_ADMINPASS:-Dirsync-Test-Passw0rd}"
WAIT_SECONDS="${DIRSYNC_SAMBA_WAIT:-90}"

log() { printf 'samba.sh: %s\n' "$*" >&2; }

print_env() {
  cat <<EOF
export DIRSYNC_AD_URL=ldaps://127.0.0.1:636
export DIRSYNC_AD_BIND=Administrator@$REALM
export DIRSYNC_AD_PASSWORD=$ADMINPASS
export DIRSYNC_AD_BASE="$BASE"
export DIRSYNC_AD_CA=$DIR/tls/ca.pem
export DIRSYNC_AD_THROWAWAY=1
EOF
}

install_packages() {
  # samba-ad-dc's Recommends include samba-ad-provision (the provisioning
  # data), so recommended packages are installed too.
  local missing=() pkg
  for pkg in samba samba-ad-dc samba-ad-provision ldap-utils openssl iproute2; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  log "installing ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then log "need root to install packages"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  local aptlog; aptlog=$(mktemp)
  { apt-get update -qq && apt-get install -y -qq samba samba-ad-dc ldap-utils openssl iproute2; } >"$aptlog" 2>&1 ||
    { log "apt-get failed:"; tail -30 "$aptlog" >&2; rm -f "$aptlog"; exit 1; }
  rm -f "$aptlog"
}

# running reports whether our DC process is alive.
running() {
  [ -f "$DIR/samba.pid" ] && kill -0 "$(cat "$DIR/samba.pid")" 2>/dev/null
}

ldaps_ready() {
  LDAPTLS_CACERT="$DIR/tls/ca.pem" LDAPTLS_REQCERT=demand timeout 10 \
    ldapsearch -H ldaps://127.0.0.1:636 -x -D "Administrator@$REALM" -w "$ADMINPASS" \
    -b "$BASE" -s base dn >/dev/null 2>&1
}

# free_ports stops a system Samba holding the LDAP ports: only processes
# that listen on 389 or 636 and are Samba daemons, by process id.
free_ports() {
  local pids pid name
  pids=$(ss -ltnpH '( sport = :389 or sport = :636 )' 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  for pid in $pids; do
    if running && [ "$pid" = "$(cat "$DIR/samba.pid")" ]; then continue; fi
    name=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$name" in
      samba|smbd|nmbd|winbindd|slapd)
        log "stopping $name (pid $pid), which holds an LDAP port"
        kill "$pid" 2>/dev/null || true ;;
      *)
        log "port 389/636 held by $name (pid $pid); not touching it"; exit 1 ;;
    esac
  done
  for _ in $(seq 1 20); do
    if ! ss -ltnH '( sport = :389 or sport = :636 )' 2>/dev/null | grep -q .; then return; fi
    sleep 0.5
  done
}

make_certs() {
  local t="$DIR/tls"
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=dirsync test CA" \
    -keyout "$t/ca-key.pem" -out "$t/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$t/key.pem" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:dc.example.test\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$t/ext.cnf"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" \
    -set_serial "0x$(openssl rand -hex 8 | sed 's/^./1/')" -days 30 \
    -extfile "$t/ext.cnf" -out "$t/cert.pem" 2>/dev/null
  chmod 600 "$t/key.pem" "$t/ca-key.pem"
}

provision() {
  rm -rf "$DIR"
  mkdir -p "$DIR"/{run,lock,state,cache,log,private}
  make_certs
  log "provisioning $REALM under $DIR"
  samba-tool domain provision --targetdir="$DIR" --realm="$REALM" --domain="$DOMAIN" \
    --adminpass="$ADMINPASS" --server-role=dc --dns-backend=NONE --use-rfc2307 \
    --host-name=dc \
    --option="interfaces=lo" --option="bind interfaces only=yes" \
    --option="pid directory=$DIR/run" --option="lock directory=$DIR/lock" \
    --option="state directory=$DIR/state" --option="cache directory=$DIR/cache" \
    --option="log file=$DIR/log/samba.log" --option="ncalrpc dir=$DIR/run/ncalrpc" \
    --option="winbindd socket directory=$DIR/run/winbindd" \
    --option="server services=ldap" --option="ldb:nosync=true" \
    --option="tls enabled=yes" --option="tls keyfile=$DIR/tls/key.pem" \
    --option="tls certfile=$DIR/tls/cert.pem" --option="tls cafile=$DIR/tls/ca.pem" \
    >"$DIR/log/provision.log" 2>&1 || { log "provision failed:"; tail -30 "$DIR/log/provision.log" >&2; exit 1; }
  touch "$DIR/.provisioned"
}

start() {
  install_packages
  if running && ldaps_ready; then log "already running"; print_env; return; fi
  if running; then kill "$(cat "$DIR/samba.pid")" 2>/dev/null || true; sleep 1; fi
  free_ports
  if [ ! -f "$DIR/.provisioned" ]; then provision; fi
  log "starting samba"
  setsid samba -s "$DIR/etc/smb.conf" -i -M single </dev/null >"$DIR/log/samba.out" 2>&1 &
  echo $! >"$DIR/samba.pid"
  local deadline=$((SECONDS + WAIT_SECONDS))
  until ldaps_ready; do
    if ! running; then log "samba exited:"; tail -30 "$DIR/log/samba.out" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then log "LDAPS did not answer within ${WAIT_SECONDS}s"; tail -30 "$DIR/log/samba.out" >&2; exit 1; fi
    sleep 1
  done
  log "LDAPS answers on 127.0.0.1:636"
  print_env
}

stop() {
  if running; then
    local pid; pid=$(cat "$DIR/samba.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  case "$DIR" in /|"") ;; *) rm -rf "$DIR" ;; esac
}

provision_only() {
  install_packages
  if running; then log "the DC under $DIR is running; stop it first"; exit 1; fi
  provision
  log "provisioned under $DIR (not started)"
}

case "${1:-}" in
  start) start ;;
  provision) provision_only ;;
  stop) stop ;;
  env) print_env ;;
  *) echo "usage: $0 start|provision|stop|env" >&2; exit 2 ;;
esac
