#!/usr/bin/env bash
# Installs Debian's chromium (and node, which drives it) for the HTML report's browser test
# (crates/report/tests/html_browser.rs). Idempotent: does nothing when both are present.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have node; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# apt-cache knows nothing before the first update on a fresh machine.
if ! apt-cache policy chromium 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $SUDO apt-get update
fi

packages=()
have chromium || packages+=(chromium)
have node || packages+=(nodejs)
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
