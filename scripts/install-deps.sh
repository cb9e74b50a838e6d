#!/usr/bin/env bash
# Installs the Debian 12 packages eddy needs to build, test and benchmark. Idempotent: when
# everything is present it does nothing (no apt-get update, no root needed).
set -euo pipefail

# Each concern lists its packages in scripts/deps/<concern>.txt (one name per line, # comments),
# so that adding a binding or a test tool touches only its own file.
PACKAGES=()
for list in "$(dirname "${BASH_SOURCE[0]}")"/deps/*.txt; do
    while read -r pkg _; do
        case "$pkg" in ''|'#'*) continue ;; esac
        PACKAGES+=("$pkg")
    done <"$list"
done
# A concern whose packages depend on the machine (a toolchain that may already be installed
# outside dpkg) adds them from scripts/deps/<concern>.sh, sourced here with PACKAGES in scope.
for hook in "$(dirname "${BASH_SOURCE[0]}")"/deps/*.sh; do
    [ -e "$hook" ] || continue
    # shellcheck source=/dev/null
    . "$hook"
done
# Node.js runs the browser test (playwright-core from npm). Machines of this kind ship it;
# elsewhere Debian's nodejs + npm are used — installing them next to another Node would clash.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing packages: ${missing[*]}" >&2
    echo "install-deps: run as root:  apt-get update && DEBIAN_FRONTEND=noninteractive $cmd" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update
$cmd
