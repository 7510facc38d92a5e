#!/usr/bin/env bash
# npm run setup: install what is missing, generate, build. Starts nothing.
#   - Debian packages the daemon and its tests use (runc, containerd for ctr and its shim, the registry and
#     image tools for the fixtures, ...), only those not installed yet;
#   - pnpm at the version package.json pins, and the workspace's node dependencies (lockfile frozen);
#   - TypeScript from the protos (buf generate), the native addon (node-gyp), the code (tsc -b).
set -euo pipefail
cd "$(dirname "$0")/.."

debs=(runc crun containerd docker-registry skopeo umoci busybox-static e2fsprogs containernetworking-plugins
      iproute2 curl openssl gcc python3 make g++ libzstd-dev zstd)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install ${missing[*]} (run as root, or install them first)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  echo "setup: installing pnpm $pnpm_version"
  npm install -g --silent "pnpm@$pnpm_version" >/dev/null
fi

# Native addons (better-sqlite3, ours) build against the Node headers installed with Node; without this
# node-gyp would try to download them.
node_prefix=$(dirname "$(dirname "$(command -v node)")")
if [ -f "$node_prefix/include/node/node_api.h" ]; then
  export npm_config_nodedir="$node_prefix"
fi

pnpm install --frozen-lockfile --reporter=silent
pnpm run --silent build
