#!/usr/bin/env bash
# One-time machine setup for the full test suite: Debian's Chromium (webview and VS Code tests), fonts and
# code-server (a real VS Code, installed under .cache/, outside the product's node_modules).
# Idempotent; needs only the npm registry and Debian's apt.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v rg >/dev/null 2>&1 || need_apt+=(ripgrep)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
# a CJK font for the Chinese pages of the OCR test set (test/ocr; 1.6 MB, the smallest Debian has)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need_apt+=(fonts-wqy-microhei)
# code-server's native modules build with node-gyp
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# Fonts for the scripts the model's vocabulary prints (Thai, Devanagari, Tamil, ... CJK, emoji), so the
# UI screenshots show text, not missing-glyph boxes.
dpkg -s fonts-noto-core >/dev/null 2>&1 || need_apt+=(fonts-noto-core)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need_apt+=(fonts-noto-color-emoji)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need_apt+=(fonts-wqy-microhei)
dpkg -s fonts-vlgothic >/dev/null 2>&1 || need_apt+=(fonts-vlgothic)  # Japanese punctuation (〜) WenQuanYi lacks
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Mesa's software Vulkan in .cache/, for the WebGPU numerics test on machines without a GPU.
bash scripts/install-lavapipe.sh || echo "setup: lavapipe not installed; test/golden/webgpu.test.ts will say so"

if [ -x scripts/install-code-server.sh ] || [ -f scripts/install-code-server.sh ]; then
  bash scripts/install-code-server.sh
  # the language model API suite (npm run test:vscode:latest) needs VS Code 1.104+: code-server 4.139.1 (Node 24 from npm)
  CODE_SERVER_VERSION=4.139.1 CODE_SERVER_DIR=.cache/code-server-4.139.1 bash scripts/install-code-server.sh
fi
echo "setup: done"
