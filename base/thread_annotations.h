// Clang thread-safety annotations: the lock contracts the comments used to
// state ("guarded by mu_", "caller holds mu_"), written so the compiler checks
// them. scripts/check-thread-safety.sh runs clang with -Wthread-safety over
// every translation unit; GCC builds see empty macros.
//
// Use them on nexus::Mutex / nexus::SharedMutex (base/mutex.h): libstdc++'s
// std::mutex carries no capability attributes, so the analysis cannot follow it.
//   GUARDED_BY(mu)       member read/written only with mu held
//   PT_GUARDED_BY(mu)    the pointee (not the pointer) is guarded by mu
//   REQUIRES(mu)         caller holds mu exclusively (the *Locked helpers)
//   REQUIRES_SHARED(mu)  caller holds mu at least shared
//   EXCLUDES(mu)         function takes mu itself; caller must not hold it
//   ACQUIRE/RELEASE      function locks/unlocks (the lock types themselves)
//   NO_THREAD_SAFETY_ANALYSIS  the analysis cannot follow this function; say why
//
// Thread-safety: compile-time only; no code is generated.
#pragma once

#if defined(__clang__)
#define NEXUS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NEXUS_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) NEXUS_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY NEXUS_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) NEXUS_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) NEXUS_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) NEXUS_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) NEXUS_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) NEXUS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) NEXUS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) NEXUS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) NEXUS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) NEXUS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) NEXUS_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) NEXUS_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) NEXUS_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define EXCLUDES(...) NEXUS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) NEXUS_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) NEXUS_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS NEXUS_THREAD_ANNOTATION(no_thread_safety_analysis)
