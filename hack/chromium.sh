#!/usr/bin/env bash
# Installs Debian's Chromium for the console's browser tests (internal/console)
# when it is missing, and prints the path of its binary on standard output.
# The tests find it through $MAPTASK_CHROMIUM, else "chromium" on $PATH:
#
#	export MAPTASK_CHROMIUM="$(hack/chromium.sh)"
#
# Needs root (or sudo) for apt-get when Chromium is not installed yet.
set -euo pipefail
find_chromium() {
	for c in "${MAPTASK_CHROMIUM:-}" chromium chromium-browser google-chrome; do
		[ -n "$c" ] || continue
		if p=$(command -v "$c" 2>/dev/null); then
			echo "$p"
			return 0
		fi
	done
	return 1
}
if p=$(find_chromium); then
	echo "$p"
	exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
	sudo="sudo"
fi
{
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium
} >&2
find_chromium || { echo "hack/chromium.sh: chromium is still not on PATH after apt-get install" >&2; exit 1; }
