#ifndef RECDB_REC_SUPPORT_H
#define RECDB_REC_SUPPORT_H

/* What Swift cannot say itself: a cache prefetch hint. Inline, so it costs one instruction in Swift callers. */
static inline __attribute__((always_inline)) void recdb_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
