/* SPDX-License-Identifier: MIT */
#ifndef HORUS_TESTS_DAEMON_UNDER_TSAN_H
#define HORUS_TESTS_DAEMON_UNDER_TSAN_H

/* UNDER_TSAN is 1 in a ThreadSanitizer build (GCC or clang): stress tests scale down there. */
#if defined(__SANITIZE_THREAD__)
#define UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#endif
#endif

#endif /* HORUS_TESTS_DAEMON_UNDER_TSAN_H */
