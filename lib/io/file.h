/* A regular file under a stream: its reads and writes, made on the
 * blocking pool because a file never waits for readiness (io/file.c).
 *
 * The stream (io/stream.c) keeps its own input buffer and its reader's
 * and writer's turns; this part owns the descriptor, the bytes queued
 * for writing and the one read and the one write job that may be
 * running. A job outlives a call that was interrupted: the next call
 * waits for it and takes what it did, so no byte is lost or reordered.
 */
#ifndef WEFT_IO_FILE_H
#define WEFT_IO_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct weft__task weft__task; /* sched/task.h */
struct weft__file;

/* Takes fd (blocking is fine: only pool threads use it). Returns 0, or
 * -ENOMEM with fd left open. */
int weft__file_new(struct weft__file **f, int fd);

/* Reads up to want bytes (64 KiB to 1 MiB are asked of the system), or
 * takes those of a read an interrupted call left running. Returns 1
 * with *data and *len the bytes (valid until weft__file_read_done), 0 at
 * the end of the file, or -ETIMEDOUT (deadline in ms, -1: none),
 * -ECANCELED, -EBADF (shut down), or the read's error. One reader at a
 * time, on a task. */
int weft__file_read(weft__task *self, struct weft__file *f, size_t want,
                    int64_t deadline, const char **data, size_t *len);

/* The bytes weft__file_read gave were taken. */
void weft__file_read_done(struct weft__file *f);

/* Queues buf[0, n) for the write job, starting one if none runs; first,
 * while more than high bytes are unsent, waits for the job to write
 * them. Returns 0, -ETIMEDOUT, -ECANCELED (nothing queued then), -EBADF,
 * -ENOMEM, or a failed write's error (from then on). One writer at a
 * time, on a task. */
int weft__file_write(weft__task *self, struct weft__file *f, const void *buf,
                     size_t n, size_t high, int64_t deadline);

/* Waits until every queued byte is written. Returns 0, -ETIMEDOUT,
 * -ECANCELED, -EBADF, or a failed write's error. */
int weft__file_drain(struct weft__file *f, int64_t deadline);

/* Bytes queued or being written. Any thread. */
size_t weft__file_unsent(const struct weft__file *f);

/* Ends the waits under way with -EBADF; every call after gets -EBADF. */
void weft__file_shut_down(struct weft__file *f);

/* Lets go of f: drops what is still queued (a write already handed to
 * the system completes), and closes the descriptor once no job runs: now,
 * on the pool, if none does (always so after a drain that succeeded and
 * no read left running), else when the last job ends. Returns close's
 * error if it closed it now, else 0. On a task, once no call is under
 * way; may suspend. */
int weft__file_close(struct weft__file *f);

#endif /* WEFT_IO_FILE_H */
