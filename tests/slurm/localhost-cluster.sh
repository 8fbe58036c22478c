#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm_cluster.py (docs/slurm.md).
#
#   tests/slurm/localhost-cluster.sh start    # as root: install, configure, start (idempotent)
#   tests/slurm/localhost-cluster.sh status   # what runs
#   tests/slurm/localhost-cluster.sh stop     # stop exactly the daemons `start` started
#
# Debian 12's packages (SLURM 22.05): munge, MariaDB, slurmdbd, slurmctld and one slurmd, with
# accounting, so that sacct and sacctmgr answer as on a real cluster. The node has this machine's
# CPUs, 80% of its memory and one GPU GRES (a dummy character device: no CUDA device behind it),
# and is in two partitions, `cpu` (the default) and `gpu`; the account `lesionmtl` is associated
# with root. Everything listens on loopback only (MariaDB on a socket alone). No systemd and no
# cgroups are needed: each daemon runs in the foreground, in the background of this script, and
# its PID is kept under the state folder ($LESIONMTL_SLURM_DIR, default /var/tmp/lesionmtl-slurm),
# with its configuration and logs. /etc/slurm/slurm.conf becomes a link to our slurm.conf (unless
# another file is there: then export SLURM_CONF as `status` prints it), so sinfo/sbatch need no
# set-up.
set -euo pipefail

STATE=${LESIONMTL_SLURM_DIR:-/var/tmp/lesionmtl-slurm}
ACCOUNT=lesionmtl
PACKAGES=(munge mariadb-server slurmdbd slurm-wlm-mysql-plugin slurmctld slurmd slurm-client)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)
FAKE_GPU=/dev/fakegpu0
HOST=$(hostname -s)
export SLURM_CONF=$STATE/etc/slurm.conf
export MYSQL_UNIX_PORT=$STATE/mysql/mysqld.sock # slurmdbd's MariaDB client connects here
MUNGE_SOCKET=/run/munge/munge.socket.2          # the default: sacctmgr 22.05 ignored AuthInfo=socket=...

say() { echo "localhost-cluster: $*" >&2; }
die() {
    say "$*"
    exit 1
}

running() { # running DAEMON: its PID file names a live process of that program
    local pid
    pid=$(cat "$STATE/run/$1.pid" 2>/dev/null) || return 1
    [[ -n $pid && -e /proc/$pid ]] && [[ $(cat "/proc/$pid/comm") == "$1"* ]]
}

wait_for() { # wait_for WHAT SECONDS COMMAND...: until COMMAND succeeds
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq "$seconds"); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
    done
    die "$what did not come up in ${seconds}s; see $STATE/log/"
}

