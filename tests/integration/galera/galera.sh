#!/bin/bash
# A throw-away three-node MariaDB Galera cluster on 127.0.0.1 for the Galera tests.
#   galera.sh start DIR        start nodes 1-3 (node 1 bootstraps the cluster), wait until all
#                              three are Synced; writes DIR/url (mysql://USER:PW@h:p1,h:p2,h:p3/)
#                              and DIR/node<N>.port
#   galera.sh stop DIR         stop every node, remove the data
#   galera.sh kill DIR N       kill -9 node N
#   galera.sh stop-node DIR N  stop node N cleanly (SIGTERM)
#   galera.sh start-node DIR N start node N again as a joiner (IST from the others) and wait
#                              until it is Synced
#   galera.sh status DIR N     node N's wsrep_local_state_comment and cluster size
# The traps (DESIGN.md): every node has its own ports (SQL, gmcast.listen_addr, ist.recv_addr,
# wsrep_sst_receive_address); the first starts with --wsrep-new-cluster; the joiners' data
# folders stay empty (no mariadb-install-db) and writable by everyone, or rsync SST run as root
# fails with "Permission denied" on ibdata1 and the joiner aborts; and the donor's folder must
# have that mode too (below).
set -euo pipefail

cmd=${1:?usage: galera.sh start|stop|kill|stop-node|start-node|status DIR [N]}
dir=${2:?usage: galera.sh COMMAND DIR [N]}
provider=/usr/lib/galera/libgalera_smm.so

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

sql() {  # sql N STATEMENT: as root over node N's socket
  mariadb --no-defaults --socket="$dir/node$1.sock" -uroot -N -B -e "$2"
}

node_status() {
  sql "$1" "SHOW STATUS WHERE Variable_name IN ('wsrep_local_state_comment','wsrep_cluster_size','wsrep_ready')" 2>/dev/null |
    awk '{printf "%s=%s ", $1, $2}'
}

wait_synced() {  # wait_synced N SECONDS
  local n=$1 limit=$2 s=""
  for _ in $(seq $((limit * 5))); do
    s=$(node_status "$n" || true)
    if [[ "$s" == *"wsrep_local_state_comment=Synced"* && "$s" == *"wsrep_ready=ON"* ]]; then
      return 0
    fi
    if ! kill -0 "$(cat "$dir/node$n.mariadbd" 2>/dev/null || echo 999999)" 2>/dev/null; then
      echo "galera.sh: node $n died; its log:" >&2
      tail -40 "$dir/node$n.err" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "galera.sh: node $n not Synced after ${limit}s ($s); its log:" >&2
  tail -40 "$dir/node$n.err" >&2
  return 1
}

start_node() {  # start_node N [--wsrep-new-cluster]
  local n=$1
  shift
  local data
  data=$(cat "$dir/node$n.datadir")
  local cluster="gcomm://127.0.0.1:$(cat "$dir/node1.gcomm"),127.0.0.1:$(cat "$dir/node2.gcomm"),127.0.0.1:$(cat "$dir/node3.gcomm")"
  rm -f "$dir/node$n.pid"
  # A node that was killed has no saved position (grastate.dat seqno -1): recover it from InnoDB
  # first, as Debian's galera_recovery does, so that it rejoins with IST instead of a full SST.
  local position=()
  if [[ -f "$data/grastate.dat" ]] && grep -q '^seqno: *-1' "$data/grastate.dat"; then
    local recovered
    mariadbd --no-defaults --user=root --datadir="$data" --binlog-format=ROW --wsrep-on=ON \
      --wsrep-provider="$provider" --wsrep-cluster-address="$cluster" --wsrep-recover \
      --skip-networking --socket="$dir/node$n.recover.sock" \
      --log-error="$dir/node$n.recover.err" --innodb-buffer-pool-size=64M \
      --innodb-log-file-size=32M >/dev/null 2>&1 || true
    recovered=$(grep -o 'Recovered position: .*' "$dir/node$n.recover.err" 2>/dev/null |
      tail -1 | awk '{print $3}' || true)
    if [[ -n "$recovered" ]]; then position=(--wsrep-start-position="$recovered"); fi
  fi
  mariadbd --no-defaults --user=root --datadir="$data" --bind-address=127.0.0.1 \
    --port="$(cat "$dir/node$n.port")" --socket="$dir/node$n.sock" --pid-file="$dir/node$n.pid" \
    --log-error="$dir/node$n.err" --skip-name-resolve \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=32M --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --max-connections=300 \
    --wsrep-on=ON --wsrep-provider="$provider" --wsrep-cluster-name=gpucloud_test \
    --wsrep-node-name="node$n" --wsrep-node-address="127.0.0.1:$(cat "$dir/node$n.gcomm")" \
    --wsrep-cluster-address="$cluster" \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$(cat "$dir/node$n.gcomm");ist.recv_addr=127.0.0.1:$(cat "$dir/node$n.ist");gcache.size=64M;evs.inactive_timeout=PT6S;evs.suspect_timeout=PT3S" \
    --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$(cat "$dir/node$n.sst")" \
    --wsrep-slave-threads=2 ${position[@]+"${position[@]}"} "$@" >/dev/null 2>&1 &
  echo $! >"$dir/node$n.mariadbd"
}

