#!/bin/sh
# Installs what gorun's tests need on a Debian machine, when it is missing:
# OpenSSH's sshd (real SSH hosts on loopback), ansible-core (the oracle of the
# conformance tests) and sudo (become tests). Needs root for apt-get; without
# root it only says what is missing.
set -eu
missing=""
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
command -v ssh >/dev/null 2>&1 || missing="$missing openssh-client"
command -v ansible-playbook >/dev/null 2>&1 || missing="$missing ansible-core"
command -v sudo >/dev/null 2>&1 || missing="$missing sudo"
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
