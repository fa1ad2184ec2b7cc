#!/usr/bin/env bash
# with-emulator.sh: run a command against a local AWS emulator.
#
#   localstack/with-emulator.sh go test ./...
#
# Uses the emulator already answering at $AWS_ENDPOINT_URL (default http://127.0.0.1:4566): moto_server
# or LocalStack. Otherwise starts moto_server on that port, and stops it again when the command ends
# (also on Ctrl-C). Exports the test credentials and SDK settings every emulator needs, runs the command
# and exits with its status.
set -euo pipefail

if [ "$#" -eq 0 ]; then
	echo "usage: $0 command [args...]   e.g. $0 go test ./..." >&2
	exit 2
fi

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
endpoint="${AWS_ENDPOINT_URL%/}"

# probe succeeds when an emulator answers. moto has no health endpoint; its usual readiness check,
# /moto-api/data.json, dumps every backend's state (megabytes and tens of seconds once tests have
# filled it), so we ask for its small /moto-api/config instead. LocalStack has a health endpoint.
probe() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS -o /dev/null --max-time 5 "$endpoint/moto-api/config" 2>/dev/null ||
			curl -fsS -o /dev/null --max-time 5 "$endpoint/_localstack/health" 2>/dev/null
	else
		python3 - "$endpoint" <<'PY' 2>/dev/null
import sys, urllib.request
for path in ("/moto-api/config", "/_localstack/health"):
    try:
        urllib.request.urlopen(sys.argv[1] + path, timeout=5).close()
        sys.exit(0)
    except Exception:
        pass
sys.exit(1)
PY
	fi
}

moto_pid=""
moto_log=""
cleanup() {
	if [ -n "$moto_pid" ]; then
		kill "$moto_pid" 2>/dev/null || true
		wait "$moto_pid" 2>/dev/null || true
		moto_pid=""
	fi
	if [ -n "$moto_log" ]; then rm -f "$moto_log"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if probe; then
	echo "with-emulator: using the emulator at $endpoint" >&2
else
	if ! command -v moto_server >/dev/null 2>&1; then
		cat >&2 <<MSG
with-emulator: FATAL: no AWS emulator answers at $endpoint and moto_server is not installed.
Either install moto (Python 3.9+):
    pip install 'moto[server]'
or run LocalStack with Docker, then run this script again:
    docker compose -f localstack/docker-compose.yml up -d
MSG
		exit 1
	fi
	# host and port from http://host:port[/...]
	hostport="${endpoint#*://}"
	hostport="${hostport%%/*}"
	host="${hostport%:*}"
	port="${hostport##*:}"
	if [ "$port" = "$hostport" ]; then port=80; fi
	case "$host" in
	127.0.0.1 | localhost) ;;
	*)
		echo "with-emulator: FATAL: nothing answers at $endpoint, and moto_server can only be started on this machine (127.0.0.1 or localhost)" >&2
		exit 1
		;;
	esac
	moto_log="$(mktemp "${TMPDIR:-/tmp}/moto_server.XXXXXX.log")"
	echo "with-emulator: starting moto_server on 127.0.0.1:$port (log $moto_log)" >&2
	moto_server -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
	moto_pid=$!
	for _ in $(seq 150); do # 150 x 0.2 s = 30 s
		probe && break
		if ! kill -0 "$moto_pid" 2>/dev/null; then break; fi # it died (port taken?)
		sleep 0.2
	done
	if ! probe; then
		echo "with-emulator: FATAL: moto_server did not become ready at $endpoint; last lines of its log:" >&2
		tail -n 20 "$moto_log" >&2 || true
		exit 1
	fi
fi

# Test credentials and SDK settings for any emulator (see /work/shared/reference/local-aws.md §1):
# no real credentials reach the emulator, no retries of its HTTP 500 answers to bad input, no
# instance-metadata lookups, and checksums only where an API requires them.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_MAX_ATTEMPTS="${AWS_MAX_ATTEMPTS:-1}"
export AWS_EC2_METADATA_DISABLED=true
export AWS_REQUEST_CHECKSUM_CALCULATION=when_required
export AWS_RESPONSE_CHECKSUM_VALIDATION=when_required

status=0
"$@" || status=$?
exit "$status"
