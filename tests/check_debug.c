/* Task dumps, debug mode, and the reports of tasks that hold their
 * worker too long (on in every mode). */
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
    weft_task *sleeper, *waiter, *pending, *finished;
    size_t size = 0;
    char *buf = NULL;

    /* A finished task whose handle is still held is not listed. */
    ck_assert_int_eq(weft_spawn_ex(&finished, nap, NULL,
                                   &(weft_spawn_opts){ .name = "finished" }), 0);
    ck_assert_int_eq(weft_await(finished, NULL), 0);

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
    weft_task_unref(finished);
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
    ck_assert_ptr_null(strstr(text, "finished"));
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

/* Yields for arg milliseconds: with nothing else ready, every yield
 * returns at once. */
static void *spin_yielding(void *arg)
{
    int64_t end = mono_ms() + (int64_t)(intptr_t)arg;
    while (mono_ms() < end)
        ck_assert_int_eq(weft_yield(), 0);
    return NULL;
}

/* A task named `name` that holds its worker for ms milliseconds. */
struct hog {
    const char *name;
    int64_t ms;
};

static void *hog_main(void *arg)
{
    const struct hog *h = arg;
    weft_task *t;

    ck_assert_int_eq(weft_spawn_ex(&t, busy, (void *)(intptr_t)h->ms,
                                   &(weft_spawn_opts){ .name = h->name }), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

/* Runs fn(arg) with opts, returning what weft wrote on stderr. */
static void run_reporting(weft_fn fn, void *arg, const weft_run_opts *opts,
                          char *err, size_t size)
{
    struct stderr_capture cap;
    struct leak_check lc;

    leak_check_begin(&lc);
    stderr_capture_begin(&cap);
    int rc = weft_run(fn, arg, NULL, opts);
    stderr_capture_end(&cap, err, size);
    leak_check_end(&lc); /* the watchdog thread included */
    ck_assert_msg(rc == 0, "weft_run: %d; stderr: %s", rc, err);
}

static void run_hog(const struct hog *h, const weft_run_opts *opts, char *err,
                    size_t size)
{
    run_reporting(hog_main, (void *)h, opts, err, size);
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

/* On by default, in any mode: a task that holds its worker four times
 * the default threshold is named, with a lower bound of how long, and
 * what to do about it. (The watchdog reports from its first look at the
 * slice, so a watchdog the system kept off its CPU may report less, or,
 * held off for the whole slice, nothing: four times leaves it 300 ms.) */
START_TEST(test_a_task_that_holds_its_worker_is_named)
{
    char err[2048];
    struct hog h = { "hog", 4 * WEFT_SLOW_TASK_MS_DEFAULT };

    ck_assert_int_eq(unsetenv("WEFT_DEBUG"), 0);
    ck_assert_int_eq(unsetenv("WEFT_SLOW_TASK_MS"), 0);
    run_hog(&h, &(weft_run_opts){ .workers = 1 }, err, sizeof err);
    ck_assert_msg(strstr(err, "task 'hog' ran ") != NULL &&
                  strstr(err, "ms without suspending") != NULL, "stderr: %s", err);
    ck_assert_msg(longest_reported_ms(err) >= WEFT_SLOW_TASK_MS_DEFAULT,
                  "stderr: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "weft_to_thread"));
    /* Debug mode reports the same way. */
    ck_assert_int_eq(setenv("WEFT_DEBUG", "1", 1), 0);
    run_hog(&h, &(weft_run_opts){ .workers = 2 }, err, sizeof err);
    ck_assert_msg(strstr(err, "task 'hog' ran ") != NULL, "stderr: %s", err);
    ck_assert_int_eq(unsetenv("WEFT_DEBUG"), 0);
    /* A wait offloaded holds up no worker: no task is said to have run
     * as long as it. (A worker thread the system kept off its CPU past
     * the threshold may be named, for less.) */
    run_reporting(offloaded_main, NULL, &(weft_run_opts){ .workers = 1 }, err,
                  sizeof err);
    ck_assert_msg(longest_reported_ms(err) < OFFLOADED_MS, "stderr: %s", err);
}
END_TEST

static void *yielding_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn_ex(&t, spin_yielding,
                                   (void *)(intptr_t)(3 * WEFT_SLOW_TASK_MS_DEFAULT),
                                   &(weft_spawn_opts){ .name = "yielder" }), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

/* A task that yields with nothing else ready gives its worker up as often
 * as anything could take it: not reported. */
START_TEST(test_a_task_yielding_alone_is_not_reported)
{
    char err[2048];

    ck_assert_int_eq(unsetenv("WEFT_SLOW_TASK_MS"), 0);
    run_reporting(yielding_main, NULL, &(weft_run_opts){ .workers = 1 }, err,
                  sizeof err);
    ck_assert_msg(strstr(err, "'yielder'") == NULL &&
                  strstr(err, "still running") == NULL, "stderr: %s", err);
}
END_TEST

/* Turned off by the option or by WEFT_SLOW_TASK_MS=off: nothing said. */
START_TEST(test_slow_task_reports_can_be_turned_off)
{
    char err[2048];
    struct hog h = { "hog", 3 * WEFT_SLOW_TASK_MS_DEFAULT };

    ck_assert_int_eq(unsetenv("WEFT_SLOW_TASK_MS"), 0);
    run_hog(&h, &(weft_run_opts){ .workers = 1,
                                  .slow_task_ms = WEFT_SLOW_TASK_OFF },
            err, sizeof err);
    ck_assert_ptr_null(strstr(err, "without suspending"));
    ck_assert_int_eq(setenv("WEFT_SLOW_TASK_MS", "off", 1), 0);
    run_hog(&h, &(weft_run_opts){ .workers = 1 }, err, sizeof err);
    ck_assert_ptr_null(strstr(err, "without suspending"));
    /* The option wins over the environment. */
    run_hog(&h, &(weft_run_opts){ .workers = 1, .slow_task_ms = 50 }, err,
            sizeof err);
    ck_assert_ptr_nonnull(strstr(err, "task 'hog' ran "));
    /* Bad values. */
    const char *bad[] = { "0", "-5", "fast", "100ms", "86400001" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(setenv("WEFT_SLOW_TASK_MS", bad[i], 1), 0);
        ck_assert_int_eq(weft_run(hog_main, &h, NULL, NULL), -EINVAL);
    }
    ck_assert_int_eq(unsetenv("WEFT_SLOW_TASK_MS"), 0);
    ck_assert_int_eq(weft_run(hog_main, &h, NULL,
                              &(weft_run_opts){ .slow_task_ms = -2 }),
                     -EINVAL);
    ck_assert_int_eq(weft_run(hog_main, &h, NULL,
                              &(weft_run_opts){
                                  .slow_task_ms = WEFT_SLOW_TASK_MS_MAX + 1 }),
                     -EINVAL);
    ck_assert_int_eq(setenv("WEFT_DEBUG", "yes", 1), 0);
    ck_assert_int_eq(weft_run(hog_main, &h, NULL, NULL), -EINVAL);
    ck_assert_int_eq(unsetenv("WEFT_DEBUG"), 0);
}
END_TEST

/* The threshold is an option; and a task that never gives its worker up
 * is reported while it still runs, at ten times the threshold (a second
 * at least), before its name comes when it ends. */
START_TEST(test_slow_task_threshold_is_an_option)
{
    char err[2048];
    struct hog h = { "short", 200 };

    ck_assert_int_eq(unsetenv("WEFT_SLOW_TASK_MS"), 0);
    run_hog(&h, &(weft_run_opts){ .workers = 1, .slow_task_ms = 20 }, err,
            sizeof err);
    ck_assert_msg(strstr(err, "task 'short' ran ") != NULL, "stderr: %s", err);
    ck_assert_ptr_null(strstr(err, "still running"));
    h = (struct hog){ "stuck", 1600 };
    run_hog(&h, &(weft_run_opts){ .workers = 2, .slow_task_ms = 20 }, err,
            sizeof err);
    const char *still = strstr(err, "still running");
    const char *named = strstr(err, "task 'stuck' ran ");
    ck_assert_msg(still != NULL && named != NULL && still < named,
                  "stderr: %s", err);
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
    tcase_add_test(tc, test_a_task_that_holds_its_worker_is_named);
    tcase_add_test(tc, test_slow_task_reports_can_be_turned_off);
    tcase_add_test(tc, test_a_task_yielding_alone_is_not_reported);
    tcase_add_test(tc, test_slow_task_threshold_is_an_option);
    tcase_add_test(tc, test_debug_mode_dumps_on_sigusr1);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(debug_suite)
