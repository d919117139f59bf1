/* Tasks: spawn, await, yield, failure, names, ids, references. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

/* --- spawn and await ----------------------------------------------------- */

static void *double_it(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

static void *await_result_main(void *arg)
{
    weft_task *t;
    void *r = (void *)1;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, double_it, (void *)21), 0);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(weft_task_is_done(t), 0);
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert_int_eq(weft_task_is_done(t), 1);
    /* A finished task can be awaited again, and without a result slot. */
    r = NULL;
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)42);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_ptr_null(weft_task_errmsg(t));
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_await_returns_result)
{
    /* One worker: on two, the child may finish before done is read. */
    ck_assert_int_eq(run_on(1, await_result_main, NULL), 0);
}
END_TEST

static void *fails(void *arg)
{
    weft_sleep(1);
    weft_fail(WEFT_ECONNREFUSED, "cannot reach %s:%d", (const char *)arg, 80);
    return (void *)0x1234; /* ignored: the task failed */
}

/* fails(), once told to. */
static void *fails_when_told(void *arg)
{
    if (weft_event_wait(arg, WEFT_FOREVER) < 0)
        return NULL;
    return fails("example.org");
}

static void *await_error_main(void *arg)
{
    weft_task *t;
    weft_event go;
    void *r = (void *)1;
    (void)arg;
    ck_assert_int_eq(weft_event_init(&go), 0);
    ck_assert_int_eq(weft_spawn(&t, fails_when_told, &go), 0);
    ck_assert_ptr_null(weft_task_errmsg(t)); /* not finished yet */
    ck_assert_int_eq(weft_event_set(&go), 0);
    ck_assert_int_eq(weft_await(t, &r), WEFT_ECONNREFUSED);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(weft_task_errmsg(t), "cannot reach example.org:80");
    ck_assert_int_eq(weft_await(t, &r), WEFT_ECONNREFUSED);
    weft_task_unref(t);
    ck_assert_int_eq(weft_event_destroy(&go), 0);
    return NULL;
}

START_TEST(test_await_returns_error_and_message)
{
    ck_assert_int_eq(run_clean(await_error_main, NULL), 0);
}
END_TEST

/* Several tasks await the same task; all get its result. It finishes once
 * they all wait for it. */
struct shared_await {
    weft_task *target;
    int got;
    weft_event go;
};

static void *value_when_told(void *arg)
{
    struct shared_await *s = arg;
    ck_assert_int_eq(weft_event_wait(&s->go, WEFT_FOREVER), 0);
    return (void *)7;
}

static void *awaiter(void *arg)
{
    struct shared_await *s = arg;
    void *r;
    ck_assert_int_eq(weft_await(s->target, &r), 0);
    ck_assert_ptr_eq(r, (void *)7);
    COUNT(s->got);
    return NULL;
}

