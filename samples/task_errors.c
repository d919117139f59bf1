/* task_errors: a failing task's error reaches whoever awaits it.
 *
 * In asyncio an exception raised in a task is stored in the task and
 * re-raised by `await task`. In weft a task fails with an error code and a
 * message (weft_fail), and weft_await returns the code; weft_task_errmsg
 * gives the message.
 */
#include <stdio.h>
#include <string.h>
#include <weft.h>

static void *fetch(void *arg)
{
    const char *url = arg;
    weft_sleep(50); /* pretend to talk to the network */
    if (strstr(url, "bad") != NULL)
        return weft_fail(WEFT_ECONNREFUSED, "cannot fetch %s", url);
    return (void *)"200 OK";
}

static void *amain(void *arg)
{
    static const char *urls[] = { "https://good.example", "https://bad.example" };
    weft_task *tasks[2];
    (void)arg;

    for (int i = 0; i < 2; i++) {
        int rc = weft_spawn(&tasks[i], fetch, (void *)urls[i]);
        if (rc < 0)
            return weft_fail(rc, "spawn");
    }
    for (int i = 0; i < 2; i++) {
        void *result;
        int rc = weft_await(tasks[i], &result);
        if (rc == 0)
            printf("%s: %s\n", urls[i], (const char *)result);
        else
            printf("%s: failed with %s (%s): %s\n", urls[i],
                   weft_err_name(rc), weft_strerror(rc),
                   weft_task_errmsg(tasks[i]));
        weft_task_unref(tasks[i]);
    }
    return NULL;
}

int main(void)
{
    return weft_run(amain, NULL, NULL, NULL) == 0 ? 0 : 1;
}
