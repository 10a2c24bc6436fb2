#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the test suite and print its URL.
#
#   export VMSGW_TEST_POSTGRES_URL=$(bash .ci/postgres.sh | tail -n1)
#
# Works as root on a fresh Debian machine (installs the `postgresql` package
# when no server binaries exist; initdb refuses root, so the cluster runs as
# the `postgres` user) and as an ordinary user with the binaries installed.
# Every run creates a new cluster in a new temporary directory on a new free
# loopback port, so running it twice gives two independent servers.  Trust
# authentication on 127.0.0.1 only; fsync off: the data is disposable.
# The default collation is ICU "en" when available, so tests notice a column
# that needs COLLATE "C" for byte-wise comparisons and does not have it.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1
}

bindir=$(find_bindir)
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
    [[ $(id -u) -eq 0 ]] || { log "no PostgreSQL server binaries and not root: install the postgresql package"; exit 1; }
    log "installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bindir=$(find_bindir)
fi

if [[ $(id -u) -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    as_pg() { "$@"; }
fi

dir=$(mktemp -d /tmp/vmsgw-pg.XXXXXX)
chmod 755 "$dir"
[[ $(id -u) -eq 0 ]] && chown postgres: "$dir"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

if ! as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
        --locale-provider=icu --icu-locale=en --no-sync >"$dir/initdb.log" 2>&1; then
    log "ICU initdb failed (see $dir/initdb.log); falling back to libc C.UTF-8"
    rm -rf "$dir/data"
    as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$dir/initdb.log" 2>&1
fi

as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" >&2

for _ in $(seq 1 60); do
    "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" && break
    sleep 0.5
done
"$bindir/pg_isready" -h 127.0.0.1 -p "$port" >&2

stop="$bindir/pg_ctl -D $dir/data stop"
[[ $(id -u) -eq 0 ]] && stop="runuser -u postgres -- $stop"
log "cluster in $dir; stop it with: $stop"
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
