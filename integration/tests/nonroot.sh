#!/usr/bin/env bash
# Permission checks as an unprivileged user (uid/gid 1000, no supplementary
# groups). The same fixture (files and directories with chosen modes and
# owners, built as root) is made in a native directory and on the mount; the
# same table of operations is run in both as uid 1000. Every operation must
# give the result POSIX prescribes (EACCES, EPERM, EEXIST or success; the
# expectation is written next to each operation), and the mount must agree
# with the native directory step by step. Afterwards, as root, the side
# effects are compared too: owners of new files, SUID/SGID bits cleared on
# write by a non-owner, SGID directory inheritance.
#
# Env: NONROOT_UID / NONROOT_GID (default 1000/1000).
source "$(dirname "$0")/../lib.sh"
# Other uids here get what POSIX mode bits give them: ReBAC is off (it is
# tested on the mount in rebac_mount.sh and on the socket in rebac_cli.sh).
NEXUSD_EXTRA_ARGS+=(--features rebac=off)

AS_UID=${NONROOT_UID:-1000}
AS_GID=${NONROOT_GID:-1000}
PY=/usr/bin/python3  # not a per-user shim: it must run as uid $AS_UID
[[ -x $PY ]] || fail "$PY not found"
HELPER="$TEST_ROOT/perm_ops.py"

cat >"$HELPER" <<'EOF'
"""Fixture, operation table and side-effect inspection for nonroot.sh.

perm_ops.py setup BASE UID GID     (as root) builds the fixture in BASE
perm_ops.py run BASE               (as the user) prints "name<TAB>result"
perm_ops.py inspect BASE           (as root) prints "name<TAB>fact"
perm_ops.py expected run|inspect   prints the expected lines
"""
import errno, os, stat, subprocess, sys

OTHER = 1001  # a third uid that owns some files


def setup(base, uid, gid):
    os.umask(0)
    def f(path, mode, owner=(0, 0), data=b"data\n"):
        p = os.path.join(base, path)
        with open(p, "wb") as fh:
            fh.write(data)
        os.chown(p, *owner)
        os.chmod(p, mode)
    def d(path, mode, owner=(0, 0)):
        p = os.path.join(base, path)
        os.mkdir(p)
        os.chown(p, *owner)
        os.chmod(p, mode)
    f("secret", 0o600)
    f("pub", 0o644)
    f("grp_deny", 0o604, (0, gid))
    f("grp_allow", 0o640, (0, gid))
    f("owner_deny", 0o077, (uid, gid))
    f("mine", 0o644, (uid, gid))
    f("mine_g0", 0o755, (uid, 0))
    f("xattr_mine", 0o644, (uid, gid))
    f("suid_w", 0o4777)
    f("sgid_w", 0o2777)
    f("script_nox", 0o644, data=b"#!/bin/sh\necho hi\n")
    f("script_x", 0o755, data=b"#!/bin/sh\necho hi\n")
    f("script_ownerx", 0o700, data=b"#!/bin/sh\necho hi\n")
    with open("/bin/true", "rb") as fh:
        f("bin_noread", 0o711, data=fh.read())
    d("rodir", 0o755)
    f("rodir/f", 0o666)
    d("rodir/sub", 0o755)
    os.chmod(os.path.join(base, "rodir"), 0o555)
    d("noxdir", 0o755)
    f("noxdir/f", 0o644)
    os.symlink("f", os.path.join(base, "noxdir/link"))
    os.chmod(os.path.join(base, "noxdir"), 0o644)
    d("noreaddir", 0o711)
    f("noreaddir/known", 0o644)
    d("sticky", 0o1777)
    f("sticky/others", 0o666, (OTHER, OTHER))
    f("sticky/rootfile", 0o666)
    d("sticky/others_dir", 0o777, (OTHER, OTHER))
    d("ownd", 0o755, (uid, gid))
    f("ownd/rootfile", 0o644)
    d("ownd/rootsub", 0o755)
    d("ownd2", 0o755, (uid, gid))
    d("sgdir", 0o2777, (0, 50))


