#!/usr/bin/env bash
# Mesa's software Vulkan driver (lavapipe) under .cache/lavapipe/, so the WebGPU provider's numerics
# can be tested on a machine without a GPU (test/golden/webgpu.test.ts). Nothing is installed
# system-wide and apt's own sources are not touched: the packages are fetched with a private apt
# state and unpacked here. Needs Debian's apt (deb.debian.org).
#
# Why Mesa 25: Dawn (inside onnxruntime-node's WebGPU provider) refuses Debian 12's lavapipe (Mesa
# 22.3.6: "Vulkan shaderUniform*ArrayDynamicIndexing required"); bookworm-backports' Mesa 25.0.7
# lavapipe is accepted and passes the golden forward checks.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="$PWD/.cache/lavapipe"
ICD="$DEST/lvp_icd.json"
[ -f "$ICD" ] && { echo "lavapipe: already in $DEST"; exit 0; }
if ! command -v apt-get >/dev/null || [ ! -f /etc/os-release ]; then echo "lavapipe: skipped (no apt-get)"; exit 0; fi
. /etc/os-release
if [ "${ID:-}" != debian ] || [ -z "${VERSION_CODENAME:-}" ]; then echo "lavapipe: skipped (not Debian: ${ID:-unknown})"; exit 0; fi

APT="$DEST/apt"
rm -rf "$APT" "$DEST/root"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$DEST/root" "$DEST/debs"
printf 'deb http://deb.debian.org/debian %s main\ndeb http://deb.debian.org/debian %s-backports main\n' "$VERSION_CODENAME" "$VERSION_CODENAME" > "$APT/sources.list"
OPTS=(-o "Dir::State::Lists=$APT/lists" -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::Cache=$APT/cache" -o "APT::Sandbox::User=root")
[ "$(id -u)" -ne 0 ] && OPTS+=(-o "Debug::NoLocking=1")
apt-get "${OPTS[@]}" -qq update

# The newest mesa-vulkan-drivers in the release or its backports.
best=""
for v in $(apt-cache "${OPTS[@]}" madison mesa-vulkan-drivers | awk -F'|' '{gsub(/ /,"",$2); print $2}'); do
  if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best="$v"; fi
done
[ -n "$best" ] || { echo "lavapipe: no mesa-vulkan-drivers in $VERSION_CODENAME"; exit 1; }
if dpkg --compare-versions "$best" lt 24; then echo "lavapipe: skipped (newest Mesa here is $best; Dawn needs a newer lavapipe)"; exit 0; fi

# mesa-vulkan-drivers, the Vulkan loader, and the dependencies (recursively) this system lacks.
want=("mesa-vulkan-drivers=$best" libvulkan1)
declare -A seen=([mesa-vulkan-drivers]=1 [libvulkan1]=1)
queue=("mesa-vulkan-drivers=$best")
while [ ${#queue[@]} -gt 0 ]; do
  pkg="${queue[0]}"; queue=("${queue[@]:1}")
  deps=$(apt-cache "${OPTS[@]}" show "$pkg" 2>/dev/null | sed -n 's/^\(Pre-\)\?Depends: //p' | tr '\n' ',' )
  IFS=',' read -ra parts <<< "$deps"
  for p in "${parts[@]}"; do
    name=$(echo "$p" | sed 's/|.*//; s/(.*)//; s/ //g; s/:any//')
    [ -z "$name" ] || [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    dpkg -s "$name" >/dev/null 2>&1 && continue
    want+=("$name"); queue+=("$name")
  done
done
echo "lavapipe: fetching ${want[*]}"
(cd "$DEST/debs" && apt-get "${OPTS[@]}" -qq download "${want[@]}")
for deb in "$DEST"/debs/*.deb; do dpkg-deb -x "$deb" "$DEST/root"; done

LIB="$DEST/root/usr/lib/x86_64-linux-gnu"
[ -f "$LIB/libvulkan_lvp.so" ] || { echo "lavapipe: libvulkan_lvp.so missing from the package"; exit 1; }
missing=$(LD_LIBRARY_PATH="$LIB" ldd "$LIB/libvulkan_lvp.so" | grep 'not found' || true)
[ -z "$missing" ] || { echo "lavapipe: unresolved libraries: $missing"; exit 1; }
api=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$DEST"/root/usr/share/vulkan/icd.d/lvp_icd*.json | head -1)
printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "%s" } }\n' "$LIB/libvulkan_lvp.so" "${api:-1.3.0}" > "$ICD"
rm -rf "$APT" "$DEST/debs"
echo "lavapipe: Mesa $best in $DEST (VK_ICD_FILENAMES=$ICD LD_LIBRARY_PATH=$LIB)"
