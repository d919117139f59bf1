/* cancel_cleanup: seed 004's question 12, "explain cancellation; how to
 * handle cleanup?".
 *
 * In asyncio, task.cancel() raises CancelledError in the task, and cleanup
 * goes in `finally`. In weft, weft_cancel() makes the task's next
 * suspension return -ECANCELED, and every later one too, so cleanup that
 * must await (flush, say goodbye, close) runs in a shield scope.
 */
#include <stdio.h>
#include <weft.h>

static void *download(void *arg)
{
    const char *name = arg;
    int chunks = 0, rc;

    while ((rc = weft_sleep(10)) == 0)    /* receive a chunk */
        chunks++;
    printf("  %s: stopped after %d chunks (%s)\n", name, chunks,
           weft_err_name(rc));

    /* Cleanup that awaits: only inside a shield. */
    weft_scope shield;
    weft_shield_enter(&shield);
    rc = weft_sleep(20);                  /* flush the partial file */
    printf("  %s: partial file flushed (%s)\n", name, weft_err_name(rc));
    weft_scope_leave(&shield);

    printf("  %s: outside the shield, a sleep gives %s\n", name,
           weft_err_name(weft_sleep(1)));
    return weft_fail(WEFT_ECANCELED, "%s cancelled after %d chunks", name,
                     chunks);
}

static void *amain(void *arg)
{
    weft_task *t;
    (void)arg;

    weft_spawn_ex(&t, download, "video.mp4",
                  &(weft_spawn_opts){ .name = "download" });
    weft_sleep(55);
    printf("main: cancelling the download\n");
    weft_cancel(t);
    int rc = weft_await(t, NULL);
    printf("main: the download ended with %s: %s\n", weft_err_name(rc),
           weft_task_errmsg(t));
    weft_task_unref(t);
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
