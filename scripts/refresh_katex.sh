#!/usr/bin/env bash
# Refresh the KaTeX that `derive serve` ships (derive/web/static/katex/) from the npm registry,
# at the pinned version below: `npm pack` fetches the published tarball (no install, no scripts
# run), and only what the page needs is kept: katex.min.js, katex.min.css, the woff2 fonts and
# the licence. Usage: scripts/refresh_katex.sh [VERSION]   (then run tests/test_web.py)
set -euo pipefail
VERSION="${1:-0.19.1}"
cd "$(dirname "$0")/.."
DEST=derive/web/static/katex
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "katex@${VERSION}" >/dev/null && tar xzf "katex-${VERSION}.tgz")
rm -rf "$DEST"
mkdir -p "$DEST/fonts"
cp "$WORK/package/LICENSE" "$DEST/LICENSE"
cp "$WORK/package/dist/katex.min.js" "$WORK/package/dist/katex.min.css" "$DEST/"
cp "$WORK/package/dist/fonts/"*.woff2 "$DEST/fonts/"
# the stylesheet also names .woff and .ttf files after each woff2: browsers take the first
# format they read (woff2, every current one), so those are left out
echo "$VERSION" > "$DEST/VERSION"
echo "KaTeX $VERSION in $DEST: $(du -sh "$DEST" | cut -f1)"
