/* weft_chan: a closable FIFO pipe between tasks, buffered or not; a queue
 * (queue.c) whose capacity may be 0 and whose shutdown is its close. */
#include "core/internal.h"

#include <errno.h>

#include "flow/queue.h"
#include "sched/task.h"

#include "weft/queue.h"

struct weft_chan {
    struct weft__queue q;
};

/* The queue behind a public handle, or NULL if it is not a live one. */
static struct weft__queue *chan_queue(weft_chan *chan)
{
    return chan != NULL && chan->q.magic == WEFT__QUEUE_MAGIC ? &chan->q : NULL;
}

int weft_chan_create(weft_chan **chan, size_t capacity, void (*dispose)(void *))
{
    if (chan == NULL)
        return -EINVAL;
    *chan = NULL;
    /* The queue's own sentinel for "no limit" is not a capacity. */
    if (capacity == WEFT__QUEUE_UNBOUNDED)
        return -EINVAL;
    weft_chan *ch = weft__malloc(sizeof *ch);
    if (ch == NULL)
        return -ENOMEM;
    int rc = weft__queue_init(&ch->q, WEFT_QUEUE_FIFO, capacity, NULL, dispose,
                              WEFT__WAITING_CHANNEL, -EPIPE);
    if (rc < 0) {
        weft__free(ch);
        return rc;
    }
    *chan = ch;
    return 0;
}

int weft_chan_destroy(weft_chan *chan)
{
    struct weft__queue *q = chan_queue(chan);

    if (q == NULL)
        return -EINVAL;
    int rc = weft__queue_fini(q);
    if (rc == 0)
        weft__free(chan);
    return rc;
}

int weft_chan_send(weft_chan *chan, void *item, int64_t timeout_ms)
{
    return weft__queue_put(chan_queue(chan), item, 0, timeout_ms, true);
}

int weft_chan_try_send(weft_chan *chan, void *item)
{
    return weft__queue_put(chan_queue(chan), item, 0, 0, false);
}

int weft_chan_recv(weft_chan *chan, void **item, int64_t timeout_ms)
{
    return weft__queue_get(chan_queue(chan), item, timeout_ms, true);
}

int weft_chan_try_recv(weft_chan *chan, void **item)
{
    return weft__queue_get(chan_queue(chan), item, 0, false);
}

int weft_chan_close(weft_chan *chan)
{
    struct weft__queue *q = chan_queue(chan);

    if (q == NULL)
        return -EINVAL;
    weft__queue_shutdown(q, false);
    return 0;
}
