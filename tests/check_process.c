/* The process pool: registration, calls, errors, crashes and kills,
 * cancellation, and a shutdown that leaves no child behind. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "testutil.h"

/* --- functions run in the workers ----------------------------------------------- */

/* The input reversed. */
static int reverse(const void *in, size_t len, void **out, size_t *out_len)
{
    const unsigned char *p = in;
    unsigned char *r = malloc(len > 0 ? len : 1);

    if (r == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < len; i++)
        r[i] = p[len - 1 - i];
    *out = r;
    *out_len = len;
    return 0;
}

static int fails(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    (void)out;
    (void)out_len;
    return -EDOM;
}

static int my_pid(const void *in, size_t len, void **out, size_t *out_len)
{
    pid_t pid = getpid();
    int ms = len == sizeof(int) ? *(const int *)in : 0;

    if (ms > 0)
        nanosleep(&(struct timespec){ ms / 1000, (ms % 1000) * 1000000L },
                  NULL);
    if ((*out = malloc(sizeof pid)) == NULL)
        return -ENOMEM;
    memcpy(*out, &pid, sizeof pid);
    *out_len = sizeof pid;
    return 0;
}

static int segfaults(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    (void)out;
    (void)out_len;
    raise(SIGSEGV);
    return 0;
}

static int exits(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    (void)out;
    (void)out_len;
    _exit(3);
}

/* The pipe a worker reports its pid on, with the tag its caller gave it
 * (a worker killed mid-call may have reported, or not: readers skip
 * records not theirs); made before weft_run, so the workers inherit it. */
static int pid_pipe[2];

struct pid_record {
    int tag;
    pid_t pid;
};

static int report_pid(const void *in, size_t len)
{
    struct pid_record rec = { len == sizeof(int) ? *(const int *)in : 0,
                              getpid() };
    return write(pid_pipe[1], &rec, sizeof rec) == sizeof rec ? 0 : -EIO;
}

static int hangs(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)out;
    (void)out_len;
    if (report_pid(in, len) < 0)
        return -EIO;
    for (;;)
        pause();
}

/* The pipe a gated call waits on for a byte, once it has reported. */
static int gate_pipe[2];

static int gated_pid(const void *in, size_t len, void **out, size_t *out_len)
{
    pid_t pid = getpid();
    char go;

    if (report_pid(in, len) < 0 || read(gate_pipe[0], &go, 1) != 1)
        return -EIO;
    if ((*out = malloc(sizeof pid)) == NULL)
        return -ENOMEM;
    memcpy(*out, &pid, sizeof pid);
    *out_len = sizeof pid;
    return 0;
}

static void register_all(void)
{
    ck_assert_int_eq(weft_process_register("reverse", reverse), 0);
    ck_assert_int_eq(weft_process_register("fails", fails), 0);
    ck_assert_int_eq(weft_process_register("pid", my_pid), 0);
    ck_assert_int_eq(weft_process_register("segfaults", segfaults), 0);
    ck_assert_int_eq(weft_process_register("exits", exits), 0);
    ck_assert_int_eq(weft_process_register("hangs", hangs), 0);
    ck_assert_int_eq(weft_process_register("gated", gated_pid), 0);
}

static void unregister_all(void)
{
    const char *names[] = { "reverse", "fails", "pid", "segfaults", "exits",
                            "hangs", "gated" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ck_assert_int_eq(weft_process_unregister(names[i]), 0);
}

/* No child is left, not even a zombie. */
static void assert_no_children(void)
{
    ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
}

/* Runs main with a pool of `procs` processes on 2 workers, checking the
 * usual leaks and that every child was reaped. */
static int run_pool(unsigned procs, weft_fn main_fn, void *arg)
{
    struct leak_check lc;
    weft_run_opts ro = { .workers = 2, .processes = procs };

    leak_check_begin(&lc);
    register_all();
    int rc = weft_run(main_fn, arg, NULL, &ro);
    unregister_all();
    leak_check_end(&lc);
    assert_no_children();
    return rc;
}

static weft_process_stats pool_stats(void)
{
    weft_process_stats st;
    ck_assert_int_eq(weft_process_get_stats(&st), 0);
    return st;
}

static pid_t call_pid(int sleep_ms)
{
    void *out = NULL;
    size_t len = 0;
    pid_t pid;

    ck_assert_int_eq(weft_process_call("pid", &sleep_ms, sizeof sleep_ms,
                                       &out, &len), 0);
    ck_assert_uint_eq(len, sizeof pid);
    memcpy(&pid, out, sizeof pid);
    weft_free(out);
    return pid;
}

/* --- registration ---------------------------------------------------------------- */

static void *busy_register_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_process_register("late", reverse), -EBUSY);
    ck_assert_int_eq(weft_process_unregister("reverse"), -EBUSY);
    return NULL;
}