static void *many_awaiters_main(void *arg)
{
    struct shared_await s = { 0 };
    weft_task *w[5];
    char on[32];
    (void)arg;
    ck_assert_int_eq(weft_event_init(&s.go), 0);
    ck_assert_int_eq(weft_spawn(&s.target, value_when_told, &s), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(weft_spawn(&w[i], awaiter, &s), 0);
    snprintf(on, sizeof on, "task %llu",
             (unsigned long long)weft_task_id(s.target));
    for (int i = 0; i < 5; i++)
        wait_until_waiting(w[i], on);
    ck_assert_int_eq(weft_event_set(&s.go), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(weft_await(w[i], NULL), 0);
        weft_task_unref(w[i]);
    }
    ck_assert_int_eq(s.got, 5);
    weft_task_unref(s.target);
    ck_assert_int_eq(weft_event_destroy(&s.go), 0);
    return NULL;
}

START_TEST(test_many_awaiters)
{
    ck_assert_int_eq(run_clean(many_awaiters_main, NULL), 0);
}
END_TEST

/* --- order of events ----------------------------------------------------- */

struct ordered {
    struct event_log *log;
    const char *name;
};

static void *log_and_yield(void *arg)
{
    struct ordered *o = arg;
    char ev[32];
    for (int i = 0; i < 3; i++) {
        snprintf(ev, sizeof ev, "%s%d", o->name, i);
        log_event(o->log, ev);
        weft_yield();
    }
    return NULL;
}

static void *order_main(void *arg)
{
    struct event_log *log = arg;
    struct ordered a = { log, "a" }, b = { log, "b" };
    weft_task *ta, *tb;

    ck_assert_int_eq(weft_spawn(&ta, log_and_yield, &a), 0);
    ck_assert_int_eq(weft_spawn(&tb, log_and_yield, &b), 0);
    /* Spawning does not run the child: it runs when we next suspend. */
    log_event(log, "spawned");
    ck_assert_int_eq(weft_await(ta, NULL), 0);
    log_event(log, "a-done");
    ck_assert_int_eq(weft_await(tb, NULL), 0);
    weft_task_unref(ta);
    weft_task_unref(tb);
    return NULL;
}

START_TEST(test_spawn_order_and_yield_interleaving)
{
    struct event_log log = { .len = 0 };
    ck_assert_int_eq(run_on(1, order_main, &log), 0);
    /* FIFO start order, then strict alternation at each yield; a's awaiter
     * resumes after a ends, while b still has a turn queued. */
    ck_assert_str_eq(log.text, "spawned a0 b0 a1 b1 a2 b2 a-done");
}
END_TEST

/* --- detached tasks and the end of weft_run ------------------------------ */

struct leftover {
    int started;    /* atomic */
    int sleep_rc;   /* what its sleep returned */
    int finished;   /* atomic */
};

static void *sleep_long(void *arg)
{
    struct leftover *l = arg;
    SET(l->started, 1);
    l->sleep_rc = weft_sleep(TEST_LONG_MS);
    SET(l->finished, 1);
    return NULL;
}

static void *leave_one_running(void *arg)
{
    struct leftover *l = arg;
    /* No handle: the task is detached. */
    ck_assert_int_eq(weft_spawn(NULL, sleep_long, l), 0);
    /* Started, and on one worker, asleep. */
    while (!READ(l->started))
        ck_assert_int_eq(weft_yield(), 0);
    return NULL;
}

START_TEST(test_run_cancels_tasks_left_running)
{
    struct leftover l = { 0, 1, 0 };
    char err[512];
    /* Like asyncio.run: main returns, the rest is cancelled, awaited, and
     * counted on stderr. The sleep's result says it was cancelled, not
     * waited out. */
    ck_assert_int_eq(run_capturing_stderr(1, leave_one_running, &l, err,
                                          sizeof err), 0);
    ck_assert_int_eq(l.finished, 1);
    ck_assert_int_eq(l.sleep_rc, -ECANCELED);
    ck_assert_ptr_nonnull(strstr(err, "1 task was still running; cancelled it"));
}
END_TEST

struct detached {
    int flag;           /* atomic */
    int sleep_rc;
    weft_event done;
};

static void *set_flag_later(void *arg)
{
    struct detached *d = arg;
    d->sleep_rc = weft_sleep(20);
    SET(d->flag, 1);
    CHECK(weft_event_set(&d->done) == 0);
    return NULL;
}

static void *unref_early_main(void *arg)
{
    struct detached *d = arg;
    weft_task *t;
    ck_assert_int_eq(weft_event_init(&d->done), 0);
    ck_assert_int_eq(weft_spawn(&t, set_flag_later, d), 0);
    /* Dropping the only handle detaches the task; it is not cancelled,
     * and goes on while main does. */
    weft_task_unref(t);
    ck_assert_int_eq(weft_event_wait(&d->done, WEFT_FOREVER), 0);
    return NULL;
}

START_TEST(test_unref_detaches)
{
    struct detached d = { 0, 1, { { 0 } } };
    ck_assert_int_eq(run_clean(unref_early_main, &d), 0);
    ck_assert_int_eq(d.flag, 1);
    ck_assert_int_eq(d.sleep_rc, 0);
    ck_assert_int_eq(weft_event_destroy(&d.done), 0);
}
END_TEST

/* --- bad arguments ------------------------------------------------------- */

static void *nothing(void *arg)
{
    return arg;
}

static void *bad_args_main(void *arg)
{
    weft_task *t = (weft_task *)&t;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, NULL, NULL), -EINVAL);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(weft_await(NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_await(weft_current(), NULL), -EDEADLK);

    weft_spawn_opts o = { .flags = 0x100 };
    t = (weft_task *)&t;
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, NULL, &o), -EINVAL);
    ck_assert_ptr_null(t);
    o = (weft_spawn_opts){ .reserved = { &o } };
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, NULL, &o), -EINVAL);
    o = (weft_spawn_opts){ .stack_size = WEFT_STACK_MIN - 1 };
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, NULL, &o), -EINVAL);
    o = (weft_spawn_opts){ .stack_size = WEFT_STACK_MAX + 1 };
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, NULL, &o), -EINVAL);
    /* NULL opts means defaults. */
    ck_assert_int_eq(weft_spawn_ex(&t, nothing, (void *)3, NULL), 0);
    void *r;
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_ptr_eq(r, (void *)3);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_bad_arguments)
{
    ck_assert_int_eq(run_clean(bad_args_main, NULL), 0);
}
END_TEST

