#!/usr/bin/env bash
# Prepares a fresh machine for `npm start` / `npm test`: Debian packages (when root), then
# npm dependencies (which bring Bun). Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

purpose="${1:-start}"
case "$purpose" in
  start) packages=(git nginx) ;;
  test) packages=(git nginx chromium wrk curl shellcheck debootstrap systemd-container nftables redis-server postgresql-client certbot pebble python3-certbot-dns-rfc2136 python3-certbot-dns-cloudflare knot knot-dnsutils) ;;
  *) echo "setup.sh: unknown purpose '$purpose' (start or test)" >&2; exit 2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${missing[*]} (install them, or run as root to have them installed); continuing" >&2
  fi
fi

# npm dependencies: reinstall only when the lock file changed since the last install.
if [[ ! -x node_modules/.bin/bun || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm dependencies"
  # `npm install` honours the lock file like `npm ci`, but tolerates a registry that lacks the
  # optional packages of other platforms (which `npm ci` counts as the lock being out of sync).
  npm install --no-audit --no-fund --loglevel=error
fi
