/*
 * init.h -- the process floor (init.c): process start, thread start and
 * end (the thread key), fork.
 */
#ifndef MM_INIT_H
#define MM_INIT_H

#include "internal.h"

#pragma GCC visibility push(hidden)

/* Everything a first call needs (secrets, page size, defaults, the thread
 * key, the fork handlers).  Works before main, from the dynamic loader
 * and other libraries' constructors: calls nothing that may allocate
 * before the allocator can serve a nested call. */
void mm_process_init(void);
/* What the library constructor does (the environment, the modes, the
 * main thread's heap); idempotent, for other constructors of ours. */
void mm_process_start(void);
/* The calling thread's heap, made now (with its exit hook); NULL when
 * there is no memory. */
mm_heap_t *mm_thread_init(void);

#pragma GCC visibility pop

#endif
