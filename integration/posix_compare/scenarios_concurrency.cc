// Scenarios where more than one descriptor, mapping or process meets the
// same file: flock, fcntl record locks, mmap coherence, fsync.
#include <sys/file.h>
#include <sys/mman.h>

#include <string>

#include "scenario.h"

namespace posix_compare {
namespace {

const Scenario kConcurrencyScenarios[] = {
    // ---- durability calls ----
    {"sync.fsync", "fsync/fdatasync on files and directories return success", Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.write(fd, "data");
       p.fsync(fd);
       p.fdatasync(fd);
       const int ro = p.open("f", FLAGS(O_RDONLY));
       p.fsync(ro);
       const int dir = p.open(".", FLAGS(O_RDONLY | O_DIRECTORY));
       p.fsync(dir);
       p.fdatasync(dir);
       p.cat("f");
     }},

    // ---- flock ----
    {"lock.flock_exclusive",
     "LOCK_EX blocks LOCK_EX|LOCK_NB and LOCK_SH|LOCK_NB on another "
     "open file description",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const int a = p.open("f", FLAGS(O_RDWR));
       const int b = p.open("f", FLAGS(O_RDONLY));
       p.flock(a, FLAGS(LOCK_EX));
       p.flock(b, FLAGS(LOCK_EX | LOCK_NB));
       p.flock(b, FLAGS(LOCK_SH | LOCK_NB));
       p.flock(a, FLAGS(LOCK_UN));
       p.flock(b, FLAGS(LOCK_EX | LOCK_NB));
       p.flock(a, FLAGS(LOCK_SH | LOCK_NB));
       p.close(b);
       p.flock(a, FLAGS(LOCK_SH | LOCK_NB));
     }},
    {"lock.flock_shared", "shared flocks coexist; upgrade is refused while another holds one",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const int a = p.open("f", FLAGS(O_RDONLY));
       const int b = p.open("f", FLAGS(O_RDONLY));
       p.flock(a, FLAGS(LOCK_SH));
       p.flock(b, FLAGS(LOCK_SH | LOCK_NB));
       p.flock(a, FLAGS(LOCK_EX | LOCK_NB));
       p.flock(b, FLAGS(LOCK_UN));
       p.flock(a, FLAGS(LOCK_EX | LOCK_NB));
       p.flock(a, FLAGS(12345));
     }},
    {"lock.flock_across_processes", "a flock held by the parent blocks a child's LOCK_NB", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "x");
       const int a = p.open("f", FLAGS(O_RDWR));
       p.flock(a, FLAGS(LOCK_EX));
       p.in_child([](Probe& c) {
         const int b = c.open("f", FLAGS(O_RDWR));
         c.flock(b, FLAGS(LOCK_EX | LOCK_NB));
         c.flock(b, FLAGS(LOCK_SH | LOCK_NB));
       });
       p.flock(a, FLAGS(LOCK_UN));
       p.in_child([](Probe& c) {
         const int b = c.open("f", FLAGS(O_RDWR));
         c.flock(b, FLAGS(LOCK_EX | LOCK_NB));
       });
     }},

    // ---- fcntl record locks ----
    {"lock.fcntl_conflict",
     "a write lock held by the parent makes a child's F_SETLK fail; "
     "F_GETLK reports the holder",
     Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", std::string(200, 'x'));
       const int fd = p.open("f", FLAGS(O_RDWR));
       p.setlk(fd, FLAGS(F_WRLCK), 0, 100);
       p.getlk(fd, FLAGS(F_WRLCK), 0, 0);
       p.in_child([](Probe& c) {
         const int fd2 = c.open("f", FLAGS(O_RDWR));
         c.setlk(fd2, FLAGS(F_WRLCK), 50, 10);
         c.setlk(fd2, FLAGS(F_RDLCK), 0, 10);
         c.setlk(fd2, FLAGS(F_WRLCK), 100, 10);
         c.getlk(fd2, FLAGS(F_WRLCK), 0, 0);
         c.getlk(fd2, FLAGS(F_RDLCK), 99, 1);
         c.getlk(fd2, FLAGS(F_RDLCK), 150, 10);
       });
       p.setlk(fd, FLAGS(F_UNLCK), 0, 100);
       p.in_child([](Probe& c) {
         const int fd2 = c.open("f", FLAGS(O_RDWR));
         c.getlk(fd2, FLAGS(F_WRLCK), 0, 0);
         c.setlk(fd2, FLAGS(F_WRLCK), 0, 100);
       });
     }},
    {"lock.fcntl_shared", "read locks are shared between processes; a write lock is not", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int fd = p.open("f", FLAGS(O_RDONLY));
       p.setlk(fd, FLAGS(F_RDLCK), 0, 0);
       p.in_child([](Probe& c) {
         const int fd2 = c.open("f", FLAGS(O_RDWR));
         c.setlk(fd2, FLAGS(F_RDLCK), 0, 0);
         c.setlk(fd2, FLAGS(F_WRLCK), 0, 0);
         c.getlk(fd2, FLAGS(F_WRLCK), 0, 0);
       });
     }},
    {"lock.fcntl_wrong_mode", "F_WRLCK needs a writable fd, F_RDLCK a readable one", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "data");
       const int ro = p.open("f", FLAGS(O_RDONLY));
       p.setlk(ro, FLAGS(F_WRLCK), 0, 0);
       const int wo = p.open("f", FLAGS(O_WRONLY));
       p.setlk(wo, FLAGS(F_RDLCK), 0, 0);
       p.setlk(wo, FLAGS(F_WRLCK), 0, 0);
       p.setlk(wo, FLAGS(F_WRLCK), -5, 1);
     }},

    // ---- mmap ----
    {"mmap.shared_write",
     "MAP_SHARED stores are visible to read(2), persist after msync and "
     "munmap",
     Privilege::kAny,
     [](Probe& p) {
       const int fd = p.open("f", FLAGS(O_CREAT | O_RDWR));
       p.ftruncate(fd, 8192);
       char* m = p.mmap(fd, 8192, FLAGS(PROT_READ | PROT_WRITE), FLAGS(MAP_SHARED));
       p.poke(m, 100, "mapped");
       p.poke(m, 5000, "second page");
       p.pread(fd, 6, 100);
       p.msync(m, 8192, FLAGS(MS_SYNC));
       p.munmap(m, 8192);
       p.close(fd);
       p.cat("f");
       const int again = p.open("f", FLAGS(O_RDONLY));
       p.pread(again, 11, 5000);
       p.fstat(again);
     }},
    {"mmap.sees_writes", "write(2) after mmap is visible through the mapping", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", std::string(4096, '.'));
       const int fd = p.open("f", FLAGS(O_RDWR));
       char* m = p.mmap(fd, 4096, FLAGS(PROT_READ), FLAGS(MAP_SHARED));
       p.peek(m, 0, 8);
       p.pwrite(fd, "written", 0);
       p.peek(m, 0, 8);
       p.munmap(m, 4096);
     }},
    {"mmap.private", "MAP_PRIVATE stores stay private to the mapping", Privilege::kAny,
     [](Probe& p) {
       p.make_file("f", "original");
       const int fd = p.open("f", FLAGS(O_RDONLY));
       char* m = p.mmap(fd, 4096, FLAGS(PROT_READ | PROT_WRITE), FLAGS(MAP_PRIVATE));
       p.poke(m, 0, "CHANGED");
       p.peek(m, 0, 8);
       p.pread(fd, 8, 0);
       p.munmap(m, 4096);
       p.cat("f");
       p.mmap(fd, 4096, FLAGS(PROT_READ | PROT_WRITE), FLAGS(MAP_SHARED));
     }},
};

}  // namespace

std::vector<Scenario> ConcurrencyScenarios() {
  return {std::begin(kConcurrencyScenarios), std::end(kConcurrencyScenarios)};
}

}  // namespace posix_compare