def table(base):
    """The operations, each with its expected result; nothing runs here."""
    P = lambda p: os.path.join(base, p)
    def opn(path, flags, mode=0o644):
        def op():
            os.close(os.open(P(path), flags, mode))
        return op
    def write(path):
        def op():
            fd = os.open(P(path), os.O_WRONLY)
            os.write(fd, b"written\n")
            os.close(fd)
        return op
    def execute(path):
        def op():
            r = subprocess.run([P(path)], capture_output=True)
            return "exit=%d" % r.returncode
        return op
    def mode_of(path):
        return lambda: "%o" % stat.S_IMODE(os.stat(P(path)).st_mode)
    def chain(*ops):
        def op():
            out = None
            for o in ops:
                out = o()
            return out
        return op
    def listdir(path):
        return lambda: ",".join(sorted(os.listdir(P(path))))
    def access(path, how):
        return lambda: str(os.access(P(path), how))
    def mkfifo(path):
        return lambda: os.mkfifo(P(path), 0o644)

    return [
        # name, operation, expected result
        ("read_secret", opn("secret", os.O_RDONLY), "EACCES"),
        ("write_secret", opn("secret", os.O_WRONLY), "EACCES"),
        ("read_pub", opn("pub", os.O_RDONLY), "OK"),
        ("write_pub", opn("pub", os.O_WRONLY), "EACCES"),
        ("trunc_open_pub", opn("pub", os.O_RDONLY | os.O_TRUNC), "EACCES"),
        ("truncate_pub", lambda: os.truncate(P("pub"), 0), "EACCES"),
        ("read_grp_deny", opn("grp_deny", os.O_RDONLY), "EACCES"),
        ("read_grp_allow", opn("grp_allow", os.O_RDONLY), "OK"),
        ("read_owner_deny", opn("owner_deny", os.O_RDONLY), "EACCES"),
        ("access_secret_r", access("secret", os.R_OK), "OK:False"),
        ("access_pub_w", access("pub", os.W_OK), "OK:False"),
        ("access_rodir_w", access("rodir", os.W_OK), "OK:False"),
        ("access_script_x", access("script_x", os.X_OK), "OK:True"),
        ("access_script_nox", access("script_nox", os.X_OK), "OK:False"),
        ("chmod_pub", lambda: os.chmod(P("pub"), 0o666), "EPERM"),
        ("chown_pub", lambda: os.chown(P("pub"), os.getuid(), os.getgid()), "EPERM"),
        ("chown_mine_to_other", lambda: os.chown(P("mine"), OTHER, -1), "EPERM"),
        ("chgrp_mine_to_root", lambda: os.chown(P("mine"), -1, 0), "EPERM"),
        ("chgrp_mine_own_group", lambda: os.chown(P("mine"), -1, os.getgid()), "OK"),
        ("chmod_mine", chain(lambda: os.chmod(P("mine"), 0o600), mode_of("mine")), "OK:600"),
        ("chmod_mine_sgid_foreign_group", chain(lambda: os.chmod(P("mine_g0"), 0o2755), mode_of("mine_g0")), "OK:755"),
        ("utime_pub_explicit", lambda: os.utime(P("pub"), (1, 1)), "EPERM"),
        ("utime_pub_now", lambda: os.utime(P("pub"), None), "EACCES"),
        ("utime_mine_explicit", chain(lambda: os.utime(P("mine"), (1, 2)), lambda: str(os.stat(P("mine")).st_mtime_ns)), "OK:2000000000"),
        ("utime_others_writable_now", lambda: os.utime(P("sticky/others"), None), "OK"),
        ("utime_others_writable_explicit", lambda: os.utime(P("sticky/others"), (1, 1)), "EPERM"),
        ("create_in_rodir", opn("rodir/new", os.O_CREAT | os.O_WRONLY), "EACCES"),
        ("create_excl_existing_in_rodir", opn("rodir/f", os.O_CREAT | os.O_EXCL | os.O_WRONLY), "EEXIST"),
        ("mkdir_in_rodir", lambda: os.mkdir(P("rodir/newdir")), "EACCES"),
        ("mkfifo_in_rodir", mkfifo("rodir/fifo"), "EACCES"),
        ("symlink_in_rodir", lambda: os.symlink("x", P("rodir/sym")), "EACCES"),
        ("unlink_in_rodir", lambda: os.unlink(P("rodir/f")), "EACCES"),
        ("rmdir_in_rodir", lambda: os.rmdir(P("rodir/sub")), "EACCES"),
        ("rename_in_rodir", lambda: os.rename(P("rodir/f"), P("rodir/g")), "EACCES"),
        ("rename_out_of_rodir", lambda: os.rename(P("rodir/f"), P("ownd/f")), "EACCES"),
        ("rename_into_rodir", lambda: os.rename(P("xattr_mine"), P("rodir/x")), "EACCES"),
        ("write_file_in_rodir", write("rodir/f"), "OK"),
        ("mkdir_in_base", lambda: os.mkdir(P("newdir")), "EACCES"),
        ("list_noxdir", listdir("noxdir"), "OK:f,link"),
        ("stat_in_noxdir", lambda: os.stat(P("noxdir/f")), "EACCES"),
        ("read_in_noxdir", opn("noxdir/f", os.O_RDONLY), "EACCES"),
        ("readlink_in_noxdir", lambda: os.readlink(P("noxdir/link")), "EACCES"),
        ("chdir_noxdir", lambda: os.chdir(P("noxdir")), "EACCES"),
        ("list_noreaddir", listdir("noreaddir"), "EACCES"),
        ("stat_known_in_noreaddir", lambda: os.stat(P("noreaddir/known")), "OK"),
        ("read_known_in_noreaddir", opn("noreaddir/known", os.O_RDONLY), "OK"),
        ("unlink_sticky_others", lambda: os.unlink(P("sticky/others")), "EPERM"),
        ("unlink_sticky_rootfile", lambda: os.unlink(P("sticky/rootfile")), "EPERM"),
        ("rename_sticky_others", lambda: os.rename(P("sticky/others"), P("sticky/others2")), "EPERM"),
        ("rmdir_sticky_others_dir", lambda: os.rmdir(P("sticky/others_dir")), "EPERM"),
        ("write_sticky_others", write("sticky/others"), "OK"),
        ("truncate_sticky_others", lambda: os.truncate(P("sticky/others"), 3), "OK"),
        ("create_in_sticky", opn("sticky/mine_keep", os.O_CREAT | os.O_WRONLY), "OK"),
        ("create_in_sticky_2", opn("sticky/mine_tmp", os.O_CREAT | os.O_WRONLY), "OK"),
        ("rename_over_others_in_sticky", lambda: os.rename(P("sticky/mine_tmp"), P("sticky/others")), "EPERM"),
        ("unlink_sticky_mine", lambda: os.unlink(P("sticky/mine_tmp")), "OK"),
        ("mkdir_in_others_dir", lambda: os.mkdir(P("sticky/others_dir/mine")), "OK"),
        ("unlink_rootfile_in_owndir", lambda: os.unlink(P("ownd/rootfile")), "OK"),
        ("rename_rootsub_same_dir", lambda: os.rename(P("ownd/rootsub"), P("ownd/rootsub2")), "OK"),
        ("rename_rootsub_other_dir", lambda: os.rename(P("ownd/rootsub2"), P("ownd2/rootsub")), "EACCES"),
        ("mkfifo_in_owndir", mkfifo("ownd/fifo"), "OK"),
        ("link_to_secret", lambda: os.link(P("secret"), P("ownd/hl_secret")), "EPERM"),
        ("link_to_pub", lambda: os.link(P("pub"), P("ownd/hl_pub")), "EPERM"),
        ("link_to_others_rw", lambda: os.link(P("sticky/others"), P("ownd/hl_others")), "OK"),
        ("exec_script_nox", execute("script_nox"), "EACCES"),
        ("exec_script_x", execute("script_x"), "OK:exit=0"),
        ("exec_script_ownerx", execute("script_ownerx"), "EACCES"),
        ("exec_bin_noread", execute("bin_noread"), "OK:exit=0"),
        ("read_bin_noread", opn("bin_noread", os.O_RDONLY), "EACCES"),
        ("write_suid", write("suid_w"), "OK"),
        ("write_sgid", write("sgid_w"), "OK"),
        ("setxattr_user_pub", lambda: os.setxattr(P("pub"), "user.k", b"v"), "EACCES"),
        ("setxattr_user_mine", lambda: os.setxattr(P("xattr_mine"), "user.k", b"v"), "OK"),
        ("setxattr_trusted_mine", lambda: os.setxattr(P("xattr_mine"), "trusted.k", b"v"), "EPERM"),
        ("getxattr_user_secret", lambda: os.getxattr(P("secret"), "user.k"), "EACCES"),
        ("create_in_sgdir", opn("sgdir/file", os.O_CREAT | os.O_WRONLY), "OK"),
        ("mkdir_in_sgdir", lambda: os.mkdir(P("sgdir/sub"), 0o755), "OK"),
    ]


