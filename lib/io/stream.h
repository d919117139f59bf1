/* Streams (weft/stream.h): what other parts of the I/O layer need. */
#ifndef WEFT_IO_STREAM_H
#define WEFT_IO_STREAM_H

typedef struct weft__task weft__task; /* sched/task.h */
typedef struct weft_stream weft_stream;

/* The first half of a close, for an owner that frees the stream later
 * (a subprocess's pipes): ends the waits on st with -EBADF, and every
 * call after this gets -EBADF, while st stays allocated for the calls
 * still on their way in. weft_stream_close or _abort then frees it (a
 * close does not drain it any more: what is queued is dropped). On a
 * task; does nothing to a stream being closed already. */
void weft__stream_shut_down(weft__task *self, weft_stream *st);

#endif /* WEFT_IO_STREAM_H */
