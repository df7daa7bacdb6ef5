#!/bin/sh
# Make sure headless Chromium and poppler-utils (pdftoppm, pdftotext) are present for the report's
# browser test and page previews. Installs the Debian packages with apt-get when they are missing
# and apt-get is usable as root; otherwise says why and exits 0, so the browser test skips with a
# visible reason instead of failing the build.
set -u

need=""
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need="$need chromium"
command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"

if [ -z "$need" ]; then
    echo "ensure_browser: chromium and poppler-utils already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: missing:$need; apt-get not available, not installing (browser test will skip)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "ensure_browser: missing:$need; not root and no passwordless sudo, not installing (browser test will skip)"
        exit 0
    fi
else
    SUDO=""
fi
echo "ensure_browser: installing$need with apt-get"
if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 \
   && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1; then
    echo "ensure_browser: installed$need"
else
    echo "ensure_browser: apt-get could not install$need (no network or repository?); browser test will skip"
fi
exit 0
