#!/usr/bin/env bash
# Installs the package the way a user does and uses it: packs the root package
# and the linux-x64-gnu platform package, installs both tarballs into a fresh
# project with no Cargo on PATH and no network (--offline), then requires it,
# imports it from ESM, loads a precompiled module raw and runs the CLI.
# Needs a built addon and facade (npm run build).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
triple=linux-x64-gnu
work="$(mktemp -d)"
trap 'rm -rf "$work"; rm -f "$root/npm/$triple/wasmtime-napi.$triple.node"' EXIT

cp "$root/wasmtime-napi.$triple.node" "$root/npm/$triple/"
(cd "$root/npm/$triple" && npm pack --silent --pack-destination "$work" >/dev/null)
(cd "$root" && npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null)
ls "$work"/*.tgz

mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
# A PATH with node and the usual system tools, but no Cargo.
clean_path="$(dirname "$(command -v node)"):/usr/bin:/bin"
if PATH="$clean_path" command -v cargo >/dev/null; then echo "install-test: cargo is still on the clean PATH" >&2; exit 1; fi
PATH="$clean_path" npm install --offline --no-audit --no-fund "$work"/wasmtime-napi-0*.tgz "$work"/wasmtime-napi-$triple-*.tgz

cat > use.cjs <<'JS'
const { Engine, Module, Store, Instance, readPrecompiledSync } = require('wasmtime-napi')
const fs = require('node:fs')
fs.writeFileSync('add.cwasm', Engine.default.precompileModule('(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'))
const m = Module.deserializeRaw(readPrecompiledSync('add.cwasm'))
const r = new Instance(new Store(), m).exports.add(40, 2)
if (r !== 42 || !m.isRaw) throw new Error(`unexpected ${r}`)
console.log('require: raw-loaded add(40, 2) =', r, 'from', require.resolve('wasmtime-napi'))
JS
cat > use.mjs <<'JS'
import { Module, Store, Instance, readPrecompiled, wasmtimeVersion } from 'wasmtime-napi'
const m = Module.deserializeRaw(await readPrecompiled('add.cwasm'))
const r = new Instance(new Store(), m).exports.add(1, 2)
if (r !== 3) throw new Error(`unexpected ${r}`)
console.log(`import: raw-loaded add(1, 2) = ${r} (wasmtime ${wasmtimeVersion})`)
JS
PATH="$clean_path" node use.cjs
PATH="$clean_path" node use.mjs
PATH="$clean_path" npx --offline wasmtime-napi compat-hash
test -z "$(find node_modules/wasmtime-napi -name target -maxdepth 1)" || { echo "install-test: a source build happened" >&2; exit 1; }

# Without the platform package (and without Cargo) the failure says what to do.
mkdir "$work/bare"
cd "$work/bare"
npm init -y >/dev/null
PATH="$clean_path" npm install --offline --ignore-scripts --no-audit --no-fund "$work"/wasmtime-napi-0*.tgz >/dev/null 2>&1
if PATH="$clean_path" node -e "require('wasmtime-napi')" 2> err.txt; then echo "install-test: loaded without an addon?" >&2; exit 1; fi
for want in "no native addon for this platform ($triple" "wasmtime-napi-$triple" "build from source" "ERR_WASMTIME_NATIVE_ADDON"; do
  grep -qF "$want" err.txt || { echo "install-test: the load error lacks '$want':" >&2; cat err.txt >&2; exit 1; }
done
if PATH="$clean_path" node node_modules/wasmtime-napi/scripts/install.mjs 2> hook.txt; then echo "install-test: the install hook succeeded without Cargo?" >&2; exit 1; fi
grep -qF "Cargo was not found" hook.txt || { echo "install-test: the install hook did not say Cargo is missing:" >&2; cat hook.txt >&2; exit 1; }
echo "install-test: ok"