def run(base):
    os.umask(0o022)
    for name, op, _ in table(base):
        try:
            out = op()
            res = "OK:%s" % out if isinstance(out, str) else "OK"
        except OSError as e:
            res = errno.errorcode.get(e.errno, str(e.errno))
        print("%s\t%s" % (name, res), flush=True)


FACTS = [
        ("suid_w_after_write", "suid_w", "777 0:0"),  # S_ISUID cleared by a write
        ("sgid_w_after_write", "sgid_w", "777 0:0"),  # S_ISGID (with g+x) cleared too
        ("mine", "mine", "600 {u}:{g}"),
        ("mine_g0", "mine_g0", "755 {u}:0"),
        ("new_file_owner", "sticky/mine_keep", "644 {u}:{g}"),
        ("new_dir_in_others_dir", "sticky/others_dir/mine", "755 {u}:{g}"),
        ("fifo_owner", "ownd/fifo", "644 {u}:{g}"),
        ("sgdir_file_group", "sgdir/file", "644 {u}:50"),
        ("sgdir_subdir_inherits", "sgdir/sub", "2755 {u}:50"),
        ("others_untouched_owner", "sticky/others", "666 %d:%d" % (OTHER, OTHER)),
        ("rootsub_moved", "ownd/rootsub2", "755 0:0"),
]