START_TEST(test_registration)
{
    char long_name[WEFT_PROCESS_NAME_MAX + 2];

    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    ck_assert_int_eq(weft_process_register(NULL, reverse), -EINVAL);
    ck_assert_int_eq(weft_process_register("", reverse), -EINVAL);
    ck_assert_int_eq(weft_process_register(long_name, reverse), -EINVAL);
    long_name[WEFT_PROCESS_NAME_MAX] = '\0'; /* the longest allowed */
    ck_assert_int_eq(weft_process_register(long_name, reverse), 0);
    ck_assert_int_eq(weft_process_unregister(long_name), 0);
    ck_assert_int_eq(weft_process_register("f", NULL), -EINVAL);
    ck_assert_int_eq(weft_process_register("f", reverse), 0);
    ck_assert_int_eq(weft_process_register("f", fails), -EEXIST);
    ck_assert_int_eq(weft_process_unregister("f"), 0);
    ck_assert_int_eq(weft_process_unregister("f"), -ENOENT);
    ck_assert_int_eq(weft_process_unregister(NULL), -EINVAL);
    ck_assert_int_eq(run_pool(1, busy_register_main, NULL), 0);
}
END_TEST

/* --- calls --------------------------------------------------------------------------- */

static void *calls_main(void *arg)
{
    void *out = (void *)1;
    size_t len = 99;
    (void)arg;

    ck_assert_int_eq(weft_process_call("reverse", "abc", 3, &out, &len), 0);
    ck_assert_uint_eq(len, 3);
    ck_assert_int_eq(memcmp(out, "cba", 3), 0);
    weft_free(out);
    /* Empty input, and output not wanted. */
    ck_assert_int_eq(weft_process_call("reverse", NULL, 0, &out, &len), 0);
    weft_free(out);
    ck_assert_int_eq(weft_process_call("reverse", "x", 1, NULL, NULL), 0);
    /* The function's error comes back, with no output. */
    ck_assert_int_eq(weft_process_call("fails", "x", 1, &out, &len), -EDOM);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(len, 0);
    /* Bad input. */
    ck_assert_int_eq(weft_process_call("nope", "x", 1, &out, &len), -ENOENT);
    ck_assert_int_eq(weft_process_call(NULL, "x", 1, &out, &len), -EINVAL);
    ck_assert_int_eq(weft_process_call("reverse", NULL, 1, &out, &len),
                     -EINVAL);
    ck_assert_int_eq(weft_process_call("reverse", "x",
                                       WEFT_PROCESS_MSG_MAX + 1, &out, &len),
                     -EMSGSIZE);
    /* A large payload is streamed both ways. */
    size_t big = (size_t)8 << 20;
    unsigned char *in = malloc(big);
    for (size_t i = 0; i < big; i++)
        in[i] = (unsigned char)(i * 7 + (i >> 11));
    ck_assert_int_eq(weft_process_call("reverse", in, big, &out, &len), 0);
    ck_assert_uint_eq(len, big);
    unsigned char *o = out;
    for (size_t i = 0; i < big; i++)
        CHECK(o[i] == in[big - 1 - i]);
    weft_free(out);
    free(in);
    weft_process_stats st = pool_stats();
    ck_assert_uint_eq(st.processes, 2);
    ck_assert_uint_eq(st.calls, 5);
    ck_assert_uint_eq(st.deaths, 0);
    ck_assert_uint_eq(st.busy, 0);
    return NULL;
}

START_TEST(test_calls_and_errors)
{
    ck_assert_int_eq(weft_process_call("reverse", "x", 1, NULL, NULL),
                     -EPERM);
    ck_assert_int_eq(run_pool(2, calls_main, NULL), 0);
}
END_TEST

static void *no_pool_main(void *arg)
{
    weft_process_stats st;
    (void)arg;
    ck_assert_int_eq(weft_process_call("reverse", "x", 1, NULL, NULL),
                     -ESRCH);
    ck_assert_int_eq(weft_process_get_stats(&st), -ESRCH);
    return NULL;
}

START_TEST(test_no_pool_without_registrations)
{
    ck_assert_int_eq(run_on(1, no_pool_main, NULL), 0);
    ck_assert_int_eq(weft_process_get_stats(NULL), -EINVAL);
    assert_no_children();
}
END_TEST

/* The pid of the worker a record tagged `tag` comes from, read from
 * pid_pipe (blocking: run it with weft_to_thread); other records are
 * skipped. */
static void *read_pid(void *arg)
{
    struct pid_record rec;
    do {
        if (read(pid_pipe[0], &rec, sizeof rec) != sizeof rec)
            return weft_fail(-EIO, "no pid");
    } while (rec.tag != (int)(intptr_t)arg);
    return (void *)(intptr_t)rec.pid;
}

