/* weft_channel: a closable FIFO pipe between tasks, buffered or not; a queue
 * (queue.c) whose capacity may be 0 and whose shutdown is its close. */
#include "core/internal.h"

#include <errno.h>

#include "flow/queue.h"
#include "sched/task.h"

#include "weft/channel.h"

struct weft_channel {
    struct weft__queue q;
};

/* The queue behind a public handle, or NULL if it is not a live one. */
static struct weft__queue *chan_queue(weft_channel *chan)
{
    return chan != NULL && chan->q.magic == WEFT__QUEUE_MAGIC ? &chan->q : NULL;
}

int weft_channel_create(weft_channel **chan, size_t capacity,
                        const weft_channel_opts *opts)
{
    if (chan == NULL)
        return -EINVAL;
    *chan = NULL;
    if (opts != NULL) {
        for (size_t i = 0; i < WEFT__ARRAY_SIZE(opts->reserved); i++) {
            if (opts->reserved[i] != NULL)
                return -EINVAL;
        }
    }
    /* The queue's own sentinel for "no limit" is not a capacity. */
    if (capacity == WEFT__QUEUE_UNBOUNDED)
        return -EINVAL;
    weft_channel *ch = weft__malloc(sizeof *ch);
    if (ch == NULL)
        return -ENOMEM;
    int rc = weft__queue_init(&ch->q, WEFT_QUEUE_FIFO, capacity, NULL,
                              opts != NULL ? opts->dispose : NULL,
                              WEFT__WAITING_CHANNEL);
    if (rc < 0) {
        weft__free(ch);
        return rc;
    }
    *chan = ch;
    return 0;
}

int weft_channel_destroy(weft_channel *chan)
{
    struct weft__queue *q = chan_queue(chan);

    if (q == NULL)
        return -EINVAL;
    int rc = weft__queue_fini(q);
    if (rc == 0)
        weft__free(chan);
    return rc;
}

int weft_channel_send(weft_channel *chan, void *item, int64_t timeout_ms)
{
    return weft__queue_put(chan_queue(chan), item, 0, timeout_ms, 0);
}

int weft_channel_try_send(weft_channel *chan, void *item)
{
    return weft__queue_put(chan_queue(chan), item, 0, 0, WEFT__QUEUE_TRY);
}

int weft_channel_recv(weft_channel *chan, void **item, int64_t timeout_ms)
{
    return weft__queue_get(chan_queue(chan), item, timeout_ms, 0);
}

int weft_channel_try_recv(weft_channel *chan, void **item)
{
    return weft__queue_get(chan_queue(chan), item, 0, WEFT__QUEUE_TRY);
}

int weft_channel_close(weft_channel *chan)
{
    struct weft__queue *q = chan_queue(chan);

    if (q == NULL)
        return -EINVAL;
    weft__queue_shutdown(q, 0);
    return 0;
}
