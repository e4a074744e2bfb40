/*
 * tsan.h: HB_TSAN is defined in a ThreadSanitizer build (gcc defines
 * __SANITIZE_THREAD__, clang answers __has_feature), for the few places
 * that tell TSan what it cannot see in uninstrumented libraries.
 */
#ifndef HB_CORE_TSAN_H
#define HB_CORE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define HB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HB_TSAN 1
#endif
#endif

#endif
