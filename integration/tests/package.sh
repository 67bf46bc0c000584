#!/usr/bin/env bash
# The Debian package and the system service, end to end on this machine:
# `cpack -G DEB` builds nexusfs_VERSION_ARCH.deb, lintian passes it, `dpkg
# -i` installs it (files, modes, man pages, completion, versions), the units
# pass `systemd-analyze verify`, nexusd starts the way nexusd.service starts
# it (its ExecStart line, a fake NOTIFY_SOCKET with a watchdog: machines
# running the tests have no systemd to do it) and says READY=1 only once the
# mount and the control socket serve, `nexus` finds it with no options, a
# nexus-mount@ instance adds and removes its mount, ExecStop stops it
# cleanly, and `dpkg --purge` leaves nothing behind but the data dir, which
# goes only when asked (NEXUS_PURGE_DATA=yes).
#
# It installs into the real /usr, /etc and /lib/systemd: it needs root, and
# it skips (77) on a machine where nexusfs is installed already rather than
# replace it, and where systemd runs (the package's postinst would start the
# real service there). One run at a time per machine (a lock), as dpkg
# allows.
source "$(dirname "$0")/../lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)

[[ $(id -u) -eq 0 ]] || fail "needs root (dpkg -i)"
if [[ -d /run/systemd/system ]]; then
  # postinst would start the real service, and this test plays systemd itself.
  echo "SKIP: systemd runs here; the test stands in for it only where it does not"
  exit 77
fi
if dpkg-query -W -f='${Status}' nexusfs 2>/dev/null | grep -q installed; then
  echo "SKIP: nexusfs is installed on this machine; not replacing it"
  exit 77
fi
for tool in cpack lintian systemd-analyze dpkg-deb python3 man; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh)"
done
exec 9>/run/lock/nexusfs-package-test.lock
flock -w 600 9 || fail "another package test holds /run/lock/nexusfs-package-test.lock"

SERVICE_PID=""
LISTENER_PID=""
DATA=/var/lib/nexus
MNT=/srv/nexus
SOCK=/run/nexus/nexusd.sock
for p in $DATA $MNT /etc/nexus /run/nexus; do [[ ! -e $p ]] || fail "$p exists already: not a clean machine"; done

