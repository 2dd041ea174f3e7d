#!/usr/bin/env bash
# Switchyard installer: turns a fresh Debian 12 / Ubuntu 22.04 / 24.04 server into a running
# Switchyard (panel behind nginx, PostgreSQL, apps as systemd units). It checks everything first
# and changes nothing until the checks pass; run it again and it changes only what is missing.
#
#   sudo ./install.sh [options]
#
#   --check                 only check this machine; change nothing
#   --source DIR|URL        install from a local checkout or a git URL (default: this script's checkout)
#   --version REF           the git ref to install from --source URL (default: main)
#   --domain NAME           the panel's host name (certificate via certbot with --email)
#   --email ADDRESS         contact for Let's Encrypt
#   --admin-email ADDRESS   create the owner account (password from --admin-password, or printed once);
#                           without it, open /setup and enter the setup code from the summary
#   --admin-password PW
#   --with-postgres         let the panel provision app databases on this server's PostgreSQL: a role
#                           switchyard_admin (CREATEDB CREATEROLE) whose URL goes into the env file
#   --with-redis            install redis-server for Redis app databases (each runs as its own unit;
#                           Debian's default instance on port 6379 is stopped and disabled)
#   --uninstall             remove Switchyard (keeps data and the database unless --purge)
#   --purge                 with --uninstall: remove data, config and the database too
#   --non-interactive       never ask
#   -h, --help
#
# Thresholds for --check (for testing a machine that falls short): SWITCHYARD_INSTALL_MIN_DISK_GB
# (default 5), SWITCHYARD_INSTALL_MIN_RAM_MB (default 900), SWITCHYARD_INSTALL_PORTS (default "80 443").
# SWITCHYARD_ACME_SERVER: another ACME directory for certbot (Let's Encrypt's staging, a test CA), for
# the panel's certificate and the apps' (kept in /etc/switchyard/acme.env for the helper's certbot);
# SWITCHYARD_ACME_CA_BUNDLE (or REQUESTS_CA_BUNDLE): a CA file to trust that server's https with.
set -euo pipefail

PREFIX=/opt/switchyard
CONFIG_DIR=/etc/switchyard
DATA_DIR=/var/lib/switchyard
LOG_DIR=/var/log/switchyard
HELPER=/usr/local/lib/switchyard/helper
PANEL_USER=switchyard
APPS_USER=switchyard-apps
PANEL_PORT=3000
MIN_DISK_GB="${SWITCHYARD_INSTALL_MIN_DISK_GB:-5}"
MIN_RAM_MB="${SWITCHYARD_INSTALL_MIN_RAM_MB:-900}"
PORTS="${SWITCHYARD_INSTALL_PORTS:-80 443}"
# certbot's DNS plugins: wildcard certificates for apps through RFC 2136 (BIND, Knot, PowerDNS…) or Cloudflare.
PACKAGES=(git curl unzip ca-certificates nginx postgresql certbot python3-certbot-dns-rfc2136 python3-certbot-dns-cloudflare
  sudo nodejs npm logrotate)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check_only=0 uninstall=0 purge=0 with_postgres=0 with_redis=0
source_arg="$here" version=main domain="" email="" admin_email="" admin_password=""

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
fail() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}

while (($#)); do
  case "$1" in
    --check) check_only=1 ;;
    --source) source_arg="${2:?--source needs a directory or git URL}"; shift ;;
    --version) version="${2:?--version needs a git ref}"; shift ;;
    --domain) domain="${2:?--domain needs a host name}"; shift ;;
    --email) email="${2:?--email needs an address}"; shift ;;
    --admin-email) admin_email="${2:?--admin-email needs an address}"; shift ;;
    --admin-password) admin_password="${2:?--admin-password needs a value}"; shift ;;
    --with-postgres) with_postgres=1 ;;
    --with-redis) with_redis=1 ;;
    --uninstall) uninstall=1 ;;
    --purge) purge=1 ;;
    --non-interactive) ;; # the installer never asks; accepted for scripts that pass it
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option '$1' (see --help)" ;;
  esac
  shift
done