START_TEST(test_calls_outside_a_task)
{
    weft_task *t = (weft_task *)&t;
    ck_assert_int_eq(weft_spawn(&t, nothing, NULL), -EPERM);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(weft_spawn(&t, NULL, NULL), -EINVAL);
    ck_assert_int_eq(weft_await((weft_task *)&t, NULL), -EPERM);
    ck_assert_int_eq(weft_yield(), -EPERM);
    ck_assert_ptr_null(weft_current());
    ck_assert_ptr_null(weft_fail(WEFT_EIO, "nobody to fail"));
    /* NULL handles are harmless. */
    ck_assert_ptr_null(weft_task_ref(NULL));
    weft_task_unref(NULL);
    ck_assert_ptr_null(weft_task_name(NULL));
    ck_assert_int_eq(weft_task_set_name(NULL, "x"), -EINVAL);
    ck_assert_uint_eq(weft_task_id(NULL), 0);
    ck_assert_int_eq(weft_task_is_done(NULL), -EINVAL);
    ck_assert_ptr_null(weft_task_errmsg(NULL));
}
END_TEST

/* --- weft_fail ----------------------------------------------------------- */

static void *fail_positive(void *arg)
{
    return weft_fail(5, "positive codes are a mistake");
}

static void *fail_twice(void *arg)
{
    weft_fail(WEFT_EIO, "first");
    return weft_fail(WEFT_EPIPE, "second: %d", 2);
}

static void *fail_no_message(void *arg)
{
    return weft_fail(WEFT_EBUSY, NULL);
}

static void *fail_custom_code(void *arg)
{
    return weft_fail(-100000, "an application's own code");
}

static void *fail_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, fail_positive, NULL), 0);
    ck_assert_int_eq(weft_await(t, NULL), -EINVAL);
    ck_assert_ptr_nonnull(strstr(weft_task_errmsg(t), "not < 0"));
    weft_task_unref(t);

    ck_assert_int_eq(weft_spawn(&t, fail_twice, NULL), 0);
    ck_assert_int_eq(weft_await(t, NULL), WEFT_EPIPE);
    ck_assert_str_eq(weft_task_errmsg(t), "second: 2");
    weft_task_unref(t);

    ck_assert_int_eq(weft_spawn(&t, fail_no_message, NULL), 0);
    ck_assert_int_eq(weft_await(t, NULL), WEFT_EBUSY);
    ck_assert_ptr_null(weft_task_errmsg(t));
    weft_task_unref(t);

    ck_assert_int_eq(weft_spawn(&t, fail_custom_code, NULL), 0);
    ck_assert_int_eq(weft_await(t, NULL), -100000);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_fail_variants)
{
    ck_assert_int_eq(run_clean(fail_main, NULL), 0);
}
END_TEST

/* --- names, ids, current, references ------------------------------------- */

struct identity {
    weft_task *handle;
    weft_task *seen;
};

static void *report_current(void *arg)
{
    struct identity *id = arg;
    weft_yield(); /* let the spawner store the handle */
    id->seen = weft_current();
    return NULL;
}

