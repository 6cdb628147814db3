#!/bin/sh
# Installs what gorun's tests need on a Debian machine, when it is missing:
# OpenSSH's sshd (real SSH hosts on loopback), ansible-core (the oracle of the
# conformance tests), sudo (become tests) and prometheus for its promtool
# (`make check-deploy` and deploy/deploy_test.go check deploy/prometheus and the
# dashboard's queries with it). Needs root for apt-get; without root it only
# says what is missing.
#
# Installing the prometheus package also starts a Prometheus server on :9090
# where the system starts packages' services (systemd, or an init script through
# invoke-rc.d): acceptable, the tests do not use it and pick random ports. In
# Debian's container images a policy-rc.d forbids that and nothing starts.
# --no-install-recommends leaves out the node exporter.
set -eu
missing=""
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
command -v ansible-playbook >/dev/null 2>&1 || missing="$missing ansible-core"
command -v sudo >/dev/null 2>&1 || missing="$missing sudo"
command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing:$missing — install them (apt-get install$missing); tests that need them will fail" >&2
	exit 0
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
