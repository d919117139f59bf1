/* Task dumps and debug mode. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>

#include "testutil.h"

static void *nap(void *arg)
{
    weft_sleep((int64_t)(intptr_t)arg);
    return NULL;
}

static void *await_arg(void *arg)
{
    weft_await(arg, NULL);
    return NULL;
}

static void *dump_main(void *arg)
{
    char *text = arg;
    weft_task *sleeper, *waiter, *pending;
    size_t size = 0;
    char *buf = NULL;

    ck_assert_int_eq(weft_spawn_ex(&sleeper, nap,
                                   (void *)(intptr_t)TEST_LONG_MS,
                                   &(weft_spawn_opts){ .name = "sleeper" }), 0);
    ck_assert_int_eq(weft_spawn_ex(&waiter, await_arg, sleeper,
                                   &(weft_spawn_opts){ .name = "waiter" }), 0);
    wait_until_waiting(sleeper, "sleep");
    wait_until_waiting(waiter, "task ");
    ck_assert_int_eq(weft_spawn_ex(&pending, nap, NULL,
                                   &(weft_spawn_opts){ .name = "pending" }), 0);
    FILE *out = open_memstream(&buf, &size);
    ck_assert_int_eq(weft_dump(out), 4);
    fclose(out);
    snprintf(text, 4096, "%s", buf);
    free(buf);
    ck_assert_int_eq(weft_dump(NULL), -EINVAL);
    weft_cancel(sleeper);
    weft_await(waiter, NULL);
    weft_await(pending, NULL);
    weft_task_unref(sleeper);
    weft_task_unref(waiter);
    weft_task_unref(pending);
    return NULL;
}

/* The line of the task named name, or fails. */
static const char *line_of(const char *text, const char *name)
{
    static char line[256];
    const char *p = strstr(text, name);
    ck_assert_msg(p != NULL, "no %s in:\n%s", name, text);
    const char *start = p;
    while (start > text && start[-1] != '\n')
        start--;
    const char *end = strchr(p, '\n');
    snprintf(line, sizeof line, "%.*s", (int)(end - start), start);
    return line;
}

START_TEST(test_dump_lists_every_task_and_what_it_waits_on)
{
    static char text[4096];
    ck_assert_int_eq(run_on(1, dump_main, text), 0);
    ck_assert_ptr_nonnull(strstr(text, "weft: tasks of a runtime with 1 worker"));
    ck_assert_ptr_nonnull(strstr(line_of(text, " main "), "running"));
    const char *sleeper = line_of(text, "sleeper");
    ck_assert_ptr_nonnull(strstr(sleeper, "waiting"));
    ck_assert_ptr_nonnull(strstr(sleeper, "sleep"));
    ck_assert_ptr_nonnull(strstr(line_of(text, "waiter"), "task "));
    ck_assert_ptr_nonnull(strstr(line_of(text, "pending"), "pending"));
    /* Outside a runtime there is nothing to dump. */
    ck_assert_int_eq(weft_dump(stderr), -ESRCH);
}
END_TEST

static void *busy(void *arg)
{
    int64_t end = mono_ms() + (int64_t)(intptr_t)arg;
    while (mono_ms() < end)
        ; /* holds the worker, as a blocking call would */
    return NULL;
}

static void *slow_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, busy, (void *)(intptr_t)150,
                                   &(weft_spawn_opts){ .name = "hog" }), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

/* A blocking call of a second, offloaded. */
#define OFFLOADED_MS 1000

static void *blocks(void *arg)
{
    (void)arg;
    nanosleep(&(struct timespec){ OFFLOADED_MS / 1000, 0 }, NULL);
    return NULL;
}

static void *offloaded(void *arg)
{
    (void)arg;
    return weft_to_thread(blocks, NULL, NULL) == 0
               ? NULL : weft_fail(-EIO, "to_thread");
}

/* The longest time a report says a task ran without suspending, or 0. */
static double longest_reported_ms(const char *err)
{
    double longest = 0;
    for (const char *p = strstr(err, " ran "); p != NULL;
         p = strstr(p + 1, " ran ")) {
        double ms;
        if (sscanf(p, " ran %lf ms without suspending", &ms) == 1 &&
            ms > longest)
            longest = ms;
    }
    return longest;
}

