#!/usr/bin/env bash
# Runs test_demo_browser.js: installs playwright-core from npm into NODE_DIR once (the build
# tree, never the source tree), then drives Debian's Chromium against the demo.
#     run_demo_browser.sh NODE_DIR DEMO_PATH
# Node, npm and Chromium are installed by CI (scripts/install-deps.sh); a missing one is a
# failure, not a skip.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
node_dir=${1:?usage: run_demo_browser.sh NODE_DIR DEMO_PATH}
demo=${2:?usage: run_demo_browser.sh NODE_DIR DEMO_PATH}
chromium=${CHROMIUM:-/usr/bin/chromium}

for tool in node npm; do
    if ! command -v "$tool" >/dev/null; then
        echo "demo_browser: '$tool' not found; install Node.js (nodejs and npm)" >&2
        exit 1
    fi
done
if [ ! -x "$chromium" ]; then
    echo "demo_browser: $chromium not found; install chromium (scripts/install-deps.sh)" >&2
    exit 1
fi

if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ]; then
    echo "demo_browser: installing playwright-core into $node_dir"
    mkdir -p "$node_dir"
    # A lock so that two builds' tests (or a rerun) never install into the same folder at once.
    if ! (flock 9 && [ -f "$node_dir/node_modules/playwright-core/package.json" ] ||
          timeout 240 npm install --no-save --no-audit --no-fund --prefix "$node_dir" \
              'playwright-core@1') 9>"$node_dir/.install.lock"; then
        echo "demo_browser: npm install playwright-core failed (is the npm registry reachable?)" >&2
        exit 1
    fi
fi

export NODE_PATH="$node_dir/node_modules"
exec timeout 240 node "$here/test_demo_browser.js" --server "$demo" --chromium "$chromium"
