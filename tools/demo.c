/* mymalloc-demo -- allocates and frees a known pattern in several threads,
 * some blocks freed by a thread other than the one that allocated them,
 * then prints malloc_stats().  `make get-stats` builds and runs it. */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define PER_THREAD 10000

static void *blocks[THREADS][PER_THREAD];
static pthread_barrier_t barrier;

static void *worker(void *arg) {
  int id = (int)(long)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    size_t n = 16 + (size_t)((i * 37 + id * 11) % 1000);   /* 16..1015 bytes */
    if (i % 1000 == 999) n = 200 * 1024;                    /* a few large blocks */
    blocks[id][i] = malloc(n);
    memset(blocks[id][i], id, n);
  }
  for (int i = 0; i < PER_THREAD; i += 2) free(blocks[id][i]);   /* half, locally */
  pthread_barrier_wait(&barrier);
  int other = (id + 1) % THREADS;                  /* a quarter, from another thread */
  for (int i = 1; i < PER_THREAD; i += 4) free(blocks[other][i]);
  return NULL;
}

int main(void) {
  pthread_t t[THREADS];
  pthread_barrier_init(&barrier, NULL, THREADS);
  for (long i = 0; i < THREADS; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
  printf("mymalloc-demo: %d threads allocated %d blocks each, freed half locally and a quarter\n"
         "from another thread; %d blocks are still live. malloc_stats() follows.\n",
         THREADS, PER_THREAD, THREADS * PER_THREAD / 4);
  fflush(stdout);
  malloc_stats();
  return 0;
}