static void *offloaded_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, offloaded, NULL,
                                   &(weft_spawn_opts){ .name = "polite" }), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_debug_mode_names_a_task_that_holds_its_worker)
{
    char err[1024];
    ck_assert_int_eq(setenv("WEFT_DEBUG", "1", 1), 0);
    ck_assert_int_eq(run_capturing_stderr(1, slow_main, NULL, err, sizeof err), 0);
    ck_assert_msg(strstr(err, "task 'hog' ran ") != NULL &&
                  strstr(err, "ms without suspending") != NULL, "stderr: %s", err);
    /* And it says what to do about it. */
    ck_assert_ptr_nonnull(strstr(err, "weft_to_thread"));
    /* A wait offloaded holds up no worker: no task is said to have run
     * as long as it. (A worker thread the system kept off its CPU past
     * the threshold may be named, for less.) */
    ck_assert_int_eq(run_capturing_stderr(1, offloaded_main, NULL, err,
                                          sizeof err), 0);
    ck_assert_msg(longest_reported_ms(err) < OFFLOADED_MS, "stderr: %s", err);
    /* Not in debug mode: nothing said. */
    ck_assert_int_eq(setenv("WEFT_DEBUG", "0", 1), 0);
    ck_assert_int_eq(run_capturing_stderr(1, slow_main, NULL, err, sizeof err), 0);
    ck_assert_ptr_null(strstr(err, "without suspending"));
    ck_assert_int_eq(setenv("WEFT_DEBUG", "yes", 1), 0);
    ck_assert_int_eq(weft_run(slow_main, NULL, NULL, NULL), -EINVAL);
}
END_TEST

static void *threshold_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, busy, (void *)(intptr_t)30,
                                   &(weft_spawn_opts){ .name = "short" }), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_debug_threshold_is_an_option)
{
    char err[1024];
    weft_run_opts o = { .workers = 1, .debug = 1, .slow_task_ms = 10 };
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    int saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[1]);
    ck_assert_int_eq(weft_run(threshold_main, NULL, NULL, &o), 0);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = read(pipefd[0], err, sizeof err - 1);
    close(pipefd[0]);
    err[n > 0 ? n : 0] = '\0';
    ck_assert_ptr_nonnull(strstr(err, "task 'short' ran "));
    o.debug = 2;
    ck_assert_int_eq(weft_run(threshold_main, NULL, NULL, &o), -EINVAL);
}
END_TEST

/* What the dump thread writes on stderr, read from the capture's pipe as
 * it comes. */
struct captured {
    int fd;
    char text[4096];
    size_t len;
};

/* Reads the capture until its text holds the napper's whole line. */
static void *read_until_line(void *arg)
{
    struct captured *c = arg;
    const char *p;
    while ((p = strstr(c->text, "napper")) == NULL || strchr(p, '\n') == NULL) {
        ssize_t n = read(c->fd, c->text + c->len, sizeof c->text - 1 - c->len);
        if (n <= 0)
            return weft_fail(-EIO, "no dump");
        c->len += (size_t)n;
        c->text[c->len] = '\0';
    }
    return NULL;
}

static void *signal_main(void *arg)
{
    weft_task *t;
    ck_assert_int_eq(weft_spawn_ex(&t, nap, (void *)(intptr_t)TEST_LONG_MS,
                                   &(weft_spawn_opts){ .name = "napper" }), 0);
    wait_until_waiting(t, "sleep");
    raise(SIGUSR1); /* the dump thread writes it out */
    /* The napper sleeps on until the dump is out. */
    ck_assert_int_eq(weft_to_thread(read_until_line, arg, NULL), 0);
    weft_cancel(t);
    weft_await(t, NULL);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_debug_mode_dumps_on_sigusr1)
{
    static struct captured c;
    struct stderr_capture cap;
    char rest[1024];
    struct sigaction before, after;
    sigaction(SIGUSR1, NULL, &before);
    ck_assert_int_eq(setenv("WEFT_DEBUG", "1", 1), 0);
    stderr_capture_begin(&cap);
    c.fd = cap.read_fd;
    c.len = 0;
    c.text[0] = '\0';
    int rc = run_on(2, signal_main, &c);
    stderr_capture_end(&cap, rest, sizeof rest);
    ck_assert_int_eq(rc, 0);
    const char *err = c.text;
    ck_assert_msg(strstr(err, "napper") != NULL, "stderr: %s", err);
    ck_assert_ptr_nonnull(strstr(line_of(err, "napper"), "sleep"));
    /* The handler that was there before is back. */
    sigaction(SIGUSR1, NULL, &after);
    ck_assert_ptr_eq((void *)before.sa_handler, (void *)after.sa_handler);
}
END_TEST

static Suite *debug_suite(void)
{
    Suite *s = suite_create("debug");
    TCase *tc = tcase_create("debug");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_dump_lists_every_task_and_what_it_waits_on);
    tcase_add_test(tc, test_debug_mode_names_a_task_that_holds_its_worker);
    tcase_add_test(tc, test_debug_threshold_is_an_option);
    tcase_add_test(tc, test_debug_mode_dumps_on_sigusr1);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(debug_suite)