static void *read_two_pids(void *arg)
{
    pid_t *pids = arg;
    for (int i = 0; i < 2; i++)
        pids[i] = (pid_t)(intptr_t)read_pid((void *)(intptr_t)1);
    return NULL;
}

/* Four calls at once on two processes: two run, two wait their turn. The
 * calls hold their workers until the gate opens. */
struct pid_task {
    pid_t pid;
};

static void *pid_task(void *arg)
{
    int tag = 1;
    void *out = NULL;
    size_t len = 0;

    ck_assert_int_eq(weft_process_call("gated", &tag, sizeof tag, &out, &len),
                     0);
    ck_assert_uint_eq(len, sizeof(pid_t));
    memcpy(&((struct pid_task *)arg)->pid, out, sizeof(pid_t));
    weft_free(out);
    return NULL;
}

static void *concurrency_main(void *arg)
{
    struct pid_task p[4];
    weft_task *t[4];
    pid_t running[2];
    (void)arg;

    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(weft_spawn(&t[i], pid_task, &p[i]), 0);
    /* Two calls are in their workers at once, the others wait. */
    ck_assert_int_eq(weft_to_thread(read_two_pids, running, NULL), 0);
    ck_assert_int_ne(running[0], running[1]);
    ck_assert_uint_eq(pool_stats().busy, 2);
    ck_assert_int_eq(write(gate_pipe[1], "gggg", 4), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_ne(p[i].pid, getpid());
    }
    int distinct = 1 + (p[1].pid != p[0].pid);
    for (int i = 2; i < 4; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen |= p[j].pid == p[i].pid;
        distinct += !seen;
    }
    ck_assert_int_eq(distinct, 2);
    ck_assert_uint_eq(pool_stats().calls, 4);
    return NULL;
}

START_TEST(test_calls_share_the_workers)
{
    ck_assert_int_eq(pipe(pid_pipe), 0);
    ck_assert_int_eq(pipe(gate_pipe), 0);
    ck_assert_int_eq(run_pool(2, concurrency_main, NULL), 0);
    for (int i = 0; i < 2; i++) {
        close(pid_pipe[i]);
        close(gate_pipe[i]);
    }
}
END_TEST

/* --- crashes, kills, cancellation ----------------------------------------------------- */

static void *crash_main(void *arg)
{
    (void)arg;
    pid_t before = call_pid(0);
    ck_assert_int_eq(weft_process_call("segfaults", NULL, 0, NULL, NULL),
                     -ECHILD);
    ck_assert_int_eq(weft_process_call("exits", NULL, 0, NULL, NULL),
                     -ECHILD);
    /* Replaced: the pool answers again, from new processes. */
    pid_t after = call_pid(0);
    ck_assert_int_ne(after, before);
    weft_process_stats st = pool_stats();
    ck_assert_uint_eq(st.deaths, 2);
    ck_assert_uint_eq(st.respawns, 2);
    ck_assert_uint_eq(st.busy, 0);
    return NULL;
}

/* run_pool, with stderr (the pool's reports of deaths) in err[]. */
static int run_pool_quiet(unsigned procs, weft_fn fn, char *err, size_t size)
{
    struct stderr_capture cap;
    stderr_capture_begin(&cap);
    int rc = run_pool(procs, fn, NULL);
    stderr_capture_end(&cap, err, size);
    return rc;
}

START_TEST(test_crashed_worker_is_replaced)
{
    char err[4096];

    ck_assert_int_eq(run_pool_quiet(1, crash_main, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "died during a call of 'segfaults'"));
    ck_assert_ptr_nonnull(strstr(err, "died during a call of 'exits'"));
}
END_TEST

/* A task making a call that hangs, tagged `tag`. */
struct hang {
    int tag;
    int rc;
};

static void *hang_task(void *arg)
{
    struct hang *h = arg;
    h->rc = weft_process_call("hangs", &h->tag, sizeof h->tag, NULL, NULL);
    return NULL;
}

