#!/usr/bin/env bash
# The Debian package end to end (issue 21), as root on a Debian machine:
# build it with cargo-deb from the release binary the tests ran, install
# it, check what it put where, validate its config and unit, start the
# service as its own user with the unit's own ExecStart (systemd is not
# PID 1 here, so the unit runs by hand), read /healthz, reload, stop, then
# remove and purge and check the machine is exactly as before.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "package: $*" >&2; exit 1; }

# cargo-deb, kept inside the repository's target/ (nothing cached outside).
TOOLS="$PWD/target/tools"
if ! [ -x "$TOOLS/bin/cargo-deb" ]; then
  cargo install cargo-deb --locked --quiet --root "$TOOLS"
fi
export PATH="$TOOLS/bin:$PATH"
cargo deb --version

test -x target/release/livescore || fail "build the release binary first (cargo test --release)"
if dpkg -s livescore >/dev/null 2>&1 || getent passwd livescore >/dev/null; then
  fail "a livescore package or user is already on this machine; not touching it"
fi

# Whatever happens below, the machine is left without the package, its
# user or a running service (a failed run must not break the next one).
cleanup() {
  pkill -u livescore 2>/dev/null || true
  if dpkg -s livescore >/dev/null 2>&1; then dpkg --purge livescore >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

rm -rf target/debian
deb=$(cargo deb --no-build --output target/debian/ | tail -n1)
test -f "$deb" || fail "cargo deb made no package ($deb)"
echo "built $deb"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'

# What install and purge may touch; the machine must look the same after.
snapshot() {
  { find /etc /usr/bin /usr/lib/systemd /lib/systemd /usr/share/doc /var/lib/systemd \
      -xdev 2>/dev/null || true; ls -d /var/lib/livescore 2>/dev/null || true; } | sort
  getent passwd | cut -d: -f1 | sort | sed 's/^/user /'
  getent group | cut -d: -f1 | sort | sed 's/^/group /'
}
before=$(mktemp)
snapshot > "$before"

echo "== dpkg -i"
dpkg -i "$deb"
test -x /usr/bin/livescore || fail "no /usr/bin/livescore"
unit=$(dpkg -L livescore | grep '/systemd/system/livescore.service$') || fail "no unit in the package"
test -f /usr/share/doc/livescore/nginx.conf || fail "no nginx example in /usr/share/doc/livescore"
dpkg-query -W -f='${Conffiles}\n' livescore | grep -q '/etc/livescore/livescore.toml' \
  || fail "/etc/livescore/livescore.toml is not a conffile"
getent passwd livescore | grep -q ':/var/lib/livescore:/usr/sbin/nologin$' \
  || fail "no livescore system user: $(getent passwd livescore || true)"
uid=$(id -u livescore)
[ "$uid" -lt 1000 ] || fail "livescore is not a system user (uid $uid)"
[ "$(stat -c '%U:%G %a' /var/lib/livescore)" = "livescore:livescore 750" ] \
  || fail "state directory: $(stat -c '%U:%G %a' /var/lib/livescore)"
[ "$(stat -c '%U:%G %a' /etc/livescore/livescore.toml)" = "root:livescore 640" ] \
  || fail "settings file: $(stat -c '%U:%G %a' /etc/livescore/livescore.toml)"
[ "$(stat -c '%U:%G %a' /etc/livescore/env)" = "root:livescore 640" ] \
  || fail "secrets file: $(stat -c '%U:%G %a' /etc/livescore/env)"
test -L /etc/systemd/system/multi-user.target.wants/livescore.service \
  || fail "the unit is not enabled"
grep -q '^ExecReload=' "$unit" || fail "the unit cannot reload"
for opt in 'User=livescore' 'StateDirectory=livescore' 'ProtectSystem=strict' \
           'NoNewPrivileges=yes' 'LimitNOFILE='; do
  grep -q "^$opt" "$unit" || fail "the unit lacks $opt"
done

echo "== config check (as the service's user)"
runuser -u livescore -- /usr/bin/livescore config check /etc/livescore/livescore.toml

if command -v systemd-analyze >/dev/null; then
  echo "== systemd-analyze verify"
  systemd-analyze verify "$unit"
fi

echo "== the unit's ExecStart as livescore"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
case "$exec_start" in /usr/bin/livescore\ *) ;; *) fail "ExecStart: $exec_start";; esac
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
# The environment file the unit reads, plus the address (an environment
# variable beats the file, as documented), in the unit's directory.
(
  cd /var/lib/livescore
  set -a; . /etc/livescore/env; set +a
  # shellcheck disable=SC2086
  exec runuser -u livescore -- env LIVESCORE_ADDR="127.0.0.1:$port" $exec_start
) >"$log" 2>&1 &
pid=$!
ok=""
for _ in $(seq 1 100); do
  if health=$(curl -fsS "http://127.0.0.1:$port/healthz" 2>/dev/null); then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ok" ] || { cat "$log"; fail "no /healthz from the service"; }
echo "$health"
echo "$health" | grep -q '"status":"ok"' || fail "not healthy: $health"
echo "$health" | grep -q '"kind":"sqlite"' || fail "not on SQLite: $health"
[ "$(stat -c %U /var/lib/livescore/livescore.db)" = livescore ] \
  || fail "the database is not the service's: $(ls -l /var/lib/livescore)"
server_pid=$(pgrep -u livescore -f '^/usr/bin/livescore serve') || fail "no livescore process of user livescore"
kill -HUP "$server_pid"
sleep 0.5
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log"; fail "gone after a reload"; }
grep -q 'reload' "$log" || { cat "$log"; fail "the reload was not logged"; }
kill -TERM "$server_pid"
wait "$pid" || { cat "$log"; fail "the service did not stop cleanly"; }
# The JSON log format from the settings file reached the service.
grep -q '^{"timestamp"' "$log" || { cat "$log"; fail "log-format from the settings file not applied"; }

echo "== dpkg -r"
dpkg -r livescore
test ! -e /usr/bin/livescore || fail "/usr/bin/livescore left after remove"
test ! -e "$unit" || fail "$unit left after remove"
test ! -e /etc/systemd/system/multi-user.target.wants/livescore.service || fail "still enabled after remove"
test -f /etc/livescore/livescore.toml || fail "remove took the settings (a conffile stays until purge)"

echo "== dpkg --purge"
dpkg --purge livescore
after=$(mktemp)
snapshot > "$after"
if ! diff -u "$before" "$after"; then
  fail "install then purge left the machine changed (above)"
fi
rm -f "$before" "$after" "$log"
echo "package: installed, served as livescore, reloaded, stopped, removed and purged cleanly"
