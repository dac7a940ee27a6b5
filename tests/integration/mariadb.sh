#!/bin/bash
# Starts or stops a throw-away MariaDB server for the integration tests: Debian's mariadbd on
# 127.0.0.1, a free port, a fresh data directory under DIR. `start DIR` writes DIR/url
# (mysql://gpucloud_test:PASSWORD@127.0.0.1:PORT/) once the server answers; `stop DIR` ends it
# and removes the data directory. Tests create one database each under that user; an empty
# database `gpucloud` is there too (bench/store_claims uses it).
set -euo pipefail

cmd=${1:?usage: mariadb.sh start|stop DIR}
dir=${2:?usage: mariadb.sh start|stop DIR}

stop() {
  if [[ -f "$dir/datadir" ]]; then data_to_remove=$(cat "$dir/datadir"); fi
  if [[ -f "$dir/mariadbd.pid" ]]; then
    pid=$(cat "$dir/mariadbd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir" ${data_to_remove:+"$data_to_remove"}
}

case "$cmd" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: mariadb.sh start|stop DIR" >&2; exit 2 ;;
esac

stop  # a server left over from an interrupted run
mkdir -p "$dir"
# The data lives in memory when it can: the tests create and drop many small databases, and
# InnoDB's DDL fsyncs would otherwise dominate their run time. Nothing here needs durability.
if data=$(mktemp -d /dev/shm/gpucloud-mariadb.XXXXXX 2>/dev/null); then
  echo "$data" >"$dir/datadir"
else
  data="$dir/data"
  mkdir -p "$data"
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

mariadb-install-db --no-defaults --user=root --datadir="$data" --auth-root-authentication-method=socket \
  --skip-test-db >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }

mariadbd --no-defaults --user=root --datadir="$data" --bind-address=127.0.0.1 --port="$port" \
  --socket="$dir/mariadbd.sock" --pid-file="$dir/mariadbd.pid" --skip-name-resolve \
  --innodb-buffer-pool-size=128M --innodb-log-file-size=32M --innodb-flush-log-at-trx-commit=2 \
  --innodb-doublewrite=0 --innodb-file-per-table=0 \
  --max-connections=200 --log-error="$dir/error.log" >/dev/null 2>&1 &

for _ in $(seq 300); do
  if mariadb --no-defaults --socket="$dir/mariadbd.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
    break
  fi
  sleep 0.1
done
mariadb --no-defaults --socket="$dir/mariadbd.sock" -uroot <<SQL
CREATE USER 'gpucloud_test'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON *.* TO 'gpucloud_test'@'127.0.0.1';
CREATE DATABASE gpucloud;
FLUSH PRIVILEGES;
SQL
echo "mysql://gpucloud_test:$password@127.0.0.1:$port/" >"$dir/url"
echo "mariadb on 127.0.0.1:$port, data in $dir"
