#!/usr/bin/env bash
# Installs code-server (VS Code's server + web workbench) from npm into .cache/code-server, for the
# integration tests (test/vscode). Idempotent; needs only the npm registry and Debian packages.
#
#   scripts/install-code-server.sh            install if missing
#   CODE_SERVER_DIR=/some/dir CODE_SERVER_VERSION=4.100.3 scripts/install-code-server.sh
#
# Debian packages it needs (the script says which are missing):
#   apt-get install -y g++ make python3 ripgrep libkrb5-dev chromium
# Pitfalls handled here (see docs/testing-vscode.md):
#   - @vscode/ripgrep downloads rg from GitHub in postinstall: we pre-seed its download cache with
#     Debian's rg, packed under the exact asset name it looks for.
#   - node-pty's postinstall runs `npx node-gyp`, which prompts: npm_config_yes=true.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${CODE_SERVER_VERSION:-4.100.3}"
dir="${CODE_SERVER_DIR:-$root/.cache/code-server}"
# absolute: `node -p require(...)` below reads files under it, and require() takes a bare relative path for a package name
[[ "$dir" = /* ]] || dir="$PWD/$dir"
marker="$dir/.installed-$version"

if [[ -f "$marker" && -f "$dir/node_modules/code-server/out/node/entry.js" ]]; then
  echo "code-server $version already installed in $dir"
  exit 0
fi

missing=()
for tool in g++ make python3 rg krb5-config; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if (( ${#missing[@]} )); then
  echo "error: missing tools: ${missing[*]}" >&2
  echo "  apt-get install -y g++ make python3 ripgrep libkrb5-dev" >&2
  exit 1
fi

mkdir -p "$dir"
work="$dir/tmp"
rm -rf "$work"
mkdir -p "$work"
export TMPDIR="$work" npm_config_yes=true npm_config_unsafe_perm=true npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Which @vscode/ripgrep versions will code-server's nested installs use? Read them from its shrinkwraps.
echo "Reading code-server@$version's ripgrep versions"
(cd "$work" && npm pack --silent "code-server@$version" >/dev/null)
tar xzf "$work/code-server-$version.tgz" -C "$work" package/package.json package/lib/vscode/npm-shrinkwrap.json

# code-server runs on exactly one Node major (4.100.x: 20; 4.104+: 22). When ours differs, Node from
# the npm package node@<major> (binary and headers inside) goes into $dir/node-runtime.
want_major="$(node -p 'require(process.argv[1]).engines.node.match(/\d+/)[0]' "$work/package/package.json")"
node_bin="$(command -v node)"
if [[ "$(node -p 'process.versions.node.split(".")[0]')" != "$want_major" ]]; then
  echo "code-server $version needs Node $want_major: installing node@$want_major from npm"
  mkdir -p "$dir/node-runtime"
  (cd "$dir/node-runtime" && echo '{"private":true}' > package.json && npm install --no-save "node@$want_major" >/dev/null)
  node_bin="$(cd "$dir/node-runtime" && node -p 'require("path").resolve("node_modules/node/bin/node")')"
  [[ -x "$node_bin" ]] || { echo "error: node@$want_major did not provide $node_bin" >&2; exit 1; }
  node_home="$(dirname "$(dirname "$(readlink -f "$node_bin")")")"
  export PATH="$(dirname "$node_bin"):$PATH"
  # native modules (node-pty, kerberos, ...) must build against this Node's headers
  [[ -d "$node_home/include/node" ]] && export npm_config_nodedir="$node_home"
fi
echo "$node_bin" > "$dir/node-path"
echo "Using Node $("$node_bin" -v) ($node_bin)"
rg_versions="$(node -e '
  const lock = require(process.argv[1]);
  const vs = new Set();
  for (const [p, v] of Object.entries(lock.packages || {})) if (p.endsWith("node_modules/@vscode/ripgrep")) vs.add(v.version);
  console.log([...vs].join(" "));' "$work/package/lib/vscode/npm-shrinkwrap.json")"
case "$(uname -m)" in
  x86_64) rg_target=x86_64-unknown-linux-musl ;;
  aarch64) rg_target=aarch64-unknown-linux-musl ;;
  *) echo "error: no ripgrep target for $(uname -m)" >&2; exit 1 ;;
esac
for v in $rg_versions; do
  (cd "$work" && npm pack --silent "@vscode/ripgrep@$v" >/dev/null)
  tag="$(tar xzf "$work/vscode-ripgrep-$v.tgz" -O package/lib/postinstall.js | sed -n "s/^const VERSION = '\(.*\)';/\1/p")"
  cache="$work/vscode-ripgrep-cache-$v"
  mkdir -p "$cache/stage"
  cp "$(command -v rg)" "$cache/stage/rg"
  tar czf "$cache/ripgrep-$tag-$rg_target.tar.gz" -C "$cache/stage" rg
  echo "  @vscode/ripgrep $v: seeded ripgrep-$tag-$rg_target.tar.gz with Debian's rg"
done

echo "Installing code-server@$version into $dir (a few minutes)"
cat > "$dir/package.json" <<JSON
{ "name": "lavin-code-server-cache", "private": true, "version": "0.0.0" }
JSON
(cd "$dir" && npm install --no-save --unsafe-perm "code-server@$version")
test -f "$dir/node_modules/code-server/out/node/entry.js"
if [[ -n "$rg_versions" ]]; then test -e "$dir/node_modules/code-server/lib/vscode/node_modules/@vscode/ripgrep/bin/rg"; fi
rm -rf "$work"
touch "$marker"
echo "code-server $version installed: $dir/node_modules/.bin/code-server"
