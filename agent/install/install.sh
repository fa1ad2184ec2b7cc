#!/bin/sh
# install.sh installs runcmd-agent on a Linux node with systemd, registers the node with an
# activation, and starts the agent.
#
#   sudo ./install.sh --code CODE --id ACTIVATION_ID --region REGION --endpoint API_URL [--binary PATH]
#
# CODE and ACTIVATION_ID come from `aws ssm create-activation --endpoint-url API_URL ...`; API_URL is
# the runcmd api (the stack's ApiUrl output). The node's AWS credentials (scoped to its own queue, see
# infra/README.md) go in /etc/runcmd-agent/env as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile;
# this script never prints the activation code.
set -eu

code="" id="" region="" endpoint="" binary="./runcmd-agent"
while [ $# -gt 0 ]; do
	case "$1" in
	--code) code="$2"; shift 2 ;;
	--id) id="$2"; shift 2 ;;
	--region) region="$2"; shift 2 ;;
	--endpoint) endpoint="$2"; shift 2 ;;
	--binary) binary="$2"; shift 2 ;;
	-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
	*) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
missing=""
[ -n "$code" ] || missing="$missing --code"
[ -n "$id" ] || missing="$missing --id"
[ -n "$region" ] || missing="$missing --region"
[ -n "$endpoint" ] || missing="$missing --endpoint"
if [ -n "$missing" ]; then
	echo "install.sh: missing$missing" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install.sh: run as root (the agent runs commands as root)" >&2
	exit 1
fi
here=$(cd "$(dirname "$0")" && pwd)
state=/var/lib/runcmd-agent

install -m 0755 "$binary" /usr/local/bin/runcmd-agent
install -d -m 0700 "$state" /etc/runcmd-agent
if [ ! -e /etc/runcmd-agent/env ]; then
	umask 077
	printf 'AWS_REGION=%s\n' "$region" >/etc/runcmd-agent/env
fi

# Registers, or registers again keeping the node's id (the agent proves it holds its key).
RUNCMD_STATE_DIR="$state" /usr/local/bin/runcmd-agent register \
	--code "$code" --id "$id" --region "$region" --endpoint "$endpoint" --state-dir "$state"

install -m 0644 "$here/runcmd-agent.service" /etc/systemd/system/runcmd-agent.service
systemctl daemon-reload
systemctl enable --now runcmd-agent.service
echo "runcmd-agent installed and running; logs: journalctl -u runcmd-agent"
