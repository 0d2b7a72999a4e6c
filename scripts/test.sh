#!/usr/bin/env bash
# The test command: installs the workspace if needed, makes sure PostgreSQL (127.0.0.1:5432),
# MariaDB (127.0.0.1:3306) and Redis (127.0.0.1:6379) are reachable (starting local ones when they are installed but
# stopped), then builds and runs the whole suite against them.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v pnpm >/dev/null 2>&1; then npm install -g pnpm@10 >/dev/null; fi
pnpm install --frozen-lockfile --reporter=append-only | tail -n 3

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
  [[ -n "$version" ]] && pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 50); do pg_up && break; sleep 0.2; done
fi
pg_up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432 (set SLUICE_TEST_PG_URL to use another server)" >&2; [[ -n "${SLUICE_TEST_PG_URL:-}" ]] || exit 1; }

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
if ! redis_up && command -v redis-server >/dev/null; then
  mkdir -p /tmp/sluice-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp/sluice-redis --logfile /tmp/sluice-redis/redis.log
  for _ in $(seq 1 50); do redis_up && break; sleep 0.2; done
fi
redis_up || { echo "Redis is not reachable on 127.0.0.1:6379 (install redis-server)" >&2; exit 1; }

mariadb_up() { mariadb-admin -h 127.0.0.1 -P 3306 -u root --connect-timeout=2 ping >/dev/null 2>&1; }
if ! mariadb_up && [[ -x /usr/sbin/mariadbd ]]; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 100); do mariadb_up && break; sleep 0.2; done
fi
mariadb_up || { echo "MariaDB is not reachable on 127.0.0.1:3306 (install mariadb-server)" >&2; exit 1; }

if [[ "${1:-}" == "--ci" ]]; then
  pnpm proto:check
  pnpm lint
fi
pnpm test
