// Scenarios for inode metadata: chmod/chown, timestamps (own and the
// parent directory's), extended attributes and statfs.
#include <sys/xattr.h>

#include <string>

#include "scenario.h"

namespace posix_compare {
namespace {

// Fixed instants far from "now", with nanoseconds that expose truncation.
constexpr struct timespec kOldAtime { 1000000000, 123456789 };
constexpr struct timespec kOldMtime { 1500000000, 987654321 };

const Scenario kMetadataScenarios[] = {
    // ---- chmod / chown ----
    {"chmod.mode_and_ctime", "chmod sets all 12 mode bits, advances ctime, leaves mtime", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const FileTimes t = p.times("f");
       Probe::clock_tick();
       p.chmod("f", 0600);
       p.stat("f");
       p.times_changed("f", t);
       p.chmod("f", 01755);
       p.stat("f");
       p.chmod("f", 0);
       p.stat("f");
       p.mkdir("d");
       p.chmod("d", 02770);
       p.stat("d");
       p.chmod("missing", 0644);
     }},
    {"chmod.through_symlink", "chmod follows a symlink to its target", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.symlink("f", "l");
       p.chmod("l", 0640);
       p.stat("f");
       p.lstat("l");
     }},
    {"chown.root", "root chown changes owner and group, -1 keeps them, ctime advances", Privilege::kRoot,
     [](Probe& p) {
       p.make_file("f", "x");
       const FileTimes t = p.times("f");
       Probe::clock_tick();
       p.chown("f", 1234, 5678);
       p.stat("f");
       p.times_changed("f", t);
       p.chown("f", -1, 42);
       p.stat("f");
       p.chown("f", 7, -1);
       p.stat("f");
       p.mkdir("d");
       p.chown("d", 1234, 1234);
       p.stat("d");
     }},
    {"chown.clears_setid", "chown of an executable clears setuid and setgid", Privilege::kRoot,
     [](Probe& p) {
       p.make_file("f", "x");
       p.chmod("f", 06755);
       p.chown("f", 1234, 1234);
       p.stat("f");
       p.make_file("g", "x");
       p.chmod("g", 02644);
       p.chown("g", 1234, 1234);
       p.stat("g");
     }},

