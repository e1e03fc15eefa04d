# Shared set-up steps for scripts/serve and scripts/test: each installs what is missing, once.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  if ! command -v apt-get >/dev/null; then
    say "please install: $* (no apt-get on this machine)"; return 1
  fi
  # (another apt-get, e.g. a second checkout's install or unattended upgrades: wait for its lock)
  local wait=(-o DPkg::Lock::Timeout=600)
  if [ -z "${_APT_UPDATED:-}" ]; then as_root apt-get "${wait[@]}" update -qq >/dev/null; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get "${wait[@]}" install -y -qq "$@" >/dev/null
}

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

ensure_python_env() {
  # requirements.lock (scripts/lock) pins every package, transitive ones included, with hashes: two
  # installs a week apart get the same bytes. A change to either file reinstalls.
  local want; want="$(hash_of "$ROOT/pyproject.toml" "$ROOT/requirements.lock")"
  if [ ! -x "$PY" ]; then
    local base; base="$(command -v python3.11 || command -v python3)"
    say "creating virtualenv with $($base --version)"
    "$base" -m venv "$VENV"
  fi
  if [ "$(cat "$VENV/.kaizen-installed" 2>/dev/null)" != "$want" ]; then
    say "installing Python packages"
    # pip's output goes to a log shown only when it fails: its warnings are noise on a working install
    local log="$VENV/pip-install.log"
    { "$PY" -m pip install -q --require-hashes -r "$ROOT/requirements.lock" \
        && "$PY" -m pip install -q --no-deps -e "$ROOT"; } >"$log" 2>&1 \
      || { cat "$log" >&2; say "installing Python packages failed (log: $log)"; return 1; }
    echo "$want" > "$VENV/.kaizen-installed"
  fi
}

ensure_frontend() {
  command -v npm >/dev/null || apt_install nodejs npm
  local front="$ROOT/frontend"
  local lock_hash; lock_hash="$(hash_of "$front/package.json" "$front/package-lock.json")"
  if [ ! -d "$front/node_modules" ] || [ "$(cat "$front/node_modules/.kaizen-installed" 2>/dev/null)" != "$lock_hash" ]; then
    say "installing npm packages"
    if [ -f "$front/package-lock.json" ]; then (cd "$front" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else (cd "$front" && npm install --no-audit --no-fund --loglevel=error >/dev/null); fi
    echo "$lock_hash" > "$front/node_modules/.kaizen-installed"
  fi
  local src_hash; src_hash="$(cd "$front" && find . -path ./node_modules -prune -o -type f -print | sort | xargs cat | sha256sum | cut -c1-16)"
  if [ "$(cat "$ROOT/static/build/.kaizen-built" 2>/dev/null)" != "$src_hash" ]; then
    say "building front-end assets into static/build"
    (cd "$front" && npm run --silent build >/dev/null)
    echo "$src_hash" > "$ROOT/static/build/.kaizen-built"
  fi
}

ensure_chromium() {
  [ -x /usr/bin/chromium ] && return 0
  say "installing Debian's chromium for the browser tests"
  apt_install chromium
}

ensure_postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing PostgreSQL"
    apt_install postgresql postgresql-client
  fi
  say "starting PostgreSQL"
  local version; version="$(ls /etc/postgresql | sort -V | tail -1)"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
  for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  # A fresh Debian install uses password auth on TCP: give the postgres role the password we use.
  as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return 0; fi
  command -v redis-server >/dev/null || { say "installing Redis"; apt_install redis-server; }
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/kaizen.log
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
}
