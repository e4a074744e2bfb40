#!/bin/sh
# Install the npm packages the test suite uses, into project-local folders:
#   examples/node/node_modules   zeromq 6.8.0 (the Node example consumer)
#   bench/node/node_modules      ws 8.23.1 + zeromq 6.8.0 (the Node reference bridge of bench/)
#   tests/interop/node_modules   ws 8.23.1 (a Node WebSocket server the pool is tested against)
#   tools/node/node_modules      dockerfile-utils (Dockerfile lint),
#                                kubernetes-models (schema validation of deploy/)
# Versions are pinned by each folder's package.json and package-lock.json.
# Idempotent and fast when nothing changed: a folder whose installed tree is
# newer than its lock file is left alone. `--ignore-scripts`: zeromq ships
# prebuilt addons for linux-x64/arm64 in its package, nothing needs building.
# Needs Node.js >= 18 (Debian 12's nodejs 18 works) and npm, which
# scripts/deps.sh installs, and the npm registry; the tests themselves never
# touch the network.
set -eu
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
    echo "node-deps.sh: npm not found; the Node example and the Dockerfile and" \
         "Kubernetes checks need Node.js >= 18 and npm (scripts/deps.sh installs them)" >&2
    exit 1
fi

for dir in examples/node tools/node bench/node tests/interop; do
    stamp=$dir/node_modules/.package-lock.json
    if [ -f "$stamp" ] && [ "$stamp" -nt "$dir/package-lock.json" ] && [ "$stamp" -nt "$dir/package.json" ]; then
        continue
    fi
    echo "node-deps.sh: installing $dir"
    if [ -f "$dir/package-lock.json" ] && ! [ "$dir/package.json" -nt "$dir/package-lock.json" ]; then
        (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    else
        # package.json changed (a developer's edit): resolve and rewrite the lock.
        (cd "$dir" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
    fi
    touch "$stamp"
done
