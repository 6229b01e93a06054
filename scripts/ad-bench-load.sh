#!/usr/bin/env bash
# Loads a generated company of N users (default 100,000) into a freshly
# provisioned Samba DC by an offline import, then starts the DC: the
# fixture of BENCHMARKS.md's "AD at 100k". Over LDAP (connector/ad's test
# fixture, four connections) 10,000 users take 4 to 5 minutes on the
# shared 2-vCPU machine, so 100,000 would take 40 to 50; written straight
# into the stopped DC's database with ldbadd (no network, TLS or access
# checks) 100,000 took 15 minutes there (920 s, load average 4 to 9).
#
#   bash scripts/ad-bench-load.sh [N]   provision, import, start; prints the
#                                       DIRSYNC_AD_* variables (eval them)
#
# The DC is scripts/samba.sh's, in ${DIRSYNC_SAMBA_DIR:-/tmp/dirsync-samba}:
# that directory must not hold a running DC (it is provisioned anew), and
# its database is replaced. Everything sits under
# OU=dirsync-bench,DC=example,DC=test (internal/cmd/adbenchldif describes
# the company: 28 OUs, managers, 5% disabled, 1% expired, 9 groups). To
# keep another DC on the same ports running, run this one in a network
# namespace of its own (with ldb-tools installed beforehand: apt has no
# network there):
#
#   ip netns add ds100k && ip netns exec ds100k ip link set lo up
#   export DIRSYNC_SAMBA_DIR=/tmp/dirsync-samba-100k
#   eval "$(ip netns exec ds100k bash scripts/ad-bench-load.sh 100000)"
#   ... every command that talks to the DC: ip netns exec ds100k ...
#   ip netns exec ds100k bash scripts/samba.sh stop && ip netns del ds100k
#
# The import runs in chunks of ${DIRSYNC_AD_LOAD_CHUNK:-10000} records (one
# ldbadd transaction each), reporting progress on stderr; a failed chunk
# stops the load with ldbadd's message. Two ldb options make it linear:
# batch_mode (no nested transaction per record: a failed record fails the
# whole chunk, which is all a throwaway load needs) and a transaction index
# cache sized for the load. Without them each add copies index lists that
# grow with the directory: 10,000 users took more than 100 s of CPU and
# rising, against 29 s with them (Samba 4.17, ldb 2.6).
set -euo pipefail

N="${1:-100000}"
DIR="${DIRSYNC_SAMBA_DIR:-/tmp/dirsync-samba}"
CHUNK="${DIRSYNC_AD_LOAD_CHUNK:-10000}"
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"

log() { printf 'ad-bench-load.sh: %s\n' "$*" >&2; }

if ! command -v ldbadd >/dev/null; then
  if [ "$(id -u)" != 0 ]; then log "ldbadd missing (Debian package ldb-tools); need root to install it"; exit 1; fi
  log "installing ldb-tools"
  # In a network namespace of its own apt cannot reach the mirror: install
  # ldb-tools outside it first.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ldb-tools >/dev/null ||
    { log "could not install ldb-tools (in a network namespace? run apt-get install ldb-tools outside it first)"; exit 1; }
fi
if [ -f "$DIR/samba.pid" ] && kill -0 "$(cat "$DIR/samba.pid")" 2>/dev/null; then
  log "a DC is running under $DIR; stop it first (bash scripts/samba.sh stop)"; exit 1
fi

bash "$HERE/samba.sh" provision

work="$DIR/bench-load"
mkdir -p "$work"
log "generating $N users"
(cd "$ROOT" && go run ./internal/cmd/adbenchldif -users "$N") >"$work/company.ldif"
# Split on record boundaries (blank lines), CHUNK records a file, in order:
# a record only refers to records before it.
rm -f "$work"/chunk-*.ldif
awk -v chunk="$CHUNK" -v dir="$work" '
  BEGIN { RS = ""; ORS = "\n\n" }
  { if ((NR - 1) % chunk == 0) { if (f) close(f); f = sprintf("%s/chunk-%05d.ldif", dir, (NR - 1) / chunk) } print > f }
' "$work/company.ldif"

start=$SECONDS
done_records=0
for f in "$work"/chunk-*.ldif; do
  n=$(grep -c '^dn' "$f")
  out=$(ldbadd --nosync -o batch_mode:1 -o transaction_index_cache_size:"$((N * 4))" \
    --configfile="$DIR/etc/smb.conf" -H "$DIR/private/sam.ldb" "$f" 2>&1) ||
    { log "ldbadd $f failed:"; printf '%s\n' "$out" | tail -5 >&2; exit 1; }
  if ! printf '%s\n' "$out" | grep -q "Added $n records successfully"; then
    log "ldbadd $f did not add all $n records:"; printf '%s\n' "$out" | tail -5 >&2; exit 1
  fi
  done_records=$((done_records + n))
  log "$done_records records imported ($((SECONDS - start)) s)"
done
rm -rf "$work"
log "imported $done_records records in $((SECONDS - start)) s"

bash "$HERE/samba.sh" start | sed 's/^export DIRSYNC_AD_BASE=.*/export DIRSYNC_AD_BASE="OU=dirsync-bench,DC=example,DC=test"/'