static void *killed_main(void *arg)
{
    struct hang h = { 1, 1 };
    weft_task *t;
    void *pid;
    (void)arg;

    ck_assert_int_eq(weft_spawn(&t, hang_task, &h), 0);
    ck_assert_int_eq(weft_to_thread(read_pid, (void *)(intptr_t)h.tag, &pid),
                     0);
    ck_assert_int_eq(kill((pid_t)(intptr_t)pid, SIGKILL), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(h.rc, -ECHILD);
    ck_assert_int_ne(call_pid(0), (pid_t)(intptr_t)pid);
    ck_assert_uint_eq(pool_stats().deaths, 1);
    return NULL;
}

START_TEST(test_killed_worker_fails_its_call)
{
    char err[4096];

    ck_assert_int_eq(pipe(pid_pipe), 0);
    ck_assert_int_eq(run_pool_quiet(2, killed_main, err, sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "died during a call of 'hangs'"));
    close(pid_pipe[0]);
    close(pid_pipe[1]);
}
END_TEST

static void *cancel_main(void *arg)
{
    weft_scope scope;
    struct hang h1 = { 2, 1 }, h2 = { 3, 1 };
    weft_task *t1, *t2;
    void *pid;
    int tag = 1;
    (void)arg;

    /* Timed out: the worker in the middle of the call is killed. A
     * deadline that passed before the call had its worker (a stalled
     * task) kills nothing: then again, with twice the time. */
    for (int64_t ms = 30; pool_stats().deaths == 0; ms *= 2) {
        ck_assert_int_eq(weft_timeout_enter(&scope, ms), 0);
        ck_assert_int_eq(weft_process_call("hangs", &tag, sizeof tag, NULL,
                                           NULL), -ETIMEDOUT);
        weft_scope_leave(&scope);
    }
    ck_assert_uint_eq(pool_stats().deaths, 1);
    /* t1 holds the only worker (a new one); t2 waits for it. */
    ck_assert_int_eq(weft_spawn(&t1, hang_task, &h1), 0);
    ck_assert_int_eq(weft_to_thread(read_pid, (void *)(intptr_t)h1.tag, &pid),
                     0);
    ck_assert_int_eq(weft_spawn(&t2, hang_task, &h2), 0);
    wait_until_waiting(t2, "semaphore");
    /* Cancelled while waiting for a worker: nothing is killed. */
    ck_assert_int_eq(weft_cancel(t2), 0);
    ck_assert_int_eq(weft_await(t2, NULL), -ECANCELED);
    ck_assert_int_eq(h2.rc, -ECANCELED);
    ck_assert_uint_eq(pool_stats().deaths, 1);
    ck_assert_uint_eq(pool_stats().busy, 1);
    /* Cancelled in the middle of its call: its worker is killed. */
    ck_assert_int_eq(weft_cancel(t1), 0);
    ck_assert_int_eq(weft_await(t1, NULL), -ECANCELED);
    ck_assert_int_eq(h1.rc, -ECANCELED);
    weft_task_unref(t1);
    weft_task_unref(t2);
    weft_process_stats st = pool_stats();
    ck_assert_uint_eq(st.deaths, 2);
    ck_assert_uint_eq(st.respawns, 1);
    ck_assert_uint_eq(st.busy, 0);
    /* And the pool still answers. */
    ck_assert_int_gt(call_pid(0), 0);
    ck_assert_uint_eq(pool_stats().respawns, 2);
    return NULL;
}

START_TEST(test_cancelled_call_kills_its_worker)
{
    ck_assert_int_eq(pipe(pid_pipe), 0);
    ck_assert_int_eq(run_pool(1, cancel_main, NULL), 0);
    close(pid_pipe[0]);
    close(pid_pipe[1]);
}
END_TEST

/* Shutdown with calls in flight: weft_run cancels them as main returns,
 * and reaps every child. */
/* Outlives main, which the task below does. */
static struct hang abandoned;

static void *abandon_main(void *arg)
{
    weft_task *t;
    void *pid;
    (void)arg;

    ck_assert_int_eq(weft_spawn(&t, hang_task, &abandoned), 0);
    ck_assert_int_eq(weft_to_thread(read_pid, (void *)(intptr_t)abandoned.tag,
                                    &pid), 0);
    weft_task_unref(t);
    return NULL; /* t is still in its call */
}

START_TEST(test_shutdown_reaps_every_child)
{
    ck_assert_int_eq(pipe(pid_pipe), 0);
    abandoned = (struct hang){ 1, 1 };
    ck_assert_int_eq(run_pool(2, abandon_main, NULL), 0);
    /* Cancelled as main returned, in the middle of its call. */
    ck_assert_int_eq(abandoned.rc, -ECANCELED);
    close(pid_pipe[0]);
    close(pid_pipe[1]);
}
END_TEST

static Suite *process_suite(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_registration);
    tcase_add_test(tc, test_calls_and_errors);
    tcase_add_test(tc, test_no_pool_without_registrations);
    tcase_add_test(tc, test_calls_share_the_workers);
    tcase_add_test(tc, test_crashed_worker_is_replaced);
    tcase_add_test(tc, test_killed_worker_fails_its_call);
    tcase_add_test(tc, test_cancelled_call_kills_its_worker);
    tcase_add_test(tc, test_shutdown_reaps_every_child);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(process_suite)
