#!/usr/bin/env bash
# Installs Debian's chromium for the browser end-to-end test
# (test/e2e/browser_test.go) when it is missing. Only Debian's package
# repositories are used. Prints the browser's path on stdout.
set -euo pipefail

bin=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: $bin is missing and apt-get is not available; install Debian's chromium package by hand" >&2
	exit 1
fi
sudo=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		sudo="sudo -n"
	else
		echo "install-chromium: $bin is missing; run 'apt-get install -y chromium' as root" >&2
		exit 1
	fi
fi
# One installer at a time: parallel test binaries may call this together.
exec 9>"${TMPDIR:-/tmp}/tenant-operator-install-chromium.lock"
flock 9
if [ -x "$bin" ]; then
	echo "$bin"
	exit 0
fi
echo "install-chromium: installing Debian's chromium (first time only)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium >&2
if [ ! -x "$bin" ]; then
	echo "install-chromium: apt-get finished but $bin is still missing" >&2
	exit 1
fi
echo "$bin"
