// Scenarios for the namespace: mkdir/rmdir/unlink, rename and renameat2,
// hard links, symlinks, special files and directory listings.
#include <string>

#include "scenario.h"

namespace posix_compare {
namespace {

const Scenario kNamespaceScenarios[] = {
    // ---- mkdir / rmdir / unlink ----
    {"mkdir.existing", "mkdir on an existing directory or file fails; a trailing slash is fine",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.mkdir("d");
       p.make_file("f", "x");
       p.mkdir("f");
       p.mkdir("e/");
       p.stat("e");
     }},
    {"mkdir.mode_and_nlink", "mkdir applies the umask, keeps the sticky bit, bumps parent nlink",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d", 0750);
       p.stat("d");
       p.mkdir("d/s1");
       p.mkdir("d/s2", 0777);
       p.stat("d");
       p.stat("d/s2");
       p.mkdir("t", 01777);
       p.stat("t");
       p.stat(".");
     }},
    {"rmdir.nonempty", "rmdir of a non-empty directory fails until it is emptied", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("d/f", "x");
       p.rmdir("d");
       p.mkdir("e");
       p.mkdir("e/sub");
       p.rmdir("e");
       p.unlink("d/f");
       p.rmdir("d");
       p.stat("d");
       p.stat(".");
     }},
    {"rmdir.invalid", "rmdir of a file, a missing name, \"d/.\" and \"d/..\"", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.mkdir("d");
       p.rmdir("f");
       p.rmdir("missing");
       p.rmdir("d/.");
       p.rmdir("d/..");
       p.rmdir("f/");
       p.stat("d");
     }},
    {"unlink.invalid", "unlink of a directory, a missing name, a file with trailing slash", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("f", "x");
       p.unlink("d");
       p.unlink("missing");
       p.unlink("f/");
       p.stat("f");
     }},
    {"unlink.open_file", "an unlinked open file stays readable with nlink 0 and leaves no name",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.unlink("f");
       p.fstat(fd);
       p.read(fd, 100);
       p.pwrite(fd, "more", 4);
       p.pread(fd, 100, 0);
       p.stat("f");
       p.readdir(".");
       p.close(fd);
       p.readdir(".");
     }},

    // ---- rename ----
    {"rename.file_over_file", "rename replaces an existing file atomically", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "AAA");
       p.make_file("b", "BBBB");
       p.rename("a", "b");
       p.stat("a");
       p.stat("b");
       p.cat("b");
       p.readdir(".");
     }},
    {"rename.dir_over_empty_dir", "a directory replaces an empty directory", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("a");
       p.make_file("a/x", "x");
       p.mkdir("b");
       p.rename("a", "b");
       p.stat("a");
       p.readdir("b");
       p.stat(".");
     }},
    {"rename.dir_over_nonempty_dir", "a directory cannot replace a non-empty one", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("a");
       p.mkdir("b");
       p.make_file("b/x", "x");
       p.rename("a", "b");
       p.stat("a");
       p.readdir("b");
     }},
    {"rename.type_mismatch", "file over directory and directory over file fail", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.mkdir("d");
       p.rename("f", "d");
       p.rename("d", "f");
       p.stat("f");
       p.stat("d");
     }},
    {"rename.into_own_subdir", "a directory cannot move below itself", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("a");
       p.mkdir("a/b");
       p.rename("a", "a/b/c");
       p.rename("a", "a/b");
       p.rename("a/b", "a/b/c");
       p.readdir("a");
     }},
    {"rename.noreplace", "RENAME_NOREPLACE fails on an existing target, works on a new one", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "A");
       p.make_file("b", "B");
       p.renameat2("a", "b", FLAGS(RENAME_NOREPLACE));
       p.cat("a");
       p.cat("b");
       p.renameat2("a", "c", FLAGS(RENAME_NOREPLACE));
       p.stat("a");
       p.cat("c");
     }},
    {"rename.exchange", "RENAME_EXCHANGE swaps a file and a directory", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "AAA");
       p.mkdir("b");
       p.make_file("b/inner", "i");
       p.renameat2("a", "b", FLAGS(RENAME_EXCHANGE));
       p.lstat("a");
       p.lstat("b");
       p.cat("b");
       p.readdir("a");
       p.stat(".");
     }},
    {"rename.exchange_invalid", "RENAME_EXCHANGE with a missing target; with NOREPLACE", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "A");
       p.make_file("b", "B");
       p.renameat2("a", "missing", FLAGS(RENAME_EXCHANGE));
       p.renameat2("missing", "a", FLAGS(RENAME_EXCHANGE));
       p.renameat2("a", "b", FLAGS(RENAME_EXCHANGE | RENAME_NOREPLACE));
       p.cat("a");
       p.cat("b");
     }},
    {"rename.same_inode", "rename to the same name or onto a hard link of itself is a no-op", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       p.rename("f", "f");
       p.cat("f");
       p.link("f", "g");
       p.rename("f", "g");
       p.readdir(".");
       p.stat("f");
       p.mkdir("d");
       p.rename("d", "d");
       p.stat("d");
     }},
    {"rename.missing", "rename of a missing source or into a missing directory", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.rename("missing", "x");
       p.rename("f", "nodir/g");
       p.rename("f", "f/g");
       p.stat("f");
     }},
    {"rename.across_dirs", "moving files and directories between directories fixes nlink and \"..\"",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d1");
       p.mkdir("d2");
       p.mkdir("d1/sub");
       p.make_file("d1/f", "x");
       p.rename("d1/f", "d2/f");
       p.rename("d1/sub", "d2/sub");
       p.stat("d1");
       p.stat("d2");
       p.readdir("d2");
       p.same_inode("d2/sub/..", "d2");
       p.cat("d2/f");
     }},
    {"rename.open_fd_follows", "a descriptor keeps working across a rename of its file", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.rename("f", "g");
       p.fstat(fd);
       p.pwrite(fd, "Z", 0);
       p.cat("g");
       p.stat("f");
     }},
    {"rename.over_open_target", "the replaced target stays readable through an open descriptor",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "new");
       p.make_file("b", "old");
       const int fd = p.open("b", FLAGS(O_RDONLY));
       p.rename("a", "b");
       p.fstat(fd);
       p.read(fd, 100);
       p.cat("b");
       p.readdir(".");
     }},

    // ---- hard links ----
    {"link.count", "link raises nlink on both names, shares data and inode, bumps ctime", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "data");
       FileTimes t = p.times("a");
       Probe::clock_tick();
       p.link("a", "b");
       p.stat("a");
       p.stat("b");
       p.same_inode("a", "b");
       p.times_changed("a", t);
       const int fd = p.open("b", FLAGS(O_WRONLY | O_APPEND));
       p.write(fd, "+b");
       p.cat("a");
       p.link("a", "c");
       p.stat("b");
     }},
    {"link.invalid", "link to a directory, onto an existing name, from a missing source", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("a", "A");
       p.make_file("b", "B");
       p.link("d", "e");
       p.link("a", "b");
       p.link("missing", "x");
       p.link("a", "nodir/x");
       p.cat("b");
       p.stat("a");
     }},
    {"link.unlink_one_keeps_data", "removing one name keeps the data under the other", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "data");
       p.link("a", "b");
       p.unlink("a");
       p.cat("b");
       p.stat("b");
       p.readdir(".");
     }},
    {"link.of_symlink", "link(2) of a symlink links the symlink itself", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.symlink("f", "l");
       p.link("l", "l2");
       p.lstat("l2");
       p.readlink("l2");
       p.stat("f");
     }},

    // ---- symlinks ----
    {"symlink.readlink", "readlink returns the target; lstat vs stat; dangling then resolved",
     Privilege::kAny,
     [](Probe& p) {
       p.symlink("target", "l");
       p.readlink("l");
       p.lstat("l");
       p.stat("l");
       p.make_file("target", "T");
       p.stat("l");
       p.cat("l");
       p.readlink("l", 3);
       p.symlink("sub/../target", "l2");
       p.readlink("l2");
       p.lstat("l2");
     }},
    {"symlink.invalid", "readlink on non-symlinks, symlink onto an existing name, empty target",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.mkdir("d");
       p.readlink("f");
       p.readlink("d");
       p.readlink("missing");
       p.symlink("x", "f");
       p.symlink("", "empty");
       p.cat("f");
     }},
    {"symlink.loop", "a symlink loop resolves to ELOOP-style failure", Privilege::kAny,
     [](Probe& p) {
       p.symlink("b", "a");
       p.symlink("a", "b");
       p.stat("a");
       p.open("a", FLAGS(O_RDONLY));
       p.open("a", FLAGS(O_CREAT | O_WRONLY));
       p.lstat("a");
     }},
    {"symlink.directory", "a symlink to a directory resolves in paths and with a trailing slash",
     Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_file("d/f", "x");
       p.symlink("d", "l");
       p.stat("l/f");
       p.readdir("l");
       p.lstat("l/");
       p.lstat("l");
       p.rmdir("l");
       p.unlink("l/");
       p.unlink("l");
       p.stat("d/f");
     }},
    {"symlink.long_target", "long symlink targets round-trip; PATH_MAX is the limit", Privilege::kAny,
     [](Probe& p) {
       const std::string long_target(1000, 't');
       const std::string max_target(4095, 'm');
       const std::string too_long(4096, 'x');
       p.symlink(long_target.c_str(), "l1");
       p.readlink("l1");
       p.lstat("l1");
       p.symlink(max_target.c_str(), "l2");
       p.readlink("l2");
       p.symlink(too_long.c_str(), "l3");
       p.lstat("l3");
     }},
    {"symlink.ownership_and_mode", "lchown on a symlink leaves the target alone", Privilege::kRoot,
     [](Probe& p) {
       p.make_file("f", "x");
       p.symlink("f", "l");
       p.lchown("l", 1234, 5678);
       p.lstat("l");
       p.stat("f");
       p.chown("l", 4321, 8765);
       p.lstat("l");
       p.stat("f");
     }},

    // ---- special files ----
    {"mknod.fifo", "mknod S_IFIFO makes a working FIFO", Privilege::kAny,
     [](Probe& p) {
       p.mknod("p", FLAGS(S_IFIFO), 0644);
       p.lstat("p");
       const int fd = p.open("p", FLAGS(O_RDWR | O_NONBLOCK));
       p.write(fd, "ping");
       p.read(fd, 100);
       p.read(fd, 100);
       p.mknod("p", FLAGS(S_IFIFO), 0644);
       p.readdir(".");
     }},
    {"mknod.socket", "mknod S_IFSOCK makes a socket node; a bound AF_UNIX socket works", Privilege::kAny,
     [](Probe& p) {
       p.mknod("s", FLAGS(S_IFSOCK), 0600);
       p.lstat("s");
       p.open("s", FLAGS(O_RDONLY));
       p.unix_socket_roundtrip("bound");
       p.lstat("bound");
       p.unix_socket_roundtrip("bound");
       p.readdir(".");
     }},

    // ---- directory listings ----
    {"readdir.types", "readdir names every entry with the right d_type", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.mkdir("d");
       p.symlink("f", "l");
       p.mknod("p", FLAGS(S_IFIFO), 0644);
       p.mknod("s", FLAGS(S_IFSOCK), 0644);
       p.readdir(".");
       p.readdir("d");
     }},
    {"readdir.many", "a 300-entry directory lists completely, before and after removals", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       p.make_files("d/entry_with_a_longish_name_", 300);
       p.readdir("d");
       for (int i = 0; i < 300; i += 3) {
         const std::string name = "d/entry_with_a_longish_name_" + std::to_string(i);
         p.unlink(name.c_str());
       }
       p.readdir("d");
       p.stat("d");
     }},
    {"readdir.rewind", "rewinddir sees entries created after the stream was opened", Privilege::kAny,
     [](Probe& p) {
       p.make_file("a", "x");
       DIR* dir = p.opendir(".");
       p.readdir_all(dir);
       p.make_file("b", "x");
       p.unlink("a");
       p.rewinddir(dir);
       p.readdir_all(dir);
       p.closedir(dir);
     }},
    {"readdir.invalid", "opendir on a file or a missing name fails", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.opendir("f");
       p.opendir("missing");
       p.open("f", FLAGS(O_RDONLY | O_DIRECTORY));
     }},
};

}  // namespace

std::vector<Scenario> NamespaceScenarios() {
  return {std::begin(kNamespaceScenarios), std::end(kNamespaceScenarios)};
}

}  // namespace posix_compare