[[ -z "$domain" || "$domain" =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$ ]] || fail "--domain '$domain' is not a host name like panel.example.com"
[[ -z "$email" || "$email" =~ ^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@]+$ ]] || fail "--email '$email' is not an email address"
[[ -z "$admin_email" || "$admin_email" =~ ^[^[:space:]@\"\\]+@[^[:space:]@\"\\]+$ ]] || fail "--admin-email '$admin_email' is not an email address"
[[ "$admin_password" != *[\"\\]* ]] || fail "--admin-password must not contain quotes or backslashes"
[[ -z "$domain" || -n "$email" ]] || fail "--domain needs --email (Let's Encrypt's contact address)"
[[ "$version" =~ ^[A-Za-z0-9._/-]{1,100}$ && "$version" != -* ]] || fail "--version '$version' is not a git ref"

# Another ACME server (a test CA, Let's Encrypt's staging): given now, or kept from an earlier run.
acme_env="$CONFIG_DIR/acme.env"
acme_server="${SWITCHYARD_ACME_SERVER:-}"
acme_ca_bundle="${SWITCHYARD_ACME_CA_BUNDLE:-${REQUESTS_CA_BUNDLE:-}}"
if [[ -z "$acme_server" && -r "$acme_env" ]]; then
  acme_server="$(sed -n 's/^SWITCHYARD_ACME_SERVER=//p' "$acme_env")"
  acme_ca_bundle="$(sed -n 's/^REQUESTS_CA_BUNDLE=//p' "$acme_env")"
fi
[[ -n "$acme_server" ]] || acme_ca_bundle=""
# Both go into env files that the installer itself sources (no shell characters), in the forms
# the helper accepts from acme.env.
[[ -z "$acme_server" || "$acme_server" =~ ^https?://[A-Za-z0-9.:/_-]+$ ]] ||
  fail "SWITCHYARD_ACME_SERVER '$acme_server' is not an http(s) URL of letters, digits and . : / _ -"
[[ -z "$acme_ca_bundle" || "$acme_ca_bundle" =~ ^/[A-Za-z0-9._/-]+$ ]] ||
  fail "SWITCHYARD_ACME_CA_BUNDLE '$acme_ca_bundle' is not an absolute path of letters, digits and . _ / -"

# --- Checks: read-only, every problem on its own line ----------------------------------------

problems=()
problem() { problems+=("$*"); }

run_checks() {
  [[ $(id -u) -eq 0 ]] || problem "not running as root: run it with sudo"
  if [[ -r /etc/os-release ]]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    case "${ID:-}:${VERSION_ID:-}" in
      debian:12 | ubuntu:22.04 | ubuntu:24.04) ;;
      *) problem "unsupported system ${PRETTY_NAME:-unknown}: Switchyard installs on Debian 12, Ubuntu 22.04 or 24.04" ;;
    esac
  else
    problem "cannot tell which system this is (no /etc/os-release)"
  fi
  case "$(uname -m)" in
    x86_64 | aarch64) ;;
    *) problem "unsupported CPU architecture $(uname -m): x86_64 or aarch64 needed" ;;
  esac
  local ram_mb
  ram_mb=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
  ((ram_mb >= MIN_RAM_MB)) || problem "only ${ram_mb} MB of memory: at least ${MIN_RAM_MB} MB needed"
  local dir free_gb
  for dir in /var/lib /opt; do
    free_gb=$(($(df -Pk "$dir" | awk 'NR == 2 {print $4}') / 1024 / 1024))
    ((free_gb >= MIN_DISK_GB)) || problem "only ${free_gb} GB free on $dir: at least ${MIN_DISK_GB} GB needed"
  done
  local port holder
  for port in $PORTS; do
    holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(("[^"]*"' | head -n 1 | cut -d'"' -f2 || true)"
    if [[ -n "$holder" && "$holder" != nginx ]]; then
      problem "port $port is in use by $holder: nginx must be the one serving ports 80 and 443"
    fi
  done
  [[ -d /run/systemd/system ]] || problem "systemd is not running as PID 1: apps and the panel run as systemd units"
  [[ -z "$acme_ca_bundle" || -r "$acme_ca_bundle" ]] || problem "SWITCHYARD_ACME_CA_BUNDLE $acme_ca_bundle cannot be read"
  if command -v apt-cache >/dev/null; then
    # Not `| grep -q`: grep leaving early kills apt-cache with SIGPIPE, which pipefail reports.
    local pkg
    for pkg in nginx python3-certbot-dns-rfc2136 python3-certbot-dns-cloudflare; do
      [[ "$(apt-cache policy "$pkg" 2>/dev/null)" == *"Candidate: "[0-9]* ]] ||
        problem "apt has no $pkg package to install: check /etc/apt/sources.list (on Ubuntu, the universe component) and run apt-get update"
    done
  else
    problem "apt is missing: Switchyard installs its packages with apt"
  fi
}

run_checks
if ((${#problems[@]})); then
  printf 'install.sh: this machine is not ready for Switchyard:\n' >&2
  printf '  - %s\n' "${problems[@]}" >&2
  printf 'Nothing was changed.\n' >&2
  exit 1
fi

# What an install would change that can be told in advance (--check lists it).
((with_redis)) && PACKAGES+=(redis-server)
missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
acme_text=""
if [[ -n "$acme_server" ]]; then
  acme_text="SWITCHYARD_ACME_SERVER=$acme_server"
  [[ -z "$acme_ca_bundle" ]] || acme_text+=$'\n'"REQUESTS_CA_BUNDLE=$acme_ca_bundle"
fi
# Apps are served on 80 and 443 (HTTP-01 challenges on 80): a firewall that is on must let both in.
closed_ports=()
if command -v ufw >/dev/null && [[ "$(ufw status 2>/dev/null || true)" == "Status: active"* ]]; then
  ufw_rules="$(ufw status 2>/dev/null)"
  for port in 80 443; do
    rule_re="(^|"$'\n'")($port(/tcp)?|Nginx Full)[[:space:]]+ALLOW"
    [[ "$ufw_rules" =~ $rule_re ]] || closed_ports+=("$port")
  done
fi

if ((check_only)); then
  plan=()
  ((${#missing[@]})) && plan+=("install packages: ${missing[*]}")
  [[ -d "$PREFIX/releases" ]] || plan+=("install Switchyard into $PREFIX (users, database, panel units, nginx site)")
  [[ -z "$acme_text" || "$(cat "$acme_env" 2>/dev/null)" == "$acme_text" ]] ||
    plan+=("write $acme_env: certificates from $acme_server${acme_ca_bundle:+ (trusting $acme_ca_bundle)}")
  ((${#closed_ports[@]})) && plan+=("allow ports ${closed_ports[*]}/tcp in ufw")
  [[ -z "$domain" || -d "/etc/letsencrypt/live/$domain" ]] || plan+=("request a certificate for $domain")
  if ((${#plan[@]})); then
    say "An install would:"
    printf '  - %s\n' "${plan[@]}"
  fi
  say "All checks passed: this machine is ready for Switchyard. Nothing was changed."
  exit 0
fi

# --- Uninstall ---------------------------------------------------------------------------------

if ((uninstall)); then
  say "Removing Switchyard"
  for unit in switchyard@blue.service switchyard@green.service switchyard.service; do
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
  done
  for unit in /etc/systemd/system/sy-*.service; do
    [[ -e "$unit" ]] || continue
    systemctl disable --now "$(basename "$unit")" 2>/dev/null || true
    rm -f "$unit"
  done
  rm -f /etc/systemd/system/switchyard@.service /etc/systemd/system/switchyard.service /etc/sudoers.d/switchyard \
    /etc/logrotate.d/switchyard "$HELPER" /usr/local/bin/switchyard
  rm -rf /etc/nginx/conf.d/switchyard /etc/nginx/conf.d/switchyard.conf "$PREFIX"
  systemctl daemon-reload
  systemctl reload nginx 2>/dev/null || true
  if ((purge)); then
    rm -rf "$DATA_DIR" "$CONFIG_DIR" "$LOG_DIR"
    runuser -u postgres -- psql -qc "drop database if exists switchyard" 2>/dev/null || true
    runuser -u postgres -- psql -qc "drop role if exists switchyard" 2>/dev/null || true
    runuser -u postgres -- psql -qc "drop role if exists switchyard_admin" 2>/dev/null || true
    # The apps' user first: it is a member of the panel's group, which then goes with its user.
    userdel "$APPS_USER" 2>/dev/null || true
    userdel "$PANEL_USER" 2>/dev/null || true
    groupdel "$PANEL_USER" 2>/dev/null || true
    say "Switchyard, its data and its database are gone."
  else
    say "Switchyard is removed. Data in $DATA_DIR, $CONFIG_DIR and the database are kept (--purge removes them)."
  fi
  exit 0
fi

# --- Install: each step does only what is missing --------------------------------------------

changed=0
note() {
  changed=1
  say "$*"
}

export DEBIAN_FRONTEND=noninteractive
# npm and Bun keep their own CA lists; the system's also holds what this server is told to trust.
[[ -n "${NODE_EXTRA_CA_CERTS:-}" || ! -f /etc/ssl/certs/ca-certificates.crt ]] || export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
if ((${#missing[@]})); then
  note "Installing packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for port in "${closed_ports[@]}"; do
  note "Allowing port $port/tcp in ufw"
  ufw allow "$port/tcp" >/dev/null
done

for user in "$PANEL_USER" "$APPS_USER"; do
  if ! id -u "$user" >/dev/null 2>&1; then
    note "Creating the system user $user"
    # A group of that name may be left from an earlier install: the user joins it.
    group=(--user-group)
    getent group "$user" >/dev/null && group=(--gid "$user")
    useradd --system "${group[@]}" --home-dir "$DATA_DIR" --no-create-home --shell /usr/sbin/nologin "$user"
  fi
done
# The apps' user reads the release files the panel writes (through the panel's group).
[[ " $(id -nG "$APPS_USER") " == *" $PANEL_USER "* ]] || { usermod -aG "$PANEL_USER" "$APPS_USER"; changed=1; }

ensure_dir() { # ensure_dir PATH MODE OWNER
  if [[ ! -d "$1" || "$(stat -c '%a %U' "$1")" != "$2 ${3%%:*}" ]]; then
    install -d -m "$2" -o "${3%%:*}" -g "${3##*:}" "$1"
    changed=1
  fi
}
ensure_dir "$PREFIX" 755 root:root
# The panel writes its own new versions (self-update) and points its slots at them; the helper,
# sudoers and units are installed from the source by this script alone, never from there.
ensure_dir "$PREFIX/releases" 755 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$PREFIX/slots" 755 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$CONFIG_DIR" 750 root:"$PANEL_USER"
# Others (nginx) may only pass through the data dir: to the ACME webroot and to the sockets,
# which the apps' forwarders create (setgid group dir) and nginx connects to.
ensure_dir "$DATA_DIR" 751 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$DATA_DIR/apps" 750 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$DATA_DIR/cache" 750 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$DATA_DIR/sock" 2771 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$DATA_DIR/acme" 755 "$PANEL_USER":"$PANEL_USER"
# The router of the apps' custom domains: nginx reads <host>/ links and markers on every request,
# and each certificate's files on every TLS handshake, as its worker user (www-data): the key
# files the panel writes there take the dir's group (setgid) and are 0640.
ensure_dir "$DATA_DIR/routes" 755 "$PANEL_USER":"$PANEL_USER"
ensure_dir "$DATA_DIR/tls" 2750 "$PANEL_USER":www-data
# nginx's workers write the apps' access logs through the routes' links (per request, as
# www-data): the logs take the dir's group and are group-writable (the panel creates them so).
ensure_dir "$LOG_DIR" 2750 "$PANEL_USER":www-data
for log in "$LOG_DIR"/*.access.log; do
  [[ -f "$log" && ( "$(stat -c '%G %a' "$log")" != "www-data 664" ) ]] || continue
  chgrp www-data "$log" && chmod 0664 "$log"
done
ensure_dir /etc/nginx/conf.d/switchyard 755 root:root

# PostgreSQL: a role and a database of its own, with a random password kept in the env file.
systemctl is-active --quiet postgresql || systemctl start postgresql
env_file="$CONFIG_DIR/switchyard.env"
if [[ ! -f "$env_file" ]]; then
  note "Creating the database and $env_file"
  db_password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  secret_key="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  runuser -u postgres -- psql -qv ON_ERROR_STOP=1 <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = 'switchyard') then create role switchyard login; end if;
end \$\$;
alter role switchyard password '$db_password';
SQL
  runuser -u postgres -- psql -tAc "select 1 from pg_database where datname = 'switchyard'" | grep -q 1 ||
    runuser -u postgres -- createdb -O switchyard switchyard
  public_url="http://${domain:-$(hostname -f 2>/dev/null || hostname)}"
  [[ -n "$domain" ]] && public_url="https://$domain"
  umask 077
  cat >"$env_file" <<ENV
SWITCHYARD_MODE=server
SWITCHYARD_DATA_DIR=$DATA_DIR
DATABASE_URL=postgres://switchyard:$db_password@127.0.0.1:5432/switchyard
HOST=127.0.0.1
PORT=$PANEL_PORT
SWITCHYARD_PUBLIC_URL=$public_url
SWITCHYARD_SECRET_KEY=$secret_key
SWITCHYARD_SKIP_GUI_BUILD=1
ENV
  umask 022
  # The panel's user only: the apps' user shares its group and must not read the key.
  chown "$PANEL_USER":"$PANEL_USER" "$env_file"
  chmod 0600 "$env_file"
fi

# App databases on this server's PostgreSQL (opt-in): a role that may create databases and roles,
# never superuser. The panel gives each app database a role and a database of its own.
if ((with_postgres)) && ! grep -q '^SWITCHYARD_DATABASE_ADMIN_URL=' "$env_file"; then
  note "Creating the role switchyard_admin for app databases"
  admin_db_password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  runuser -u postgres -- psql -qv ON_ERROR_STOP=1 <<SQL
do \$\$ begin
  if not exists (select from pg_roles where rolname = 'switchyard_admin') then create role switchyard_admin login createdb createrole; end if;
end \$\$;
alter role switchyard_admin login createdb createrole nosuperuser password '$admin_db_password';
SQL
  printf 'SWITCHYARD_DATABASE_ADMIN_URL=postgres://switchyard_admin:%s@127.0.0.1:5432/postgres\n' "$admin_db_password" >>"$env_file"
fi

env_set() { # env_set KEY VALUE — in the panel's env file, only when it differs
  local line
  line="$(grep "^$1=" "$env_file" || true)"
  [[ "$line" != "$1=$2" ]] || return 0
  note "Setting $1 in $env_file"
  local tmp
  tmp="$(mktemp)"
  grep -v "^$1=" "$env_file" >"$tmp" || true
  printf '%s=%s\n' "$1" "$2" >>"$tmp"
  install -m 0600 -o "$PANEL_USER" -g "$PANEL_USER" "$tmp" "$env_file"
  rm -f "$tmp"
}
# Certificates for apps: the panel asks for them (in server mode certbot runs through the helper,
# which reads the ACME server from the root-owned acme.env, never from what the panel passes).
if [[ -n "$acme_text" && "$(cat "$acme_env" 2>/dev/null)" != "$acme_text" ]]; then
  note "Writing $acme_env: certificates from $acme_server"
  tmp="$(mktemp)"
  printf '%s\n' "$acme_text" >"$tmp"
  install -m 0644 -o root -g root "$tmp" "$acme_env"
  rm -f "$tmp"
fi
[[ -z "$acme_server" ]] || env_set SWITCHYARD_ACME_SERVER "$acme_server"
[[ -z "$acme_ca_bundle" ]] || env_set SWITCHYARD_ACME_CA_BUNDLE "$acme_ca_bundle"
# The ACME account's contact for the apps' certificates too (only a plain address: the file is sourced).
[[ ! "$email" =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$ ]] || env_set SWITCHYARD_ACME_EMAIL "$email"
# Redis app databases run as their own sy-db-*-redis units; Debian's default instance is not used.
if ((with_redis)) && systemctl is-enabled --quiet redis-server 2>/dev/null; then
  note "Stopping Debian's default redis-server (app databases run as their own units)"
  systemctl disable --now redis-server >/dev/null 2>&1 || true
fi

# Where the panel's self-update looks for new versions: what this install came from.
if [[ -d "$source_arg" ]]; then
  update_source="$(cd "$source_arg" && pwd)"
  update_branch="$(git -C "$source_arg" symbolic-ref --short -q HEAD 2>/dev/null || echo main)"
else
  update_source="$source_arg" update_branch="$version"
fi
if ! grep -q '^SWITCHYARD_UPDATE_SOURCE=' "$env_file"; then
  note "Recording the update source $update_source ($update_branch)"
  printf 'SWITCHYARD_UPDATE_SOURCE=%s\nSWITCHYARD_UPDATE_BRANCH=%s\n' "$update_source" "$update_branch" >>"$env_file"
fi

# The code: a release directory per revision, each panel slot a symlink to one.
if [[ -d "$source_arg" ]]; then
  revision="$(git -C "$source_arg" rev-parse --short=12 HEAD 2>/dev/null || date +%Y%m%d%H%M%S)"
else
  revision="$(git ls-remote "$source_arg" "$version" | awk 'NR == 1 {print substr($1, 1, 12)}')"
  [[ -n "$revision" ]] || fail "cannot find '$version' in $source_arg"
fi
# The source's files in a root-owned place: the root-run assets below come from here.
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
chmod 755 "$stage"
if [[ -d "$source_arg" ]]; then
  git -C "$source_arg" archive --format=tar HEAD | tar -x -C "$stage"
else
  git clone -q --depth 1 --branch "$version" -- "$source_arg" "$stage"
  rm -rf "$stage/.git"
fi
release="$PREFIX/releases/$revision"
# Bun (the version package.json pins) from npm, then Bun installs the dependencies: Debian 12's
# npm 9 reads the lock file differently from the npm that wrote it and leaves out native packages.
bun_version="$(sed -n 's/^ *"bun": "\([0-9][0-9.]*\)".*/\1/p' "$stage/package.json" | head -n 1)"
[[ -n "$bun_version" ]] || fail "package.json pins no Bun version"
bun="$PREFIX/tools/bun-$bun_version/node_modules/.bin/bun"
if [[ ! -f "$release/.installed" ]]; then
  note "Installing Switchyard $revision into $release"
  [[ -x "$bun" ]] || npm install --prefix "$PREFIX/tools/bun-$bun_version" --no-audit --no-fund --loglevel=error "bun@$bun_version"
  rm -rf "$release" "$release.partial"
  cp -a "$stage" "$release.partial"
  printf '%s\n' "$revision" >"$release.partial/.revision"
  chown -R "$PANEL_USER":"$PANEL_USER" "$release.partial"
  # Dependencies and the GUI build as the panel's user, as its self-update does later.
  (cd "$release.partial" && runuser -u "$PANEL_USER" -- "$bun" install --no-progress >/dev/null &&
    cd app && runuser -u "$PANEL_USER" -- ../node_modules/.bin/bun --bun vite build --logLevel warn >/dev/null)
  runuser -u "$PANEL_USER" -- touch "$release.partial/.installed"
  mv -T "$release.partial" "$release"
fi

# The live panel slot is the one nginx's upstream symlink names; a first install starts in blue.
live="$(readlink "$DATA_DIR/sock/panel.sock" 2>/dev/null | sed -n 's/^panel-\(blue\|green\)\.sock$/\1/p' || true)"
live="${live:-blue}"
if [[ "$(readlink "$PREFIX/slots/$live" 2>/dev/null)" != "$release" ]]; then
  ln -sfn "$release" "$PREFIX/slots/$live.tmp" && mv -T "$PREFIX/slots/$live.tmp" "$PREFIX/slots/$live"
  chown -h "$PANEL_USER":"$PANEL_USER" "$PREFIX/slots/$live"
  changed=1
fi
if [[ ! -L "$DATA_DIR/sock/panel.sock" ]]; then
  ln -sfn "panel-$live.sock" "$DATA_DIR/sock/panel.sock"
  chown -h "$PANEL_USER":"$PANEL_USER" "$DATA_DIR/sock/panel.sock"
  changed=1
fi
# Before panel slots, the panel was one switchyard.service on port 3000.
if [[ -f /etc/systemd/system/switchyard.service ]]; then
  note "Moving the panel to its blue/green slot units"
  systemctl disable --now switchyard.service >/dev/null 2>&1 || true
  rm -f /etc/systemd/system/switchyard.service
fi

install_file() { # install_file MODE SOURCE TARGET — only when the content differs
  if ! cmp -s "$2" "$3"; then
    install -m "$1" -o root -g root "$2" "$3"
    changed=1
  fi
}
install -d -m 755 "$(dirname "$HELPER")"
install_file 0755 "$stage/infrastructure/helper/switchyard-helper" "$HELPER"
install_file 0440 "$stage/infrastructure/sudoers/switchyard" /etc/sudoers.d/switchyard
visudo -cqf /etc/sudoers.d/switchyard || fail "the sudoers file did not validate"
install_file 0644 "$stage/infrastructure/systemd/switchyard@.service" /etc/systemd/system/switchyard@.service
install_file 0644 "$stage/infrastructure/logrotate/switchyard" /etc/logrotate.d/switchyard
install_file 0755 "$stage/infrastructure/bin/switchyard" /usr/local/bin/switchyard

write_nginx() { # the panel's site; on https once the domain has its certificate
  local conf tls=()
  [[ -n "$domain" && -f "/etc/letsencrypt/live/$domain/fullchain.pem" ]] && tls=(--tls)
  conf="$(mktemp)"
  "$bun" "$stage/backend/commands/nginx-server-config.ts" --socket "$DATA_DIR/sock/panel.sock" \
    --standby-socket "$DATA_DIR/sock/panel-standby.sock" ${domain:+--domain "$domain"} "${tls[@]}" >"$conf"
  if ! cmp -s "$conf" /etc/nginx/conf.d/switchyard.conf; then
    note "Configuring nginx${tls[*]:+ (https)}"
    # Debian's default site also claims default_server on port 80.
    [[ -L /etc/nginx/sites-enabled/default ]] && rm -f /etc/nginx/sites-enabled/default
    install -m 0644 "$conf" /etc/nginx/conf.d/switchyard.conf
    nginx -t -q || fail "nginx refused the configuration (see nginx -t)"
    systemctl enable --now nginx >/dev/null 2>&1
    systemctl reload nginx
  fi
  rm -f "$conf"
}
write_nginx

if [[ -n "$domain" && ! -d "/etc/letsencrypt/live/$domain" ]]; then
  note "Requesting a certificate for $domain"
  env ${acme_ca_bundle:+REQUESTS_CA_BUNDLE="$acme_ca_bundle"} certbot certonly --non-interactive --agree-tos --webroot \
    --webroot-path "$DATA_DIR/acme" --email "$email" --domain "$domain" ${acme_server:+--server "$acme_server"} ||
    say "certbot could not get a certificate yet (is $domain pointing at this server?); the panel stays on http until it can"
  write_nginx
fi

# shellcheck disable=SC1090 # the env file written above
(cd "$release" && set -a && . "$env_file" && set +a && runuser -u "$PANEL_USER" -- node_modules/.bin/bun backend/cli.ts migrate >/dev/null)
systemctl daemon-reload
unit="switchyard@$live.service"
systemctl is-enabled --quiet "$unit" || { systemctl enable "$unit" >/dev/null 2>&1; changed=1; }
if ! systemctl is-active --quiet "$unit" || ((changed)); then
  systemctl restart "$unit"
fi
socket="$DATA_DIR/sock/panel-$live.sock"
panel() { curl -fsS --unix-socket "$socket" "http://localhost$1" "${@:2}"; }
for _ in $(seq 1 60); do
  panel /api/v1/health >/dev/null 2>&1 && break
  sleep 1
done
panel /api/v1/health >/dev/null || fail "the panel did not answer; see journalctl -u $unit"

# Until the owner account exists, /setup asks for the one-time code the panel keeps in its data dir.
setup_code=""
if panel /api/v1/setup | grep -q '"needed":true'; then
  setup_code="$(cat "$DATA_DIR/setup-code" 2>/dev/null || true)"
  [[ "$setup_code" =~ ^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$ ]] ||
    fail "the panel keeps no setup code in $DATA_DIR/setup-code; see journalctl -u $unit"
fi

if [[ -n "$admin_email" && -n "$setup_code" ]]; then
  printed=""
  if [[ -z "$admin_password" ]]; then
    admin_password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    printed=1
  fi
  body="$(printf '{"email":"%s","password":"%s","name":"Owner","code":"%s"}' "$admin_email" "$admin_password" "$setup_code")"
  panel /api/v1/setup -o /dev/null -H 'content-type: application/json' --data "$body" ||
    fail "could not create the owner account (a password needs 12 characters or more)"
  changed=1
  setup_code=""
  [[ -n "$printed" ]] && say "Owner $admin_email created with password: $admin_password (shown once; change it after signing in)"
fi

url="$(grep '^SWITCHYARD_PUBLIC_URL=' "$env_file" | cut -d= -f2-)"
if ((changed)); then
  say "Switchyard is running."
else
  say "Switchyard is already installed and running; nothing changed."
fi
cat <<SUMMARY

  Panel:     $url
SUMMARY
if [[ -n "$setup_code" ]]; then
  cat <<SETUP
  Setup:     open $url/setup and enter the setup code $setup_code
             (only the owner's first visit needs it; sudo switchyard setup-code prints it again)
SETUP
fi
cat <<SUMMARY
  Code:      $PREFIX/slots/$live -> $release   (the live panel slot: $unit)
  Config:    $env_file
  Data:      $DATA_DIR        Logs: journalctl -u 'switchyard@*', $LOG_DIR
  Updates:   the panel's Settings page, or: switchyard self-update (from $update_source)
  Apps:      systemd units sy-<app>-<blue|green>.service (systemctl list-units 'sy-*')
SUMMARY
