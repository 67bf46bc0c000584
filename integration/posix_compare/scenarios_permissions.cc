// Permission-check scenarios. Each sets up as root (root-owned files, modes,
// sticky/setgid directories), then drops to the --as-uid identity with
// Probe::as_user() and probes what an ordinary user may and may not do.
// They need --as-uid/--as-gid and a mount that lets that user in.
#include <sys/xattr.h>
#include <unistd.h>

#include "scenario.h"

namespace posix_compare {
namespace {

const Scenario kPermissionScenarios[] = {
    {"perm.root_file_0600", "another user's 0600 file: stat works, access/open/read fail", Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "secret", 0600);
       p.chmod("f", 0600);
       p.as_user();
       p.stat("f");
       p.access("f", FLAGS(F_OK));
       p.access("f", FLAGS(R_OK));
       p.access("f", FLAGS(W_OK));
       p.open("f", FLAGS(O_RDONLY));
       p.open("f", FLAGS(O_WRONLY));
       p.cat("f");
     }},
    {"perm.root_file_0644", "another user's 0644 file: readable, not writable", Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "public");
       p.chmod("f", 0644);
       p.as_user();
       p.access("f", FLAGS(R_OK));
       p.access("f", FLAGS(R_OK | W_OK));
       p.cat("f");
       p.open("f", FLAGS(O_RDWR));
       p.open("f", FLAGS(O_WRONLY | O_TRUNC));
       p.truncate("f", 0);
       p.stat("f");
     }},
    {"perm.metadata_of_others_file", "chmod/chown/utimes on another user's file", Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "x");
       p.chmod("f", 0644);
       p.as_user();
       p.chmod("f", 0666);
       p.chown("f", p.user()->uid, -1);
       p.chown("f", -1, p.user()->gid);
       const struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
       p.utimensat("f", ts, FLAGS(0));
       p.utimensat("f", nullptr, FLAGS(0));
       p.stat("f");
     }},
    {"perm.utimes_writable_others_file",
     "UTIME_NOW needs write access; explicit times need "
     "ownership",
     Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "x");
       p.chmod("f", 0666);
       p.as_user();
       p.utimensat("f", nullptr, FLAGS(0));
       const struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
       p.utimensat("f", now, FLAGS(0));
       const struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
       p.utimensat("f", ts, FLAGS(0));
       const struct timespec omit_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
       p.utimensat("f", omit_now, FLAGS(0));
     }},
    {"perm.own_file", "the owner may chmod, chgrp to own group, not give the file away", Privilege::kUser,
     [](Probe& p) {
       p.as_user();
       p.make_file("f", "x");
       p.stat("f");
       p.chmod("f", 0600);
       p.chown("f", 0, -1);
       p.chown("f", -1, 0);
       p.chown("f", -1, p.user()->gid);
       p.chown("f", p.user()->uid, -1);
       p.chmod("f", 0444);
       p.open("f", FLAGS(O_WRONLY));
       p.truncate("f", 0);
       p.chmod("f", 04755);
       p.stat("f");
     }},
    {"perm.sticky_dir",
     "in a sticky world-writable dir others' files cannot be removed or "
     "renamed",
     Privilege::kUser,
     [](Probe& p) {
       p.mkdir("t", 01777);
       p.chmod("t", 01777);
       p.make_file("t/rootfile", "r", 0666);
       p.chmod("t/rootfile", 0666);
       p.mkdir("t/rootdir", 0777);
       p.chmod("t/rootdir", 0777);
       p.as_user();
       p.unlink("t/rootfile");
       p.rename("t/rootfile", "t/x");
       p.rmdir("t/rootdir");
       p.make_file("t/mine", "m");
       p.rename("t/mine", "t/mine2");
       p.rename("t/mine2", "t/rootfile");
       p.unlink("t/mine2");
       p.make_file("t/rootfile", "overwritten");
       p.readdir("t");
     }},
    {"perm.dir_without_write", "no write permission on a directory: no create, remove, rename",
     Privilege::kUser,
     [](Probe& p) {
       p.mkdir("d", 0755);
       p.chmod("d", 0755);
       p.make_file("d/f", "x", 0666);
       p.chmod("d/f", 0666);
       p.as_user();
       p.make_file("d/new", "x");
       p.mkdir("d/s");
       p.unlink("d/f");
       p.rename("d/f", "d/g");
       p.rename("d/f", "moved");
       p.symlink("f", "d/l");
       p.link("d/f", "d/h");
       p.mknod("d/p", FLAGS(S_IFIFO), 0644);
       p.make_file("d/f", "allowed: the file itself is writable");
       p.readdir("d");
     }},
    {"perm.dir_without_search", "no search permission: names list, but nothing resolves", Privilege::kUser,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("d/f", "x");
       p.chmod("d", 0744);
       p.mkdir("w");
       p.make_file("w/f", "x");
       p.chmod("w", 0711);
       p.as_user();
       p.stat("d/f");
       p.open("d/f", FLAGS(O_RDONLY));
       p.readdir("d");
       p.stat("w/f");
       p.cat("w/f");
       p.readdir("w");
       p.access("d", FLAGS(X_OK));
       p.access("w", FLAGS(X_OK | R_OK));
     }},
    {"perm.setid_cleared_on_write", "an unprivileged write clears setuid and setgid", Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "x", 0666);
       p.chmod("f", 06777);
       p.make_file("g", "x", 0666);
       p.chmod("g", 04666);
       p.as_user();
       const int fd = p.open("f", FLAGS(O_WRONLY));
       p.write(fd, "y");
       p.fstat(fd);
       p.truncate("g", 0);
       p.stat("g");
     }},
    {"perm.setgid_dir_inherit", "a setgid directory hands its group and setgid bit down", Privilege::kUser,
     [](Probe& p) {
       p.mkdir("g", 0777);
       p.chmod("g", 02777);
       p.chown("g", 0, 0);
       p.as_user();
       p.make_file("g/f", "x");
       p.stat("g/f");
       p.mkdir("g/s", 0755);
       p.stat("g/s");
     }},
    {"perm.xattr_access", "user.* xattrs follow the file's read/write permission", Privilege::kUser,
     [](Probe& p) {
       p.make_file("r", "x");
       p.chmod("r", 0644);
       p.setxattr("r", "user.a", "1", FLAGS(0));
       p.make_file("s", "x", 0600);
       p.chmod("s", 0600);
       p.setxattr("s", "user.a", "1", FLAGS(0));
       p.as_user();
       p.getxattr("r", "user.a", 16);
       p.setxattr("r", "user.b", "1", FLAGS(0));
       p.removexattr("r", "user.a");
       p.getxattr("s", "user.a", 16);
       p.listxattr("s", 1024);
       p.setxattr("r", "trusted.x", "1", FLAGS(0));
       p.listxattr("r", 1024);
     }},
    {"perm.protected_hardlinks", "linking another user's unreadable file is refused", Privilege::kUser,
     [](Probe& p) {
       p.make_file("f", "x", 0600);
       p.chmod("f", 0600);
       p.make_file("g", "x");
       p.chmod("g", 0644);
       p.as_user();
       p.link("f", "f2");
       p.link("g", "g2");
       p.readdir(".");
     }},
    {"perm.user_create_owner", "files created by the user belong to the user", Privilege::kUser,
     [](Probe& p) {
       p.as_user();
       p.make_file("f", "x");
       p.mkdir("d");
       p.symlink("f", "l");
       p.mknod("p", FLAGS(S_IFIFO), 0600);
       p.stat("f");
       p.stat("d");
       p.lstat("l");
       p.lstat("p");
     }},
};

}  // namespace

std::vector<Scenario> PermissionScenarios() {
  return {std::begin(kPermissionScenarios), std::end(kPermissionScenarios)};
}

}  // namespace posix_compare