launch() { # launch DAEMON COMMAND...: in the foreground of a background process; keep its PID
    local name=$1
    shift
    if running "$name"; then
        say "$name runs already (pid $(cat "$STATE/run/$name.pid"))"
        return
    fi
    setsid "$@" </dev/null >>"$STATE/log/$name.out" 2>&1 &
    echo $! >"$STATE/run/$name.pid"
    say "$name started (pid $!)"
}

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    ((${#missing[@]})) || return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    say "installing ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    # The packages' own services (munge, MariaDB, the SLURM daemons) must not start on their
    # defaults during the install: this script starts each on loopback itself. policy-rc.d says so
    # to invoke-rc.d, for this install only.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    local installed=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        installed=$?
    ((made_policy)) && rm -f "$policy"
    ((installed == 0)) || die "could not install ${missing[*]} (apt-get install)"
}

write_configs() {
    mkdir -p "$STATE"/{etc,run,log,munge,mysql,ctld,spool}
    chmod 700 "$STATE" "$STATE/munge"
    [[ -e $FAKE_GPU ]] || mknod "$FAKE_GPU" c 195 0
    local cpus memory
    cpus=$(nproc)
    memory=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    cat >"$STATE/etc/slurm.conf" <<EOF
# Written by tests/slurm/localhost-cluster.sh
ClusterName=localhost
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.daemon.pid
SlurmdPidFile=$STATE/run/slurmd.daemon.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
ReturnToService=2
KillWait=5
InactiveLimit=0
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:1 State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
    echo "NodeName=$HOST Name=gpu File=$FAKE_GPU" >"$STATE/etc/gres.conf"
    cat >"$STATE/etc/slurmdbd.conf" <<EOF
# Written by tests/slurm/localhost-cluster.sh
AuthType=auth/munge
DbdHost=$HOST
DbdAddr=127.0.0.1
CommunicationParameters=NoInAddrAny
SlurmUser=root
PidFile=$STATE/run/slurmdbd.daemon.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$STATE/etc/slurmdbd.conf"
    [[ -s $STATE/munge/munge.key ]] || mungekey --create --keyfile="$STATE/munge/munge.key"
    if [[ ! -e /etc/slurm/slurm.conf || $(readlink /etc/slurm/slurm.conf) == "$SLURM_CONF" ]]; then
        mkdir -p /etc/slurm
        ln -sfn "$SLURM_CONF" /etc/slurm/slurm.conf
    fi
}

register_account() {
    sacctmgr -n show cluster format=cluster | grep -qw localhost || sacctmgr -i add cluster localhost >/dev/null
    sacctmgr -n show account "$ACCOUNT" format=account | grep -qw "$ACCOUNT" ||
        sacctmgr -i add account "$ACCOUNT" cluster=localhost description=tests organization=lesionmtl >/dev/null
    sacctmgr -n show assoc user=root account="$ACCOUNT" format=user | grep -qw root ||
        sacctmgr -i add user root account="$ACCOUNT" cluster=localhost >/dev/null
}

munge_works() { munge -n -S "$MUNGE_SOCKET" 2>/dev/null | unmunge -S "$MUNGE_SOCKET" >/dev/null 2>&1; }

node_ready() { timeout 5 sinfo -h -n "$HOST" -o %T | grep -qE '^(idle|mixed|allocated)'; }

start() {
    ((EUID == 0)) || die "start needs root (it installs packages and starts system daemons)"
    install_packages
    write_configs
    mkdir -p "$(dirname "$MUNGE_SOCKET")"
    munge_works || launch munged munged --foreground --force --socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key" \
        --pid-file="$STATE/run/munged.daemon.pid" --log-file="$STATE/log/munged.log" \
        --seed-file="$STATE/munge/munged.seed"
    wait_for munge 20 munge_works
    if [[ ! -d $STATE/mysql/mysql ]]; then
        mariadb-install-db --no-defaults --datadir="$STATE/mysql" --user=root --skip-test-db \
            >"$STATE/log/mariadb-install.log" 2>&1
    fi
    launch mariadbd mariadbd --no-defaults --datadir="$STATE/mysql" --socket="$MYSQL_UNIX_PORT" --user=root \
        --skip-networking --pid-file="$STATE/run/mariadbd.daemon.pid" --log-error="$STATE/log/mariadb.log" \
        --innodb-buffer-pool-size=64M
    wait_for MariaDB 60 timeout 5 mariadb-admin --socket="$MYSQL_UNIX_PORT" ping
    launch slurmdbd slurmdbd -D
    wait_for slurmdbd 60 timeout 5 sacctmgr -n show cluster
    register_account
    launch slurmctld slurmctld -D -f "$SLURM_CONF"
    wait_for slurmctld 60 timeout 5 scontrol ping
    launch slurmd slurmd -D -f "$SLURM_CONF"
    wait_for "the node $HOST" 60 node_ready
    status
}

stop() {
    local daemon pid
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
        daemon=${DAEMONS[i]}
        if running "$daemon"; then
            pid=$(cat "$STATE/run/$daemon.pid")
            kill "$pid"
            for _ in $(seq 30); do
                [[ -e /proc/$pid ]] || break
                sleep 1
            done
            [[ ! -e /proc/$pid ]] || kill -KILL "$pid"
            say "$daemon stopped (pid $pid)"
        fi
        rm -f "$STATE/run/$daemon.pid"
    done
    # With a configuration to find, every SLURM client waits ~9 s for the stopped controller, and
    # Snakemake's SLURM plugin runs `scontrol show config` in every Snakemake process, local runs
    # included: take our link away (start puts it back).
    if [[ $(readlink /etc/slurm/slurm.conf 2>/dev/null) == "$SLURM_CONF" ]]; then
        rm /etc/slurm/slurm.conf
    fi
}

status() {
    local down=0
    for daemon in "${DAEMONS[@]}"; do
        if running "$daemon"; then
            echo "$daemon: running (pid $(cat "$STATE/run/$daemon.pid"))"
        else
            echo "$daemon: not running"
            down=1
        fi
    done
    if ((! down)); then
        [[ $(readlink /etc/slurm/slurm.conf 2>/dev/null) == "$SLURM_CONF" ]] || echo "export SLURM_CONF=$SLURM_CONF"
        sinfo
        sacctmgr -n show assoc user=root format=cluster,account,user
    fi
    return $down
}

case ${1:-} in
start | stop | status) "$1" ;;
*) die "usage: $0 start|stop|status" ;;
esac