stop_node() {  # stop_node N SIGNAL
  local n=$1 sig=$2 pid
  pid=$(cat "$dir/node$n.mariadbd" 2>/dev/null || true)
  [[ -n "$pid" ]] || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/node$n.mariadbd"
}

stop_all() {
  for n in 1 2 3; do
    [[ -f "$dir/node$n.mariadbd" ]] && stop_node "$n" TERM
    if [[ -f "$dir/node$n.datadir" ]]; then rm -rf "$(cat "$dir/node$n.datadir")"; fi
  done
  rm -rf "$dir"
}

case "$cmd" in
  stop) stop_all; exit 0 ;;
  kill) stop_node "${3:?node}" KILL; exit 0 ;;
  stop-node) stop_node "${3:?node}" TERM; exit 0 ;;
  start-node) start_node "${3:?node}"; wait_synced "$3" 120; exit 0 ;;
  status) node_status "${3:?node}"; echo; exit 0 ;;
  start) ;;
  *) echo "galera.sh: unknown command $cmd" >&2; exit 2 ;;
esac

stop_all  # a cluster left over from an interrupted run
mkdir -p "$dir"
for n in 1 2 3; do
  # In memory when it can: nothing here needs durability, and InnoDB's fsyncs would dominate.
  if data=$(mktemp -d /dev/shm/gpucloud-galera.XXXXXX 2>/dev/null); then :; else
    data="$dir/data$n"
    mkdir -p "$data"
  fi
  echo "$data" >"$dir/node$n.datadir"
  for p in port gcomm ist sst; do free_port >"$dir/node$n.$p"; done
done
# Only the first node gets a system database; the joiners receive theirs by SST into an empty,
# world-writable folder.
mariadb-install-db --no-defaults --user=root --datadir="$(cat "$dir/node1.datadir")" \
  --auth-root-authentication-method=socket --skip-test-db >"$dir/install.log" 2>&1 ||
  { cat "$dir/install.log" >&2; exit 1; }
# Every data folder gets the same mode, the first one's too: rsync (which the SST script runs as
# `nobody` under root) copies the donor folder's mode onto the joiner's and may not chmod a
# folder it does not own, so a donor folder of 0700 fails the SST ("failed to set permissions").
chmod 0777 "$(cat "$dir/node1.datadir")" "$(cat "$dir/node2.datadir")" "$(cat "$dir/node3.datadir")"

start_node 1 --wsrep-new-cluster
wait_synced 1 60
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
sql 1 "CREATE USER 'gpucloud_test'@'127.0.0.1' IDENTIFIED BY '$password';
       GRANT ALL PRIVILEGES ON *.* TO 'gpucloud_test'@'127.0.0.1';"
start_node 2
wait_synced 2 120
start_node 3
wait_synced 3 120
for n in 1 2 3; do
  size=$(sql "$n" "SHOW STATUS LIKE 'wsrep_cluster_size'" | awk '{print $2}')
  [[ "$size" == 3 ]] || { echo "galera.sh: node $n sees a cluster of $size" >&2; exit 1; }
done
hosts="127.0.0.1:$(cat "$dir/node1.port"),127.0.0.1:$(cat "$dir/node2.port"),127.0.0.1:$(cat "$dir/node3.port")"
echo "mysql://gpucloud_test:$password@$hosts/" >"$dir/url"
chmod 0600 "$dir/url"
echo "galera: 3 nodes Synced on 127.0.0.1 ports $(cat "$dir/node1.port") $(cat "$dir/node2.port") $(cat "$dir/node3.port")"
