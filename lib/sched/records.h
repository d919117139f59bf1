/* Where task records come from, and where they go when no runtime keeps
 * them. */
#ifndef WEFT_SCHED_RECORDS_H
#define WEFT_SCHED_RECORDS_H

#include <stdbool.h>
#include <stddef.h>

#include "sched/task.h"

struct weft__worker;

/* Whether records are carved from weft's own mapped chunks: with the C
 * library's allocator in place, and not under ASan (whose checks want
 * each record a heap block of its own). Otherwise every record is a
 * weft__malloc() block. */
bool weft__records_mapped(void);

/* A record for a new task, or NULL for lack of memory. w is the calling
 * worker, or NULL off the workers. A fresh record has wait 0, no name and
 * no message; a reused one keeps its wait word and generation. */
weft__task *weft__record_new(struct weft__worker *w);

/* Gives back records no runtime will reuse: t, or the stack of them at
 * *top (through qlink; *top becomes NULL). Their names and messages must
 * be freed already. Mapped records stay mapped for the process's
 * lifetime, to serve later runs; a task handle may outlive weft_run, so
 * the memory under one must never go away. Any thread, any time. */
void weft__record_release(weft__task *t);
void weft__records_release_all(struct weft__slink **top);

/* At a worker's end: what is left of its chunk goes back for the next
 * worker to carve. */
void weft__records_worker_end(struct weft__worker *w);

/* For the tests: chunks taken so far, and spare records kept. */
void weft__records_counts(size_t *chunks, size_t *spares);

#endif /* WEFT_SCHED_RECORDS_H */
