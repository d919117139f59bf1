/* hello: spawn a task, await its result.
 *
 * asyncio:
 *     async def greet(name): await asyncio.sleep(0.1); return f"hello, {name}"
 *     async def main(): print(await asyncio.create_task(greet("weft")))
 *     asyncio.run(main())
 */
#include <stdio.h>
#include <weft.h>

static void *greet(void *arg)
{
    static char line[64];
    weft_sleep(100);
    snprintf(line, sizeof line, "hello, %s", (const char *)arg);
    return line;
}

static void *amain(void *arg)
{
    weft_task *task;
    void *greeting;
    int rc;

    (void)arg;
    rc = weft_spawn(&task, greet, "weft");
    if (rc < 0)
        return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    rc = weft_await(task, &greeting);
    weft_task_unref(task);
    if (rc < 0)
        return weft_fail(rc, "greet failed");
    printf("%s\n", (const char *)greeting);
    return NULL;
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