static void *identity_main(void *arg)
{
    struct identity id = { 0 };
    weft_task *a, *b;
    (void)arg;

    ck_assert_str_eq(weft_task_name(weft_current()), "main");

    ck_assert_int_eq(weft_spawn(&id.handle, report_current, &id), 0);
    ck_assert_int_eq(weft_await(id.handle, NULL), 0);
    ck_assert_ptr_eq(id.seen, id.handle);

    ck_assert_int_eq(weft_spawn(&a, nothing, NULL), 0);
    ck_assert_int_eq(weft_spawn_ex(&b, nothing, NULL,
                                   &(weft_spawn_opts){ .name = "worker-b" }),
                     0);
    ck_assert_uint_ne(weft_task_id(a), 0);
    ck_assert_uint_ne(weft_task_id(a), weft_task_id(b));
    ck_assert_uint_ne(weft_task_id(a), weft_task_id(weft_current()));

    char expect[32];
    snprintf(expect, sizeof expect, "task-%llu",
             (unsigned long long)weft_task_id(a));
    ck_assert_str_eq(weft_task_name(a), expect);
    ck_assert_str_eq(weft_task_name(b), "worker-b");

    ck_assert_int_eq(weft_task_set_name(a, "renamed"), 0);
    ck_assert_str_eq(weft_task_name(a), "renamed");
    ck_assert_int_eq(weft_task_set_name(a, NULL), -EINVAL);
    ck_assert_int_eq(weft_task_set_name(a, ""), -EINVAL);
    ck_assert_str_eq(weft_task_name(a), "renamed");

    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    ck_assert_int_eq(weft_task_set_name(a, longname), 0);
    ck_assert_uint_eq(strlen(weft_task_name(a)), WEFT_TASK_NAME_MAX);

    /* An extra reference keeps the task after the first unref. */
    ck_assert_ptr_eq(weft_task_ref(a), a);
    weft_task_unref(a);
    ck_assert_int_eq(weft_await(a, NULL), 0);
    ck_assert_str_eq(weft_task_name(a), longname + 100 - 1 - WEFT_TASK_NAME_MAX);
    weft_task_unref(a);
    ck_assert_int_eq(weft_await(b, NULL), 0);
    weft_task_unref(b);
    weft_task_unref(id.handle);
    return NULL;
}

START_TEST(test_identity_names_and_refs)
{
    ck_assert_int_eq(run_clean(identity_main, NULL), 0);
}
END_TEST

/* A handle outlives the runtime: results stay readable after weft_run. */
static void *keep_handle_main(void *arg)
{
    weft_task **out = arg;
    ck_assert_int_eq(weft_spawn_ex(out, fails, "kept", &(weft_spawn_opts){
                                       .name = "kept" }), 0);
    ck_assert_int_eq(weft_await(*out, NULL), WEFT_ECONNREFUSED);
    return NULL;
}

START_TEST(test_handle_outlives_runtime)
{
    weft_task *t = NULL;
    char err[1024];
    ck_assert_int_eq(run_capturing_stderr(0, keep_handle_main, &t, err,
                                          sizeof err), 0);
    /* A finished task, which stays in its registry until released, is
     * not among the tasks main left running. */
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(weft_task_is_done(t), 1);
    ck_assert_str_eq(weft_task_name(t), "kept");
    ck_assert_str_eq(weft_task_errmsg(t), "cannot reach kept:80");
    weft_task_unref(t);
}
END_TEST

/* A plain thread drops the last references to finished tasks while the
 * runtime ends: each release takes its task out of a registry that the
 * end is letting go of (the published runtime's lock orders the two), and
 * none may touch a worker that is gone. TSan checks the order. */
#define LATE_RELEASES 64

struct late_release {
    weft_task *t[LATE_RELEASES];
    struct test_thread th;
    int go; /* atomic */
};

static void *release_late(void *arg)
{
    struct late_release *lr = arg;
    while (!READ(lr->go))
        sched_yield();
    for (int i = 0; i < LATE_RELEASES; i++)
        ck_assert_int_eq(weft_task_unref(lr->t[i]), 0);
    return NULL;
}

static void *return_null(void *arg)
{
    (void)arg;
    return NULL;
}

