// Scenarios for file contents: open flags, read/write, offsets, truncate,
// sparse files and fallocate.
#include <linux/falloc.h>

#include <string>

#include "scenario.h"

namespace posix_compare {
namespace {

constexpr off_t kGiB = 1LL << 30;
constexpr off_t kMiB = 1LL << 20;

const Scenario kFileScenarios[] = {
    // ---- open(2) flags ----
    {"open.creat_excl_existing", "O_CREAT|O_EXCL on an existing file fails, data untouched", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       p.open("f", FLAGS(O_CREAT | O_EXCL | O_WRONLY));
       p.open("f", FLAGS(O_CREAT | O_EXCL | O_RDONLY | O_TRUNC));
       p.cat("f");
     }},
    {"open.creat_excl_new", "O_CREAT|O_EXCL creates the file with the umask applied", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_EXCL | O_RDWR), 0666);
       p.fstat(fd);
       p.stat("f");
       p.open("g", FLAGS(O_CREAT | O_EXCL | O_WRONLY), 0640);
       p.stat("g");
     }},
    {"open.creat_existing", "O_CREAT without O_EXCL opens an existing file as is", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR), 0600);
       p.stat("f");
       p.read(fd, 100);
     }},
    {"open.trunc", "O_TRUNC empties the file; later writes start at 0", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "hello world");
       const int fd = p.open("f", FLAGS(O_WRONLY | O_TRUNC));
       p.fstat(fd);
       p.write(fd, "hi");
       p.close(fd);
       p.cat("f");
       p.stat("f");
     }},
    {"open.append",
     "O_APPEND writes land at end of file, even after lseek, pwrite and growth "
     "through another descriptor",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "abc");
       const int fd = p.open("f", FLAGS(O_WRONLY | O_APPEND));
       p.lseek(fd, 0, FLAGS(SEEK_SET));
       p.write(fd, "XYZ");
       p.lseek(fd, 0, FLAGS(SEEK_CUR));
       p.pwrite(fd, "12", 0);
       const int other = p.open("f", FLAGS(O_WRONLY));
       p.pwrite(other, "Q", 20);
       p.write(fd, "E");
       p.lseek(fd, 0, FLAGS(SEEK_CUR));
       p.close(fd);
       p.close(other);
       p.cat("f");
     }},
    {"open.directory_flag_on_file", "O_DIRECTORY on a regular file fails", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.mkdir("d");
       p.open("f", FLAGS(O_RDONLY | O_DIRECTORY));
       p.open("d", FLAGS(O_RDONLY | O_DIRECTORY));
     }},
    {"open.nofollow_symlink", "O_NOFOLLOW on a symlink fails; O_PATH|O_NOFOLLOW opens the link",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.symlink("f", "l");
       p.open("l", FLAGS(O_RDONLY | O_NOFOLLOW));
       p.open("f", FLAGS(O_RDONLY | O_NOFOLLOW));
       const int fd = p.open("l", FLAGS(O_PATH | O_NOFOLLOW));
       p.fstat(fd);
     }},
    {"open.missing", "opening a missing name or creating in a missing directory fails", Privilege::kAny,
     [](Probe& p) {
       p.open("nope", FLAGS(O_RDONLY));
       p.open("nodir/f", FLAGS(O_CREAT | O_WRONLY));
       p.stat("nope");
       p.lstat("nodir/f");
     }},
    {"open.path_through_file", "using a regular file as a directory component fails", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       p.open("f/x", FLAGS(O_RDONLY));
       p.open("f/x", FLAGS(O_CREAT | O_WRONLY));
       p.stat("f/x");
       p.stat("f/");
       p.mkdir("f/x");
       p.unlink("f/x");
     }},
    {"open.wrong_access_mode", "write on O_RDONLY and read on O_WRONLY descriptors fail", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int ro = p.open("f", FLAGS(O_RDONLY));
       p.write(ro, "x");
       p.pwrite(ro, "x", 0);
       const int wo = p.open("f", FLAGS(O_WRONLY));
       p.read(wo, 4);
       p.pread(wo, 4, 0);
       p.cat("f");
     }},
    {"open.directory_io", "a directory opens read-only; read(2) on it and write-opens fail", Privilege::kAny,
     [](Probe& p) {
       p.mkdir("d");
       const int fd = p.open("d", FLAGS(O_RDONLY));
       p.read(fd, 16);
       p.open("d", FLAGS(O_WRONLY));
       p.open("d", FLAGS(O_RDWR));
       p.open("d", FLAGS(O_CREAT | O_WRONLY));
     }},
    {"open.excl_dangling_symlink", "O_CREAT|O_EXCL does not follow a dangling symlink", Privilege::kAny,
     [](Probe& p) {
       p.symlink("target", "l");
       p.open("l", FLAGS(O_CREAT | O_EXCL | O_WRONLY));
       p.lstat("target");
     }},
    {"open.creat_through_dangling_symlink", "O_CREAT through a dangling symlink creates the target",
     Privilege::kAny,
     [](Probe& p) {
       p.symlink("target", "l");
       const int fd = p.open("l", FLAGS(O_CREAT | O_WRONLY));
       p.write(fd, "x");
       p.close(fd);
       p.stat("target");
       p.lstat("l");
       p.cat("l");
     }},
    {"name.max_length", "a 255-byte name works; 256 bytes fail everywhere", Privilege::kAny,
     [](Probe& p) {
       const std::string ok(255, 'n');
       const std::string too_long(256, 'n');
       const int fd = p.open(ok.c_str(), FLAGS(O_CREAT | O_WRONLY));
       p.close(fd);
       p.stat(ok.c_str());
       p.readdir(".");
       p.open(too_long.c_str(), FLAGS(O_CREAT | O_WRONLY));
       p.stat(too_long.c_str());
       p.mkdir(too_long.c_str());
       p.rename(ok.c_str(), too_long.c_str());
       p.symlink("x", too_long.c_str());
       p.link(ok.c_str(), too_long.c_str());
       p.unlink(ok.c_str());
     }},

    // ---- read/write and offsets ----
    {"io.pwrite_pread", "pwrite/pread at offsets leave the file offset alone; gaps read as zeros",
     Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.pwrite(fd, "AAAA", 0);
       p.pwrite(fd, "BB", 10);
       p.fstat(fd);
       p.pread(fd, 12, 0);
       p.pread(fd, 4, 100);
       p.pread(fd, 100, 8);
       p.lseek(fd, 0, FLAGS(SEEK_CUR));
       p.read(fd, 100);
       p.lseek(fd, 0, FLAGS(SEEK_CUR));
       p.pwrite(fd, "x", -1);
     }},
    {"io.lseek", "SEEK_SET/CUR/END, seeking past EOF, negative offsets, bad whence", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.write(fd, "0123456789");
       p.lseek(fd, 0, FLAGS(SEEK_END));
       p.lseek(fd, -3, FLAGS(SEEK_CUR));
       p.read(fd, 10);
       p.lseek(fd, -100, FLAGS(SEEK_SET));
       p.lseek(fd, 100, FLAGS(SEEK_SET));
       p.read(fd, 10);
       p.write(fd, "z");
       p.fstat(fd);
       p.lseek(fd, 0, FLAGS(12345));
       p.lseek(fd, 200, FLAGS(SEEK_DATA));
       p.lseek(fd, 0, FLAGS(SEEK_HOLE));
       p.lseek(fd, 5, FLAGS(SEEK_DATA));
     }},
    {"io.large_transfer", "a 1 MiB write and reads that cross EOF return exact counts", Privilege::kAny,
     [](Probe& p) {
       std::string data(kMiB, '\0');
       for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 23);
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.write(fd, data);
       p.pread(fd, 2 * kMiB, 0);
       p.pread(fd, 4096, kMiB - 100);
       p.read(fd, 10);
       p.fstat(fd);
       p.blocks("f");
     }},

    // ---- truncate ----
    {"truncate.grow_shrink", "truncate grows with zeros and shrinks; bad lengths and types fail",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "hello");
       p.truncate("f", 10);
       p.stat("f");
       p.cat("f");
       p.truncate("f", 2);
       p.cat("f");
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.ftruncate(fd, 0);
       p.fstat(fd);
       p.ftruncate(fd, 3);
       p.pread(fd, 10, 0);
       p.truncate("f", -1);
       p.mkdir("d");
       p.truncate("d", 0);
       p.truncate("missing", 0);
     }},
    {"truncate.readonly_fd", "ftruncate on an O_RDONLY descriptor fails, size unchanged", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "hello");
       const int fd = p.open("f", FLAGS(O_RDONLY));
       p.ftruncate(fd, 0);
       p.stat("f");
     }},
    {"truncate.times", "truncate updates mtime and ctime, also to the same size", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "hello");
       FileTimes t = p.times("f");
       Probe::clock_tick();
       p.truncate("f", 3);
       p.times_changed("f", t);
       t = p.times("f");
       Probe::clock_tick();
       p.truncate("f", 3);
       p.times_changed("f", t);
       const int fd = p.open("f", FLAGS(O_RDWR));
       t = p.times("f");
       Probe::clock_tick();
       p.ftruncate(fd, 1);
       p.times_changed("f", t);
     }},

    // ---- sparse files ----
    {"sparse.beyond_4gib",
     "a write at 5 GiB gives size > 4 GiB, few blocks, holes reading zeros, "
     "SEEK_DATA/SEEK_HOLE",
     Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.pwrite(fd, "X", 5 * kGiB);
       p.fstat(fd);
       p.stat("f");
       p.fblocks(fd);
       p.pread(fd, 4096, kGiB);
       p.pread(fd, 4096, 4 * kGiB + 1);
       p.pread(fd, 10, 5 * kGiB);
       p.lseek(fd, 0, FLAGS(SEEK_DATA));
       p.lseek(fd, 0, FLAGS(SEEK_HOLE));
       p.lseek(fd, 5 * kGiB, FLAGS(SEEK_HOLE));
       p.lseek(fd, 5 * kGiB + 1, FLAGS(SEEK_DATA));
       p.lseek(fd, 0, FLAGS(SEEK_END));
     }},
    {"sparse.truncate_hole", "a file grown by truncate only is a hole: zeros, no data extents",
     Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.ftruncate(fd, kMiB);
       p.fstat(fd);
       p.fblocks(fd);
       p.pread(fd, 100, 500000);
       p.lseek(fd, 0, FLAGS(SEEK_DATA));
       p.lseek(fd, 0, FLAGS(SEEK_HOLE));
     }},
    {"sparse.data_then_hole", "data at 0 and at 1 MiB: SEEK_HOLE/SEEK_DATA find the gap", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.pwrite(fd, std::string(4096, 'a'), 0);
       p.pwrite(fd, std::string(4096, 'b'), kMiB);
       p.fsync(fd);
       p.lseek(fd, 0, FLAGS(SEEK_HOLE));
       p.lseek(fd, 4096, FLAGS(SEEK_DATA));
       p.lseek(fd, kMiB, FLAGS(SEEK_HOLE));
       p.pread(fd, 8192, 4096);
     }},

    // ---- fallocate ----
    {"fallocate.grow", "fallocate mode 0 grows the size and allocates zeros", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.fallocate(fd, FLAGS(0), 0, kMiB);
       p.fstat(fd);
       p.fblocks(fd);
       p.pread(fd, 4096, 4096);
       p.fallocate(fd, FLAGS(0), 0, 100);
       p.fstat(fd);
     }},
    {"fallocate.keep_size", "FALLOC_FL_KEEP_SIZE allocates without changing the size", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.write(fd, "abc");
       p.fallocate(fd, FLAGS(FALLOC_FL_KEEP_SIZE), 0, kMiB);
       p.fstat(fd);
       p.fblocks(fd);
       p.pread(fd, 100, 0);
     }},
    {"fallocate.punch_hole", "PUNCH_HOLE|KEEP_SIZE zeros the range, keeps the size", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.write(fd, std::string(65536, 'a'));
       p.fsync(fd);
       p.fallocate(fd, FLAGS(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE), 4096, 8192);
       p.fstat(fd);
       p.pread(fd, 4096, 0);
       p.pread(fd, 8192, 4096);
       p.pread(fd, 4096, 12288);
       p.lseek(fd, 0, FLAGS(SEEK_HOLE));
       p.cat("f");
     }},
    {"fallocate.invalid", "PUNCH_HOLE without KEEP_SIZE, bad ranges, read-only fd", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", std::string(8192, 'a'));
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.fallocate(fd, FLAGS(FALLOC_FL_PUNCH_HOLE), 0, 4096);
       p.fallocate(fd, FLAGS(0), 0, 0);
       p.fallocate(fd, FLAGS(0), -1, 10);
       const int ro = p.open("f", FLAGS(O_RDONLY));
       p.fallocate(ro, FLAGS(0), 0, 4096);
       p.cat("f");
     }},
};

}  // namespace

std::vector<Scenario> FileScenarios() { return {std::begin(kFileScenarios), std::end(kFileScenarios)}; }

}  // namespace posix_compare