def inspect(base):
    for name, path, _ in FACTS:
        try:
            s = os.lstat(os.path.join(base, path))
            got = "%o %d:%d" % (stat.S_IMODE(s.st_mode), s.st_uid, s.st_gid)
        except OSError as e:
            got = errno.errorcode.get(e.errno, str(e.errno))
        print("%s\t%s" % (name, got))


def main():
    mode = sys.argv[1]
    if mode == "setup":
        setup(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif mode == "run":
        run(sys.argv[2])
    elif mode == "inspect":
        inspect(sys.argv[2])
    elif mode == "expected":
        what, uid, gid = sys.argv[2], sys.argv[3], sys.argv[4]
        if what == "run":
            for name, _, want in table("/unused"):
                print("%s\t%s" % (name, want))
        else:
            for name, _, want in FACTS:
                print("%s\t%s" % (name, want.format(u=uid, g=gid)))


main()
EOF
chmod 0644 "$HELPER"

as_user() { setpriv --reuid "$AS_UID" --regid "$AS_GID" --clear-groups "$@"; }

# Compares result file $2 with the expectation $1 and prints differing lines.
compare_results() {
  diff --label expected --label "$3" -U0 "$1" "$2" | grep -E '^[-+][^-+]' >&2
}

NATIVE="$TEST_ROOT/native"
mkdir -m 0755 "$NATIVE"

nexus_start
MNT_BASE="$NEXUS_MNT/base"
mkdir -m 0755 "$MNT_BASE"
chmod 0755 "$NEXUS_MNT"
as_user stat "$MNT_BASE" >/dev/null || fail "uid $AS_UID cannot reach the mount (allow_other missing?)"

"$PY" "$HELPER" expected run "$AS_UID" "$AS_GID" >"$TEST_ROOT/expected.run"
"$PY" "$HELPER" expected inspect "$AS_UID" "$AS_GID" >"$TEST_ROOT/expected.inspect"

for side in native mount; do
  base=$NATIVE; [[ $side == mount ]] && base=$MNT_BASE
  note "$side: build the fixture as root"
  "$PY" "$HELPER" setup "$base" "$AS_UID" "$AS_GID" || fail "$side: fixture setup failed"
  note "$side: run the operations as uid $AS_UID"
  (cd / && as_user "$PY" "$HELPER" run "$base") >"$TEST_ROOT/$side.run" ||
    fail "$side: the operation table did not run to the end"
  note "$side: inspect the side effects as root"
  "$PY" "$HELPER" inspect "$base" >"$TEST_ROOT/$side.inspect"
done

note "native directory vs POSIX expectations (checks the test itself)"
if ! cmp -s "$TEST_ROOT/expected.run" "$TEST_ROOT/native.run" ||
   ! cmp -s "$TEST_ROOT/expected.inspect" "$TEST_ROOT/native.inspect"; then
  compare_results "$TEST_ROOT/expected.run" "$TEST_ROOT/native.run" native || true
  compare_results "$TEST_ROOT/expected.inspect" "$TEST_ROOT/native.inspect" native || true
  fail "the native directory does not behave as the test expects: the test or the host is wrong"
fi

note "mount vs expectations"
status=0
if ! cmp -s "$TEST_ROOT/expected.run" "$TEST_ROOT/mount.run"; then
  compare_results "$TEST_ROOT/expected.run" "$TEST_ROOT/mount.run" mount || true
  status=1
fi
if ! cmp -s "$TEST_ROOT/expected.inspect" "$TEST_ROOT/mount.inspect"; then
  compare_results "$TEST_ROOT/expected.inspect" "$TEST_ROOT/mount.inspect" mount || true
  status=1
fi
[[ $status -eq 0 ]] || fail "permission results on the mount differ from POSIX/native (lines above: -expected +mount)"

note "restart: owners and modes made by uid $AS_UID persist"
"$PY" "$HELPER" inspect "$MNT_BASE" >"$TEST_ROOT/before.inspect"
nexus_stop
nexus_start
"$PY" "$HELPER" inspect "$MNT_BASE" | diff "$TEST_ROOT/before.inspect" - || fail "owners/modes changed across a restart"

nexus_stop
echo "PASS nonroot"