    // ---- utimensat ----
    {"utimensat.explicit", "explicit atime/mtime are stored to the nanosecond; ctime advances",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const FileTimes t = p.times("f");
       Probe::clock_tick();
       const struct timespec ts[2] = {kOldAtime, kOldMtime};
       p.utimensat("f", ts, FLAGS(0));
       p.times_exact("f", kAtime | kMtime);
       p.times_changed("f", t, kCtime);
       p.mkdir("d");
       p.utimensat("d", ts, FLAGS(0));
       p.times_exact("d", kAtime | kMtime);
     }},
    {"utimensat.now", "NULL times and UTIME_NOW set atime and mtime to now", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const struct timespec old[2] = {kOldAtime, kOldMtime};
       p.utimensat("f", old, FLAGS(0));
       const FileTimes t = p.times("f");
       Probe::clock_tick();
       p.utimensat("f", nullptr, FLAGS(0));
       p.times_recent("f", kAtime | kMtime | kCtime);
       p.times_changed("f", t, kAtime | kMtime | kCtime);
       p.utimensat("f", old, FLAGS(0));
       const struct timespec now[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
       p.utimensat("f", now, FLAGS(0));
       p.times_recent("f", kAtime | kMtime);
     }},
    {"utimensat.omit", "UTIME_OMIT keeps a field; both omitted changes nothing", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const struct timespec old[2] = {kOldAtime, kOldMtime};
       p.utimensat("f", old, FLAGS(0));
       const struct timespec mtime_now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
       p.utimensat("f", mtime_now, FLAGS(0));
       p.times_exact("f", kAtime);
       p.times_recent("f", kMtime);
       p.utimensat("f", old, FLAGS(0));
       const struct timespec atime_now[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
       p.utimensat("f", atime_now, FLAGS(0));
       p.times_exact("f", kMtime);
       p.times_recent("f", kAtime);
       const FileTimes t = p.times("f");
       Probe::clock_tick();
       const struct timespec omit[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
       p.utimensat("f", omit, FLAGS(0));
       p.times_changed("f", t, kAtime | kMtime | kCtime);
     }},
    {"utimensat.symlink_nofollow", "AT_SYMLINK_NOFOLLOW sets the link's own times", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.symlink("f", "l");
       const FileTimes target = p.times("f");
       const struct timespec ts[2] = {kOldAtime, kOldMtime};
       p.utimensat("l", ts, FLAGS(AT_SYMLINK_NOFOLLOW));
       p.times_exact("l", kAtime | kMtime);
       p.times_changed("f", target, kAtime | kMtime);
     }},
    {"utimensat.invalid", "out-of-range nanoseconds and a missing file", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
       p.utimensat("f", bad, FLAGS(0));
       p.utimensat("missing", nullptr, FLAGS(0));
       p.utimensat("f", nullptr, FLAGS(0x4000));
     }},

    // ---- timestamps driven by data and names ----
    {"times.write_and_read", "write advances mtime and ctime; read changes neither", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       FileTimes t = p.times("f");
       Probe::clock_tick();
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.write(fd, "data");
       p.times_changed("f", t);
       p.fstat(fd);
       t = p.times("f");
       Probe::clock_tick();
       p.pread(fd, 100, 0);
       p.times_changed("f", t);
       p.close(fd);
       p.times_changed("f", t);
     }},
    {"times.parent_on_create",
     "creating entries advances the parent's mtime/ctime; mkdir bumps "
     "its nlink",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       FileTimes t = p.times("d");
       Probe::clock_tick();
       p.make_file("d/f", "x");
       p.times_changed("d", t);
       p.stat("d");
       t = p.times("d");
       Probe::clock_tick();
       p.mkdir("d/s");
       p.times_changed("d", t);
       p.stat("d");
       t = p.times("d");
       Probe::clock_tick();
       p.symlink("f", "d/l");
       p.times_changed("d", t);
       t = p.times("d");
       Probe::clock_tick();
       p.link("d/f", "d/g");
       p.times_changed("d", t);
       t = p.times("d");
       Probe::clock_tick();
       p.mknod("d/p", FLAGS(S_IFIFO), 0600);
       p.times_changed("d", t);
     }},
    {"times.parent_on_remove",
     "unlink and rmdir advance the parent's mtime/ctime; rmdir drops "
     "its nlink",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("d/f", "x");
       p.mkdir("d/s");
       p.stat("d");
       FileTimes t = p.times("d");
       Probe::clock_tick();
       p.unlink("d/f");
       p.times_changed("d", t);
       p.stat("d");
       t = p.times("d");
       Probe::clock_tick();
       p.rmdir("d/s");
       p.times_changed("d", t);
       p.stat("d");
     }},
    {"times.parent_on_rename",
     "rename advances both parents' mtime/ctime and the moved inode's "
     "ctime",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d1");
       p.mkdir("d2");
       p.make_file("d1/f", "x");
       p.mkdir("d1/sub");
       const FileTimes t1 = p.times("d1");
       const FileTimes t2 = p.times("d2");
       const FileTimes tf = p.times("d1/f");
       Probe::clock_tick();
       p.rename("d1/f", "d2/f");
       p.times_changed("d1", t1);
       p.times_changed("d2", t2);
       p.times_changed("d2/f", tf);
       const FileTimes t3 = p.times("d1");
       const FileTimes t4 = p.times("d2");
       Probe::clock_tick();
       p.rename("d1/sub", "d2/sub");
       p.times_changed("d1", t3);
       p.times_changed("d2", t4);
       p.stat("d1");
       p.stat("d2");
       const FileTimes t5 = p.times("d2");
       Probe::clock_tick();
       p.rename("d2/f", "d2/g");
       p.times_changed("d2", t5);
     }},

    // ---- extended attributes ----
    {"xattr.set_get_list_remove", "user.* xattrs round-trip, list sorted, remove", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "user.a", "1", FLAGS(0));
       p.setxattr("f", "user.b", "two", FLAGS(0));
       p.setxattr("f", "user.bin", std::string("\0\x01\xff", 3), FLAGS(0));
       p.getxattr("f", "user.a", 64);
       p.getxattr("f", "user.b", 64);
       p.getxattr("f", "user.bin", 64);
       p.listxattr("f", 1024);
       p.removexattr("f", "user.a");
       p.listxattr("f", 1024);
       p.getxattr("f", "user.a", 64);
       p.setxattr("f", "user.b", "replaced", FLAGS(0));
       p.getxattr("f", "user.b", 64);
     }},
    {"xattr.create_replace_flags", "XATTR_CREATE on existing and XATTR_REPLACE on missing fail",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "user.a", "1", FLAGS(XATTR_CREATE));
       p.setxattr("f", "user.a", "2", FLAGS(XATTR_CREATE));
       p.setxattr("f", "user.b", "1", FLAGS(XATTR_REPLACE));
       p.setxattr("f", "user.a", "3", FLAGS(XATTR_REPLACE));
       p.getxattr("f", "user.a", 64);
       p.getxattr("f", "user.b", 64);
       p.setxattr("f", "user.c", "1", FLAGS(XATTR_CREATE | XATTR_REPLACE));
     }},
    {"xattr.missing", "getxattr/removexattr of a missing name; xattrs of a missing file", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.getxattr("f", "user.none", 64);
       p.getxattr("f", "user.none", 0);
       p.removexattr("f", "user.none");
       p.listxattr("f", 1024);
       p.listxattr("f", 0);
       p.getxattr("missing", "user.a", 64);
       p.setxattr("missing", "user.a", "1", FLAGS(0));
     }},
    {"xattr.buffer_sizes",
     "size-0 queries return the size; short buffers give ERANGE-style "
     "failure",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "user.big", "0123456789", FLAGS(0));
       p.setxattr("f", "user.second", "v", FLAGS(0));
       p.getxattr("f", "user.big", 0);
       p.getxattr("f", "user.big", 4);
       p.getxattr("f", "user.big", 10);
       p.listxattr("f", 0);
       p.listxattr("f", 3);
       p.listxattr("f", 21);
     }},
    {"xattr.values", "empty and large values; oversized values and names are refused", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "user.empty", "", FLAGS(0));
       p.getxattr("f", "user.empty", 0);
       p.getxattr("f", "user.empty", 16);
       std::string large(2000, 'v');
       large[1999] = 'z';
       p.setxattr("f", "user.large", large, FLAGS(0));
       p.getxattr("f", "user.large", 4096);
       p.setxattr("f", "user.huge", std::string(65537, 'h'), FLAGS(0));
       const std::string long_name = "user." + std::string(251, 'n');
       p.setxattr("f", long_name.c_str(), "v", FLAGS(0));
       p.listxattr("f", 4096);
     }},
    {"xattr.namespaces", "unknown namespaces and empty names are rejected", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "foo.bar", "v", FLAGS(0));
       p.setxattr("f", "user.", "v", FLAGS(0));
       p.setxattr("f", "", "v", FLAGS(0));
       p.getxattr("f", "foo.bar", 16);
       p.listxattr("f", 1024);
     }},
    {"xattr.dirs_and_symlinks",
     "xattrs on directories; user.* on a symlink itself is refused; "
     "getxattr follows links",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.setxattr("d", "user.dir", "d", FLAGS(0));
       p.getxattr("d", "user.dir", 16);
       p.listxattr("d", 1024);
       p.make_file("f", "x");
       p.setxattr("f", "user.t", "target", FLAGS(0));
       p.symlink("f", "l");
       p.lsetxattr("l", "user.x", "v", FLAGS(0));
       p.getxattr("l", "user.t", 16);
       p.setxattr("l", "user.via_link", "v", FLAGS(0));
       p.listxattr("f", 1024);
     }},
    {"xattr.times", "setxattr and removexattr advance ctime, not mtime", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       FileTimes t = p.times("f");
       Probe::clock_tick();
       p.setxattr("f", "user.a", "1", FLAGS(0));
       p.times_changed("f", t);
       t = p.times("f");
       Probe::clock_tick();
       p.removexattr("f", "user.a");
       p.times_changed("f", t);
     }},
    {"xattr.survives_rename_and_link", "xattrs belong to the inode: kept across rename and link",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.setxattr("f", "user.k", "kept", FLAGS(0));
       p.rename("f", "g");
       p.getxattr("g", "user.k", 16);
       p.link("g", "h");
       p.getxattr("h", "user.k", 16);
       p.setxattr("h", "user.k", "shared", FLAGS(0));
       p.getxattr("g", "user.k", 16);
     }},

    // ---- statfs ----
    {"statfs.sane", "statfs reports consistent counters and the name limit", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.statfs(".");
       p.statfs("f");
       p.statfs("missing");
     }},
};

}  // namespace

std::vector<Scenario> MetadataScenarios() {
  return {std::begin(kMetadataScenarios), std::end(kMetadataScenarios)};
}

}  // namespace posix_compare
