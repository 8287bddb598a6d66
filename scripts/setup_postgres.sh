#!/usr/bin/env bash
# Installs Debian's PostgreSQL server where missing (safe to run again), for the tests that run the case store
# on a real server. The tests start their own throw-away cluster (tests/postgres.py), so the package's default
# cluster is not created and no server is left running.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "需要 PostgreSQL / PostgreSQL not found: run as root, or: sudo apt-get install -y postgresql" >&2
    exit 1
fi
echo "安装 / installing: postgresql"
# postgresql-common reads createcluster.d/ as well as its own conffile, so this skips the default cluster
mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/fundflow-no-main-cluster.conf
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y postgresql