static void *late_release_main(void *arg)
{
    struct late_release *lr = arg;
    for (int i = 0; i < LATE_RELEASES; i++) {
        ck_assert_int_eq(weft_spawn(&lr->t[i], return_null, NULL), 0);
        ck_assert_int_eq(weft_await(lr->t[i], NULL), 0);
    }
    SET(lr->go, 1); /* main returns as the thread starts releasing */
    return NULL;
}

START_TEST(test_plain_thread_releases_as_the_runtime_ends)
{
    static struct late_release lr;
    struct leak_check lc;

    leak_check_begin(&lc);
    for (int round = 0; round < 20; round++) {
        memset(&lr, 0, sizeof lr);
        test_thread_start(&lr.th, release_late, &lr);
        weft_run_opts opts = { .workers = 2 };
        ck_assert_int_eq(weft_run(late_release_main, &lr, NULL, &opts), 0);
        test_thread_join(&lr.th);
    }
    leak_check_end(&lc);
}
END_TEST

/* --- stacks -------------------------------------------------------------- */

static void *deep_task(void *arg)
{
    int kib = (int)(intptr_t)arg;
    return (void *)(intptr_t)use_stack_kib(kib);
}

static void *stack_size_main(void *arg)
{
    weft_task *t;
    void *r;
    (void)arg;
    /* The default 64 KiB stack holds 40 KiB of frames. */
    ck_assert_int_eq(weft_spawn(&t, deep_task, (void *)40), 0);
    ck_assert_int_eq(weft_await(t, &r), 0);
    weft_task_unref(t);
    /* A 1 MiB stack, asked for per task, holds 800 KiB. */
    ck_assert_int_eq(weft_spawn_ex(&t, deep_task, (void *)800,
                                   &(weft_spawn_opts){ .stack_size = 1 << 20 }),
                     0);
    ck_assert_int_eq(weft_await(t, &r), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_stack_size_per_task)
{
    ck_assert_int_eq(run_clean(stack_size_main, NULL), 0);
}
END_TEST

/* --- many tasks ---------------------------------------------------------- */

struct tree {
    long count;
};

static struct tree tree;

/* Each node spawns two children until depth 0: 2^(d+1) - 1 tasks. */
static void *tree_node(void *arg)
{
    intptr_t depth = (intptr_t)arg;
    COUNT(tree.count);
    if (depth > 0) {
        weft_task *l, *r;
        CHECK(weft_spawn(&l, tree_node, (void *)(depth - 1)) == 0);
        CHECK(weft_spawn(&r, tree_node, (void *)(depth - 1)) == 0);
        CHECK(weft_await(l, NULL) == 0);
        CHECK(weft_await(r, NULL) == 0);
        weft_task_unref(l);
        weft_task_unref(r);
    }
    return NULL;
}

START_TEST(test_spawn_tree_counts_each_task_once)
{
    /* Breadth-first start order keeps most of the tree alive at once. */
    intptr_t depth = TEST_MAX_LIVE_TASKS >= (1 << 17) ? 16 : 10;
    tree.count = 0;
    ck_assert_int_eq(run_clean(tree_node, (void *)depth), 0);
    ck_assert_int_eq(tree.count, (1L << (depth + 1)) - 1);
}
END_TEST

static Suite *task_suite(void)
{
    Suite *s = suite_create("task");
    TCase *tc = tcase_create("task");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_await_returns_result);
    tcase_add_test(tc, test_await_returns_error_and_message);
    tcase_add_test(tc, test_many_awaiters);
    tcase_add_test(tc, test_spawn_order_and_yield_interleaving);
    tcase_add_test(tc, test_run_cancels_tasks_left_running);
    tcase_add_test(tc, test_unref_detaches);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_calls_outside_a_task);
    tcase_add_test(tc, test_fail_variants);
    tcase_add_test(tc, test_identity_names_and_refs);
    tcase_add_test(tc, test_handle_outlives_runtime);
    tcase_add_test(tc, test_plain_thread_releases_as_the_runtime_ends);
    tcase_add_test(tc, test_stack_size_per_task);
    tcase_add_test(tc, test_spawn_tree_counts_each_task_once);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(task_suite)