package_cleanup() {
  [[ -n $SERVICE_PID ]] && kill -TERM "$SERVICE_PID" 2>/dev/null && sleep 2
  [[ -n $SERVICE_PID ]] && kill -KILL "$SERVICE_PID" 2>/dev/null
  [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null
  for m in $(awk -v m="$MNT" -v r="$TEST_ROOT" '$2 == m || index($2, r) == 1 { print $2 }' /proc/mounts); do
    fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  if dpkg-query -W -f='${Status}' nexusfs 2>/dev/null | grep -q installed; then
    NEXUS_PURGE_DATA=yes dpkg --purge nexusfs >/dev/null 2>&1 || true
  fi
  rm -rf /run/nexus /run/credentials/nexusd.service
  rmdir "$MNT" 2>/dev/null || true
  rm -rf "$DATA"
}
trap 'rc=$?; package_cleanup; (exit $rc); _nexus_cleanup' EXIT

# What the machine holds outside the places that change on their own.
machine_files() {
  { find /etc /usr /lib /srv /var/lib /run/nexus -xdev 2>/dev/null || true; } |
    grep -Ev '^/var/lib/(dpkg|apt|nexus|man-db|systemd/(timers|coredump|random-seed)|ucf|logrotate)(/|$)|/__pycache__(/|$)' |
    LC_ALL=C sort
}
machine_files >"$TEST_ROOT/before"

note "cpack -G DEB"
version=$("$NEXUS_CLI" --version | cut -d' ' -f2)
arch=$(dpkg --print-architecture)
start=$SECONDS
(cd "$NEXUS_BUILD_DIR" && cpack -G DEB -B "$TEST_ROOT/pkg" >"$TEST_ROOT/cpack.log" 2>&1) ||
  { tail -n 20 "$TEST_ROOT/cpack.log" >&2; fail "cpack -G DEB failed"; }
DEB="$TEST_ROOT/pkg/nexusfs_${version}_${arch}.deb"
[[ -f $DEB ]] || fail "no $DEB: $(ls "$TEST_ROOT/pkg")"
note "built $(basename "$DEB") ($(du -h "$DEB" | cut -f1)) in $((SECONDS - start)) s"
depends=$(dpkg-deb -f "$DEB" Depends)
for dep in fuse3 bubblewrap python3 libfuse3-3 libsqlite3-0 libsystemd0 libgit2-1.5 libcapnp; do
  [[ $depends == *"$dep"* ]] || fail "Depends lacks $dep: $depends"
done
dpkg-deb -c "$DEB" | awk '{ print $1, $2, $6 }' >"$TEST_ROOT/contents"

note "lintian"
start=$SECONDS
lintian --fail-on error,warning "$DEB" >"$TEST_ROOT/lintian" 2>&1 ||
  { cat "$TEST_ROOT/lintian" >&2; fail "lintian reports errors or warnings"; }
note "lintian clean in $((SECONDS - start)) s$( [[ -s $TEST_ROOT/lintian ]] && echo ": $(cat "$TEST_ROOT/lintian")")"

note "dpkg -i"
dpkg -i "$DEB" >"$TEST_ROOT/dpkg.log" 2>&1 || { cat "$TEST_ROOT/dpkg.log" >&2; fail "dpkg -i failed"; }
# mode owner path
expect_file() {
  local want="$1 $2" path=$3 got
  got=$(stat -c '%a %U:%G' "$path" 2>/dev/null) || fail "$path is not installed"
  [[ $got == "$want" ]] || fail "$path: $got, expected $want"
}
expect_file 755 root:root /usr/sbin/nexusd
expect_file 755 root:root /usr/bin/nexus
expect_file 755 root:root /usr/lib/nexusfs/lab/labctl
expect_file 644 root:root /lib/systemd/system/nexusd.service
expect_file 644 root:root /lib/systemd/system/nexus-mount@.service
expect_file 644 root:root /etc/nexus/nexus.yaml
expect_file 700 root:root /etc/nexus/credentials
expect_file 755 root:root /etc/nexus/mounts
expect_file 750 root:root $DATA
expect_file 644 root:root /usr/share/bash-completion/completions/nexus
expect_file 644 root:root /usr/share/doc/nexusfs/copyright
expect_file 644 root:root /usr/share/doc/nexusfs/docs/install.md
[[ $(readlink /usr/bin/nexus-labctl) == ../lib/nexusfs/lab/labctl ]] || fail "nexus-labctl link"
nexus-labctl --help | grep -q "network namespaces" || fail "nexus-labctl --help"
grep -qx /etc/nexus/nexus.yaml /var/lib/dpkg/info/nexusfs.conffiles || fail "nexus.yaml is no conffile"
for bin in /usr/sbin/nexusd /usr/bin/nexus; do
  ! readelf -S "$bin" | grep -q '\.symtab' || fail "$bin is not stripped"
done
# The version and the commit of the build, a commit of this repository.
[[ $(/usr/bin/nexus --version) =~ ^nexus\ $version\ \(git\ ([0-9a-f]{12})(-dirty)?\)$ ]] ||
  fail "nexus --version: $(/usr/bin/nexus --version)"
commit=${BASH_REMATCH[1]}
git -C "$SRC" cat-file -e "$commit^{commit}" || fail "nexus --version names $commit, no commit of $SRC"
[[ $(/usr/bin/nexus --version) == $("$NEXUS_CLI" --version) ]] || fail "nexus --version differs from the build's"
[[ $(/usr/sbin/nexusd --version) == $("$NEXUSD" --version) ]] || fail "nexusd --version differs from the build's"
[[ $(/usr/sbin/nexusd --version) == "nexusd ${version} (git ${commit}"* ]] ||
  fail "nexusd --version: $(/usr/sbin/nexusd --version)"
for page in nexus.1 nexusd.8 nexus-labctl.1; do
  path=$(man -w "${page%.*}" 2>/dev/null) || fail "man ${page%.*}: no page"
  [[ $path == /usr/share/man/man${page##*.}/$page.gz ]] || fail "man ${page%.*} finds $path"
  warnings=$(MANWIDTH=80 man --warnings -E UTF-8 -l "$path" 2>&1 >/dev/null) || true
  [[ -z $warnings ]] || fail "man $page: $warnings"
done
man -l /usr/share/man/man1/nexus.1.gz 2>/dev/null | grep -q "nexus versions history PATH" ||
  fail "nexus(1) lacks the commands"
man -l /usr/share/man/man8/nexusd.8.gz 2>/dev/null | grep -q -- "--data-dir" || fail "nexusd(8) lacks the options"

note "systemd-analyze verify"
cp /lib/systemd/system/nexus-mount@.service "$TEST_ROOT/nexus-mount@demo.service"
# Verified beside the installed units, as systemd would load them.
SYSTEMD_UNIT_PATH="$TEST_ROOT:/lib/systemd/system:" systemd-analyze verify \
  /lib/systemd/system/nexusd.service "$TEST_ROOT/nexus-mount@demo.service" >"$TEST_ROOT/verify" 2>&1 ||
  { cat "$TEST_ROOT/verify" >&2; fail "systemd-analyze verify failed"; }
[[ ! -s $TEST_ROOT/verify ]] || { cat "$TEST_ROOT/verify" >&2; fail "systemd-analyze verify warns"; }
[[ -L /etc/systemd/system/multi-user.target.wants/nexusd.service ]] || fail "nexusd.service is not enabled"

# The lines of the installed unit, with what systemd does around them.
unit_line() { sed -n "s/^$1=//p" "/lib/systemd/system/$2"; }
exec_start=$(unit_line ExecStart nexusd.service)
exec_stop=$(unit_line ExecStop nexusd.service)
watchdog_s=$(unit_line WatchdogSec nexusd.service)
[[ $(unit_line Type nexusd.service) == notify ]] || fail "nexusd.service is not Type=notify"
[[ -n $exec_start && -n $exec_stop && -n $watchdog_s ]] || fail "the unit lacks ExecStart, ExecStop or WatchdogSec"
[[ $exec_start == "/usr/sbin/nexusd --config /etc/nexus/nexus.yaml" ]] || fail "ExecStart: $exec_start"

note "secrets: LoadCredential= and \${file:...}"
# A secret in /etc/nexus/credentials, read by the configuration from where
# the unit's LoadCredential= puts it.
install -m 0600 /dev/stdin /etc/nexus/credentials/embeddings-key <<<"s3cret"
echo 'search_embeddings_key: ${file:/run/credentials/nexusd.service/nexus_embeddings-key}' >>/etc/nexus/nexus.yaml
read -r -a argv <<<"$exec_start"
expect_rc 64 "${argv[@]}"
expect_err "/run/credentials/nexusd.service/nexus_embeddings-key"
# What systemd does for LoadCredential=ID:DIR: every file F of DIR becomes
# $CREDENTIALS_DIRECTORY/ID_F, readable by the service alone.
credential=$(unit_line LoadCredential nexusd.service)
[[ $credential == nexus:/etc/nexus/credentials ]] || fail "LoadCredential=$credential"
install -d -m 0700 /run/credentials/nexusd.service
for f in "${credential#*:}"/*; do
  install -m 0400 "$f" "/run/credentials/nexusd.service/${credential%%:*}_$(basename "$f")"
done

note "start as nexusd.service does: $exec_start"
# A fake service manager: records every notification, and on READY=1
# whether the mount and the socket serve at that moment.
cat >"$TEST_ROOT/manager.py" <<PY
import socket, subprocess, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("$TEST_ROOT/notify.sock")
out = open("$TEST_ROOT/notify.log", "a", buffering=1)
while True:
    msg = s.recv(4096).decode()
    line = msg.replace("\n", " ")
    if "READY=1" in msg:
        fuse = subprocess.run(["stat", "-f", "-c", "%t", "$MNT"], capture_output=True,
                              text=True).stdout.strip() == "65735546"
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect("$SOCK"); sock_ok = True
        except OSError:
            sock_ok = False
        line += " mounted=%s socket=%s" % (fuse, sock_ok)
    out.write("%.3f %s\n" % (time.time(), line))
PY
python3 "$TEST_ROOT/manager.py" &
LISTENER_PID=$!
for _ in $(seq 100); do [[ -S $TEST_ROOT/notify.sock ]] && break; sleep 0.05; done
# What the unit's directives make before ExecStart: the runtime and state
# directories.
install -d -m 0755 /run/nexus
install -d -m 0750 $DATA
read -r -a argv <<<"$exec_start"
CREDENTIALS_DIRECTORY=/run/credentials/nexusd.service NOTIFY_SOCKET="$TEST_ROOT/notify.sock" WATCHDOG_USEC=$((${watchdog_s%s} * 1000000 / 15)) \
  bash -c 'export WATCHDOG_PID=$$; exec env --default-signal=INT "$@"' nexusd "${argv[@]}" \
  >>"$NEXUS_LOG" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 400); do grep -q "READY=1" "$TEST_ROOT/notify.log" 2>/dev/null && break; sleep 0.05; done
grep "READY=1" "$TEST_ROOT/notify.log" >/dev/null || fail "no READY=1 within 20 s: $(cat "$TEST_ROOT/notify.log" 2>/dev/null)"
grep -q "READY=1 STATUS=serving $DATA at $MNT mounted=True socket=True" "$TEST_ROOT/notify.log" ||
  fail "READY=1 before the mount and the socket served: $(cat "$TEST_ROOT/notify.log")"
fuse_live $MNT || fail "$MNT is no live FUSE mount"
[[ -S $SOCK ]] || fail "no control socket at $SOCK"
# The watchdog: WATCHDOG_USEC is WatchdogSec / 15 here (2 s), pinged every half.
for _ in $(seq 200); do [[ $(grep -c "WATCHDOG=1" "$TEST_ROOT/notify.log") -ge 2 ]] && break; sleep 0.05; done
[[ $(grep -c "WATCHDOG=1" "$TEST_ROOT/notify.log") -ge 2 ]] || fail "the watchdog is not fed: $(cat "$TEST_ROOT/notify.log")"

note "nexus finds the system daemon with no options"
mkdir -p "$TEST_ROOT/elsewhere"
sys_nx() { (cd "$TEST_ROOT/elsewhere" && env -u NEXUS_SOCKET -u NEXUS_DATA_DIR NEXUS_HOME="$TEST_ROOT/home" /usr/bin/nexus "$@"); }
expect_rc 0 sys_nx --json status
expect_json 'j["mountpoint"]' "$MNT"
expect_json 'j["socket"]' "$SOCK"
expect_json 'j["version"]' "$version"
echo "from the service" >$MNT/hello.txt
expect_rc 0 sys_nx cat /hello.txt
[[ $(out) == "from the service" ]] || fail "nexus cat through the system socket"

note "a per-subject mount: nexus-mount@demo"
cat >/etc/nexus/mounts/demo.conf <<CONF
MOUNTPOINT=$TEST_ROOT/demo
SUBJECT=user:admin
ROOT=/
CONF
# Each Exec line with the instance's EnvironmentFile, ${VAR} expanded as systemd does.
run_instance_line() {
  local line
  line=$(unit_line "$1" nexus-mount@.service)
  (set -a && source /etc/nexus/mounts/demo.conf && eval "$line") >>"$TEST_ROOT/instance.log" 2>&1 ||
    fail "nexus-mount@demo $1 failed: $(cat "$TEST_ROOT/instance.log")"
}
run_instance_line ExecStartPre
run_instance_line ExecStart
wait_mounted "$TEST_ROOT/demo"
[[ $(cat "$TEST_ROOT/demo/hello.txt") == "from the service" ]] || fail "the per-subject mount serves another tree"
run_instance_line ExecStop
fuse_live "$TEST_ROOT/demo" && fail "ExecStop of nexus-mount@demo left the mount"
rm /etc/nexus/mounts/demo.conf

note "stop as nexusd.service does: $exec_stop"
read -r -a argv <<<"$exec_stop"
"${argv[@]}" >"$TEST_ROOT/stop.log" 2>&1 || fail "ExecStop failed: $(cat "$TEST_ROOT/stop.log")"
pid_running "$SERVICE_PID" && fail "nexusd still runs after ExecStop"
rc=0
wait "$SERVICE_PID" || rc=$?
SERVICE_PID=""
[[ $rc -eq 0 ]] || fail "nexusd exited $rc after ExecStop"
mountpoint -q $MNT && fail "$MNT still mounted after ExecStop"
grep -q "STOPPING=1" "$TEST_ROOT/notify.log" || fail "no STOPPING=1"
note "what the service manager heard:"
sed 's/^/    /' "$TEST_ROOT/notify.log" | head -n 8
kill "$LISTENER_PID"
LISTENER_PID=""
rm -rf /run/nexus /run/credentials/nexusd.service  # they go with the service
rm /etc/nexus/credentials/embeddings-key  # the operator's file: dpkg leaves it

note "dpkg --purge keeps the data"
dpkg --purge nexusfs >"$TEST_ROOT/purge.log" 2>&1 || { cat "$TEST_ROOT/purge.log" >&2; fail "dpkg --purge failed"; }
grep -q "kept the data in $DATA" "$TEST_ROOT/purge.log" || fail "purge does not say it kept $DATA"
[[ -f $DATA/meta.db ]] || fail "purge removed the data dir"
machine_files >"$TEST_ROOT/after"
diff "$TEST_ROOT/before" "$TEST_ROOT/after" >"$TEST_ROOT/left" ||
  { head -n 30 "$TEST_ROOT/left" >&2; fail "dpkg --purge left files behind (or removed some)"; }

note "dpkg --purge with NEXUS_PURGE_DATA=yes removes it"
dpkg -i "$DEB" >"$TEST_ROOT/dpkg.log" 2>&1 || { cat "$TEST_ROOT/dpkg.log" >&2; fail "second dpkg -i failed"; }
[[ -f $DATA/meta.db ]] || fail "reinstalling lost the data"
NEXUS_PURGE_DATA=yes dpkg --purge nexusfs >"$TEST_ROOT/purge.log" 2>&1 || fail "dpkg --purge failed"
[[ ! -e $DATA ]] || fail "NEXUS_PURGE_DATA=yes kept $DATA"
machine_files | grep -v "^$DATA" >"$TEST_ROOT/after"
diff "$TEST_ROOT/before" "$TEST_ROOT/after" >"$TEST_ROOT/left" ||
  { head -n 30 "$TEST_ROOT/left" >&2; fail "the second purge left files behind"; }
echo "PASS"
