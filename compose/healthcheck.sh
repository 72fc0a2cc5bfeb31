#!/bin/bash
# Container healthcheck for the workerd image, without curl: one HTTP/1.0 GET over bash's
# /dev/tcp. Healthy when the worker answers HTTP with a status below 500 at PATH (default
# /healthz): a worker with a /healthz that checks Postgres (catalog) turns unhealthy on 503; a
# worker without one answers 404 and counts as serving.
#
#   healthcheck.sh [PORT] [PATH]
#
# PORT defaults to the socket of /app/dist/workerd/$WORKER.capnp, the config the container runs,
# so the port is written in one place (shared/edge.ts WORKER_PORTS -> the generated config).
set -euo pipefail
port="${1:-}"
path="${2:-/healthz}"
if [[ -z "$port" ]]; then
  config="${WORKERD_CONFIG_DIR:-/app/dist/workerd}/${WORKER:?WORKER is not set}.capnp"
  [[ "$(<"$config")" =~ address\ =\ \"\*:([0-9]+)\" ]] || { echo "no socket address in $config" >&2; exit 1; }
  port="${BASH_REMATCH[1]}"
fi
exec 3<>"/dev/tcp/127.0.0.1/${port}" || { echo "nothing listens on port ${port}" >&2; exit 1; }
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: mcpgw-healthcheck\r\n\r\n' "$path" >&3
if ! IFS=' ' read -r -t 5 _proto status _rest <&3; then
  echo "no HTTP answer on port ${port}" >&2
  exit 1
fi
exec 3<&-
if [[ "$status" =~ ^[0-9]{3}$ ]] && (( status < 500 )); then
  echo "healthy: ${path} answered ${status}"
  exit 0
fi
echo "unhealthy: ${path} answered ${status:-nothing}" >&2
exit 1
