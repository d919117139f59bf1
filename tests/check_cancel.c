/* Cancellation, timeouts, wait_for, shields, and errors that must not
 * vanish. Several workers unless a test needs an order of events. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "testutil.h"

static void *sleep_ms(void *arg)
{
    int rc = weft_sleep((int64_t)(intptr_t)arg);
    return rc < 0 ? weft_fail(rc, "sleep: %s", weft_err_name(rc)) : (void *)1;
}

/* --- cancellation ---------------------------------------------------------- */

static void *cancel_sleeper_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, sleep_ms, (void *)(intptr_t)TEST_LONG_MS),
                     0);
    wait_until_waiting(t, "sleep");
    ck_assert_int_eq(weft_task_cancelling(t), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_task_cancelling(t), 1);
    /* Woken at once, not after a minute: the test's time-out says so. */
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    ck_assert_int_eq(weft_task_is_done(t), 1);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_cancel_wakes_a_sleeping_task)
{
    ck_assert_int_eq(run_clean(cancel_sleeper_main, NULL), 0);
}
END_TEST

/* A task that ignores -ECANCELED gets it again at every suspension, and
 * still ends cancelled. */
struct stubborn {
    int rc[5];
    weft_task *other;
};

static void *stubborn(void *arg)
{
    struct stubborn *s = arg;
    s->rc[0] = weft_sleep(TEST_LONG_MS);
    s->rc[1] = weft_yield();
    s->rc[2] = weft_sleep(1);
    s->rc[3] = weft_sleep(0);
    s->rc[4] = weft_await(s->other, NULL);
    return (void *)42; /* ignored: cancellation cannot be swallowed */
}

static void *sticky_main(void *arg)
{
    struct stubborn *s = arg;
    weft_task *t;
    ck_assert_int_eq(weft_spawn(&s->other, sleep_ms, (void *)(intptr_t)1), 0);
    ck_assert_int_eq(weft_spawn(&t, stubborn, s), 0);
    wait_until_waiting(t, "sleep"); /* cancelled before it ran, it would
                                       not run at all */
    ck_assert_int_eq(weft_cancel(t), 0);
    void *r = (void *)1;
    ck_assert_int_eq(weft_await(t, &r), -ECANCELED);
    ck_assert_ptr_null(r);
    weft_task_unref(t);
    weft_task_unref(s->other);
    return NULL;
}

START_TEST(test_cancellation_is_sticky)
{
    struct stubborn s = { { 1, 1, 1, 1, 1 }, NULL };
    ck_assert_int_eq(run_clean(sticky_main, &s), 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(s.rc[i], -ECANCELED);
}
END_TEST

static int body_ran; /* atomic */

static void *mark_ran(void *arg)
{
    SET(body_ran, 1);
    return arg;
}

static void *cancel_before_start_main(void *arg)
{
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, mark_ran, NULL), 0);
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_cancel(t), 0); /* twice: no harm */
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_cancel_before_start_never_runs_the_body)
{
    body_ran = 0;
    ck_assert_int_eq(run_on(1, cancel_before_start_main, NULL), 0);
    ck_assert_int_eq(body_ran, 0);
}
END_TEST

static void *cancel_finished_main(void *arg)
{
    weft_task *t;
    void *r;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, mark_ran, (void *)7), 0);
    ck_assert_int_eq(weft_await(t, &r), 0);
    ck_assert_int_eq(weft_cancel(t), -EALREADY);
    ck_assert_int_eq(weft_await(t, &r), 0); /* unchanged */
    ck_assert_ptr_eq(r, (void *)7);
    ck_assert_int_eq(weft_task_cancelling(t), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_cancel(NULL), -EINVAL);
    ck_assert_int_eq(weft_task_cancelling(NULL), -EINVAL);
    return NULL;
}

START_TEST(test_cancel_finished_task_changes_nothing)
{
    ck_assert_int_eq(run_clean(cancel_finished_main, NULL), 0);
}
END_TEST

/* Sleepers spread over 4 workers, all cancelled: each wakes, once. */
#define SLEEPERS 64

/* Sleeps for good, having said so on the semaphore arg. */
static void *counted_sleeper(void *arg)
{
    CHECK(weft_semaphore_release(arg) == 0);
    int rc = weft_sleep(TEST_LONG_MS);
    return rc < 0 ? weft_fail(rc, "sleep: %s", weft_err_name(rc)) : (void *)1;
}

static void *cancel_everywhere_main(void *arg)
{
    weft_task *t[SLEEPERS];
    weft_semaphore started;
    (void)arg;
    ck_assert_int_eq(weft_semaphore_init(&started, 0), 0);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < SLEEPERS; i++)
            CHECK(weft_spawn(&t[i], counted_sleeper, &started) == 0);
        /* All started: the cancels wake sleeps, not unstarted tasks. */
        for (int i = 0; i < SLEEPERS; i++)
            CHECK(weft_semaphore_acquire(&started, WEFT_FOREVER) == 0);
        for (int i = 0; i < SLEEPERS; i++)
            CHECK(weft_cancel(t[i]) == 0);
        for (int i = 0; i < SLEEPERS; i++) {
            CHECK(weft_await(t[i], NULL) == -ECANCELED);
            weft_task_unref(t[i]);
        }
    }
    ck_assert_int_eq(weft_semaphore_destroy(&started), 0);
    return NULL;
}

START_TEST(test_cancel_wakes_sleepers_on_every_worker)
{
    ck_assert_int_eq(run_on(4, cancel_everywhere_main, NULL), 0);
}
END_TEST

/* Races: a cancel arrives as the timer fires, or as the awaited task
 * ends. Whatever wins, the task resumes once and the outcome agrees with
 * what weft_cancel said. */
static void *cancel_races_main(void *arg)
{
    long *agreed = arg;
    for (int i = 0; i < 3000; i++) {
        weft_task *sleeper, *quick;
        CHECK(weft_spawn(&sleeper, sleep_ms, (void *)(intptr_t)(i % 2)) == 0);
        CHECK(weft_spawn(&quick, mark_ran, NULL) == 0);
        if (i % 3 == 0)
            weft_yield();
        int c1 = weft_cancel(sleeper);
        int c2 = weft_cancel(quick);
        int r1 = weft_await(sleeper, NULL);
        int r2 = weft_await(quick, NULL);
        /* A request that was accepted always ends the task cancelled. */
        CHECK(c1 == 0 ? r1 == -ECANCELED : (c1 == -EALREADY && r1 == 0));
        CHECK(c2 == 0 ? r2 == -ECANCELED : (c2 == -EALREADY && r2 == 0));
        weft_task_unref(sleeper);
        weft_task_unref(quick);
        (*agreed)++;
    }
    return NULL;
}

START_TEST(test_cancel_races_timer_and_completion)
{
    long agreed = 0;
    ck_assert_int_eq(run_on(4, cancel_races_main, &agreed), 0);
    ck_assert_int_eq(agreed, 3000);
}
END_TEST

/* A cancel racing an await's wake: the awaited task finishes on another
 * worker just as the awaiter is cancelled. */
static void *await_it(void *arg)
{
    return (void *)(intptr_t)weft_await(arg, NULL);
}

static void *cancel_vs_wake_main(void *arg)
{
    long *rounds = arg;
    for (int i = 0; i < 3000; i++) {
        weft_task *target, *awaiter;
        void *r;
        CHECK(weft_spawn(&target, sleep_ms, (void *)(intptr_t)(i % 2)) == 0);
        CHECK(weft_spawn(&awaiter, await_it, target) == 0);
        if (i % 2)
            weft_yield();
        int c = weft_cancel(awaiter);
        int rc = weft_await(awaiter, &r);
        CHECK(c == 0 ? rc == -ECANCELED : rc == 0);
        /* The target finished, or was cancelled by the awaiter (unless the
         * awaiter was cancelled before it started awaiting). */
        int rt = weft_await(target, NULL);
        CHECK(rt == 0 || rt == -ECANCELED);
        weft_task_unref(target);
        weft_task_unref(awaiter);
        (*rounds)++;
    }
    return NULL;
}

START_TEST(test_cancel_races_an_awaiters_wake)
{
    long rounds = 0;
    ck_assert_int_eq(run_on(4, cancel_vs_wake_main, &rounds), 0);
    ck_assert_int_eq(rounds, 3000);
}
END_TEST

/* weft_cancel from a plain thread. */
static void *cancel_from_thread(void *arg)
{
    weft_task *t = arg;
    CHECK(weft_cancel(t) == 0);
    return NULL;
}

static void *foreign_cancel_main(void *arg)
{
    weft_task *t;
    struct test_thread th;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, sleep_ms, (void *)(intptr_t)TEST_LONG_MS),
                     0);
    wait_until_waiting(t, "sleep");
    test_thread_start(&th, cancel_from_thread, t);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    test_thread_join(&th);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_cancel_from_a_plain_thread)
{
    ck_assert_int_eq(run_on(2, foreign_cancel_main, NULL), 0);
}
END_TEST

/* Cancelling a task that awaits another cancels that one too, and waits
 * for it (asyncio's await); a shielded await does neither. */
struct chain {
    weft_task *inner;
    int inner_rc;
};

static void *inner_sleeps(void *arg)
{
    struct chain *c = arg;
    c->inner_rc = weft_sleep(TEST_LONG_MS);
    return NULL;
}

static void *outer_awaits(void *arg)
{
    struct chain *c = arg;
    return (void *)(intptr_t)weft_await(c->inner, NULL);
}

static void *propagate_main(void *arg)
{
    struct chain *c = arg;
    weft_task *outer;
    ck_assert_int_eq(weft_spawn(&c->inner, inner_sleeps, c), 0);
    ck_assert_int_eq(weft_spawn(&outer, outer_awaits, c), 0);
    wait_until_waiting(c->inner, "sleep");
    wait_until_waiting(outer, "task ");
    ck_assert_int_eq(weft_cancel(outer), 0);
    ck_assert_int_eq(weft_await(outer, NULL), -ECANCELED);
    /* The inner task was cancelled and had finished before outer did. */
    ck_assert_int_eq(weft_task_is_done(c->inner), 1);
    ck_assert_int_eq(c->inner_rc, -ECANCELED);
    weft_task_unref(outer);
    weft_task_unref(c->inner);
    return NULL;
}

START_TEST(test_await_passes_cancellation_on)
{
    struct chain c = { NULL, 1 };
    ck_assert_int_eq(run_clean(propagate_main, &c), 0);
}
END_TEST

/* --- shields ---------------------------------------------------------------- */

struct shielded {
    weft_task *precious;
    int awaiter_rc;
    weft_event go;      /* lets precious finish */
};

static void *precious_work(void *arg)
{
    struct shielded *s = arg;
    if (weft_event_wait(&s->go, WEFT_FOREVER) < 0)
        return NULL;
    return (void *)99;
}

static void *awaits_shielded(void *arg)
{
    struct shielded *s = arg;
    s->awaiter_rc = weft_await_shielded(s->precious, NULL);
    return NULL;
}

static void *shield_main(void *arg)
{
    struct shielded *s = arg;
    weft_task *awaiter;
    void *r;
    ck_assert_int_eq(weft_event_init(&s->go), 0);
    ck_assert_int_eq(weft_spawn(&s->precious, precious_work, s), 0);
    ck_assert_int_eq(weft_spawn(&awaiter, awaits_shielded, s), 0);
    wait_until_waiting(awaiter, "task ");
    ck_assert_int_eq(weft_cancel(awaiter), 0);
    /* The awaiter gets -ECANCELED at once, before precious is done... */
    ck_assert_int_eq(weft_await(awaiter, NULL), -ECANCELED);
    ck_assert_int_eq(s->awaiter_rc, -ECANCELED);
    ck_assert_int_eq(weft_task_is_done(s->precious), 0);
    ck_assert_int_eq(weft_task_cancelling(s->precious), 0);
    /* ... which goes on, and its result is there for anyone else. */
    ck_assert_int_eq(weft_event_set(&s->go), 0);
    ck_assert_int_eq(weft_await(s->precious, &r), 0);
    ck_assert_ptr_eq(r, (void *)99);
    weft_task_unref(awaiter);
    weft_task_unref(s->precious);
    ck_assert_int_eq(weft_event_destroy(&s->go), 0);
    return NULL;
}

START_TEST(test_shielded_await_leaves_the_task_running)
{
    struct shielded s = { NULL, 1, { { 0 } } };
    ck_assert_int_eq(run_clean(shield_main, &s), 0);
}
END_TEST

/* A cancelled task cleans up in a shield scope: it can sleep and await
 * there, and is cancelled again after it. */
struct cleanup {
    int first, in_shield_sleep, in_shield_await, after;
    weft_task *flusher;
};

static void *needs_cleanup(void *arg)
{
    struct cleanup *c = arg;
    weft_scope shield;
    c->first = weft_sleep(TEST_LONG_MS);          /* cancelled here */
    ck_assert_int_eq(weft_shield_enter(&shield), 0);
    c->in_shield_sleep = weft_sleep(10);   /* still allowed: flushing */
    ck_assert_int_eq(weft_spawn(&c->flusher, sleep_ms, (void *)(intptr_t)5), 0);
    c->in_shield_await = weft_await(c->flusher, NULL);
    ck_assert_int_eq(weft_scope_leave(&shield), 0);
    c->after = weft_yield();               /* cancelled again */
    return NULL;
}

static void *cleanup_main(void *arg)
{
    struct cleanup *c = arg;
    weft_task *t;
    ck_assert_int_eq(weft_spawn(&t, needs_cleanup, c), 0);
    wait_until_waiting(t, "sleep");
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, NULL), -ECANCELED);
    weft_task_unref(t);
    weft_task_unref(c->flusher);
    return NULL;
}

START_TEST(test_shield_scope_lets_cleanup_await)
{
    struct cleanup c = { 1, 1, 1, 1, NULL };
    ck_assert_int_eq(run_clean(cleanup_main, &c), 0);
    ck_assert_int_eq(c.first, -ECANCELED);
    ck_assert_int_eq(c.in_shield_sleep, 0);
    ck_assert_int_eq(c.in_shield_await, 0);
    ck_assert_int_eq(c.after, -ECANCELED);
}
END_TEST

/* --- timeout scopes ----------------------------------------------------------- */

static void *timeout_main(void *arg)
{
    weft_scope s;
    (void)arg;
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_timeout_enter(&s, 50), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 50);
    /* Every later suspension inside fails too, at once. */
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_yield(), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&s), 1);
    /* Outside, all is well again. */
    ck_assert_int_eq(weft_sleep(1), 0);

    ck_assert_int_eq(weft_timeout_enter(&s, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_sleep(5), 0);
    ck_assert_int_eq(weft_scope_leave(&s), 0); /* not expired */
    return NULL;
}

START_TEST(test_timeout_scope_fails_suspensions_after_deadline)
{
    ck_assert_int_eq(run_clean(timeout_main, NULL), 0);
}
END_TEST

static void *nested_main(void *arg)
{
    weft_scope outer, inner;
    (void)arg;
    /* Inner longer than outer: the outer deadline wins. */
    ck_assert_int_eq(weft_timeout_enter(&outer, 30), 0);
    ck_assert_int_eq(weft_timeout_enter(&inner, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&inner), 0);
    ck_assert_int_eq(weft_scope_leave(&outer), 1);
    /* Inner shorter: it expires, and the outer scope goes on. */
    ck_assert_int_eq(weft_timeout_enter(&outer, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_timeout_enter(&inner, 30), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&inner), 1);
    ck_assert_int_eq(weft_sleep(5), 0);
    ck_assert_int_eq(weft_scope_leave(&outer), 0);
    /* Left out of order: refused, and nothing breaks. */
    ck_assert_int_eq(weft_timeout_enter(&outer, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_timeout_enter(&inner, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_scope_leave(&outer), -EINVAL);
    ck_assert_int_eq(weft_scope_leave(&inner), 0);
    ck_assert_int_eq(weft_scope_leave(&outer), 0);
    ck_assert_int_eq(weft_scope_leave(&outer), -EINVAL); /* not open */
    return NULL;
}

START_TEST(test_timeout_scopes_nest)
{
    ck_assert_int_eq(run_clean(nested_main, NULL), 0);
}
END_TEST

static void *reschedule_main(void *arg)
{
    weft_scope s;
    (void)arg;
    ck_assert_int_eq(weft_timeout_enter(&s, 20), 0);
    ck_assert_int_eq(weft_timeout_reschedule(&s, weft_now() + TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_sleep(40), 0); /* past the first deadline */
    ck_assert_int_eq(weft_timeout_reschedule(&s, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_sleep(1), 0);
    ck_assert_int_eq(weft_timeout_reschedule(&s, weft_now() + 10), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_timeout_reschedule(&s, -5), -EINVAL);
    ck_assert_int_eq(weft_scope_leave(&s), 1);
    ck_assert_int_eq(weft_timeout_reschedule(&s, 0), -EINVAL); /* closed */

    /* Absolute deadlines, and a shield cannot be rescheduled. */
    ck_assert_int_eq(weft_timeout_enter_at(&s, weft_now() + 10), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&s), 1);
    ck_assert_int_eq(weft_shield_enter(&s), 0);
    ck_assert_int_eq(weft_timeout_reschedule(&s, 0), -EINVAL);
    ck_assert_int_eq(weft_scope_leave(&s), 0);
    return NULL;
}

START_TEST(test_timeout_can_be_rescheduled)
{
    ck_assert_int_eq(run_clean(reschedule_main, NULL), 0);
}
END_TEST

static void *shield_in_timeout_main(void *arg)
{
    weft_scope outer, shield, inner;
    (void)arg;
    ck_assert_int_eq(weft_timeout_enter(&outer, 10), 0);
    ck_assert_int_eq(weft_shield_enter(&shield), 0);
    /* The outer deadline does not reach inside the shield... */
    ck_assert_int_eq(weft_sleep(30), 0);
    /* ... but a timeout opened inside it applies. */
    ck_assert_int_eq(weft_timeout_enter(&inner, 10), 0);
    ck_assert_int_eq(weft_sleep(TEST_LONG_MS), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&inner), 1);
    ck_assert_int_eq(weft_scope_leave(&shield), 0);
    ck_assert_int_eq(weft_yield(), -ETIMEDOUT);
    ck_assert_int_eq(weft_scope_leave(&outer), 1);
    return NULL;
}

START_TEST(test_shield_hides_enclosing_deadlines)
{
    ck_assert_int_eq(run_clean(shield_in_timeout_main, NULL), 0);
}
END_TEST

struct owned_scope {
    weft_scope scope;
    weft_event leave;   /* the owner leaves its scope once this is set */
};

static void *scope_owner_waits(void *arg)
{
    struct owned_scope *o = arg;
    ck_assert_int_eq(weft_timeout_enter(&o->scope, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_event_wait(&o->leave, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_scope_leave(&o->scope), 0);
    return NULL;
}

static void *scope_args_main(void *arg)
{
    weft_scope s;
    struct owned_scope o;
    weft_task *t;
    (void)arg;
    ck_assert_int_eq(weft_timeout_enter(NULL, 10), -EINVAL);
    ck_assert_int_eq(weft_timeout_enter(&s, -5), -EINVAL);
    ck_assert_int_eq(weft_timeout_enter_at(&s, -5), -EINVAL);
    ck_assert_int_eq(weft_shield_enter(NULL), -EINVAL);
    ck_assert_int_eq(weft_scope_leave(NULL), -EINVAL);
    ck_assert_int_eq(weft_timeout_reschedule(NULL, 0), -EINVAL);
    /* Another task's scope is not ours to move or leave. */
    ck_assert_int_eq(weft_event_init(&o.leave), 0);
    ck_assert_int_eq(weft_spawn(&t, scope_owner_waits, &o), 0);
    wait_until_waiting(t, "event"); /* inside its scope */
    ck_assert_int_eq(weft_timeout_reschedule(&o.scope, 0), -EPERM);
    ck_assert_int_eq(weft_scope_leave(&o.scope), -EPERM);
    ck_assert_int_eq(weft_event_set(&o.leave), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_event_destroy(&o.leave), 0);
    return NULL;
}

START_TEST(test_scope_bad_arguments)
{
    weft_scope s;
    ck_assert_int_eq(run_clean(scope_args_main, NULL), 0);
    ck_assert_int_eq(weft_timeout_enter(&s, 10), -EPERM);
    ck_assert_int_eq(weft_shield_enter(&s), -EPERM);
}
END_TEST

/* --- wait_for ------------------------------------------------------------------ */

static void *wait_for_main(void *arg)
{
    weft_task *quick, *slow;
    void *r;
    (void)arg;
    ck_assert_int_eq(weft_spawn(&quick, sleep_ms, (void *)(intptr_t)5), 0);
    ck_assert_int_eq(weft_wait_for(quick, &r, TEST_LONG_MS), 0);
    ck_assert_ptr_eq(r, (void *)1);

    ck_assert_int_eq(weft_spawn(&slow, sleep_ms,
                                (void *)(intptr_t)TEST_LONG_MS), 0);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_wait_for(slow, &r, 30), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 30);
    ck_assert_ptr_null(r);
    /* On expiry it cancelled the task and waited for it. */
    ck_assert_int_eq(weft_task_is_done(slow), 1);
    ck_assert_int_eq(weft_await(slow, NULL), -ECANCELED);

    ck_assert_int_eq(weft_wait_for(quick, &r, -5), -EINVAL);
    ck_assert_int_eq(weft_wait_for(NULL, &r, 10), -EINVAL);
    ck_assert_int_eq(weft_wait_for(weft_current(), &r, 10), -EDEADLK);
    weft_task_unref(quick);
    weft_task_unref(slow);
    return NULL;
}

START_TEST(test_wait_for)
{
    ck_assert_int_eq(run_clean(wait_for_main, NULL), 0);
}
END_TEST

/* Seed 003: "an async function with timeout handling": fetch with a
 * time-out, falling back when it expires. */
static void *fetch(void *arg)
{
    int rc = weft_sleep((int64_t)(intptr_t)arg);
    if (rc < 0)
        return weft_fail(rc, "fetch interrupted");
    return (void *)"page";
}

static const char *fetch_or_default(int64_t latency_ms, int64_t timeout_ms)
{
    weft_task *t;
    void *page;
    if (weft_spawn(&t, fetch, (void *)(intptr_t)latency_ms) < 0)
        return "error";
    int rc = weft_wait_for(t, &page, timeout_ms);
    weft_task_unref(t);
    return rc == 0 ? page : rc == -ETIMEDOUT ? "timed out" : "error";
}

static void *seed_timeout_main(void *arg)
{
    (void)arg;
    /* Latencies and time-outs far apart, whatever the schedule. */
    ck_assert_str_eq(fetch_or_default(5, TEST_LONG_MS), "page");
    ck_assert_str_eq(fetch_or_default(TEST_LONG_MS, 20), "timed out");
    return NULL;
}

START_TEST(test_seed_003_function_with_timeout)
{
    ck_assert_int_eq(run_clean(seed_timeout_main, NULL), 0);
}
END_TEST

/* --- errors never vanish ------------------------------------------------------- */

static void *boom(void *arg)
{
    (void)arg;
    return weft_fail(WEFT_EIO, "disk %d on fire", 3);
}

static int detached_ran; /* atomic */

static void *boom_detached(void *arg)
{
    SET(detached_ran, 1);
    return boom(arg);
}

static void *unretrieved_main(void *arg)
{
    weft_task *seen, *unseen, *cancelled;
    (void)arg;
    /* Awaited: retrieved, so not reported. */
    ck_assert_int_eq(weft_spawn_ex(&seen, boom, NULL,
                                   &(weft_spawn_opts){ .name = "seen" }), 0);
    ck_assert_int_eq(weft_await(seen, NULL), WEFT_EIO);
    weft_task_unref(seen);
    /* Cancelled: not an error to report. */
    ck_assert_int_eq(weft_spawn(&cancelled, sleep_ms,
                                (void *)(intptr_t)TEST_LONG_MS), 0);
    weft_cancel(cancelled);
    /* Failed, never awaited, released: reported. */
    ck_assert_int_eq(weft_spawn_ex(&unseen, boom, NULL,
                                   &(weft_spawn_opts){ .name = "unseen" }), 0);
    while (!weft_task_is_done(unseen) || !weft_task_is_done(cancelled))
        weft_yield();
    weft_task_unref(unseen);
    weft_task_unref(cancelled);
    /* Detached and failed: reported when it is retired. */
    SET(detached_ran, 0);
    ck_assert_int_eq(weft_spawn_ex(NULL, boom_detached, NULL,
                                   &(weft_spawn_opts){ .name = "detached" }), 0);
    /* Not returning before it ran (on one worker, to its end): weft_run
     * would cancel it unrun. */
    while (!READ(detached_ran))
        ck_assert_int_eq(weft_yield(), 0);
    return NULL;
}

START_TEST(test_unretrieved_errors_are_reported)
{
    char err[2048];
    ck_assert_int_eq(run_capturing_stderr(1, unretrieved_main, NULL, err,
                                          sizeof err), 0);
    ck_assert_ptr_nonnull(strstr(err, "task 'unseen' failed with EIO (i/o "
                                      "error): disk 3 on fire, and its error "
                                      "was never retrieved"));
    ck_assert_ptr_nonnull(strstr(err, "task 'detached' failed with EIO"));
    ck_assert_ptr_null(strstr(err, "'seen'"));
    ck_assert_ptr_null(strstr(err, "ECANCELED"));
}
END_TEST

static Suite *cancel_suite(void)
{
    Suite *s = suite_create("cancel");
    TCase *tc = tcase_create("cancel");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_cancel_wakes_a_sleeping_task);
    tcase_add_test(tc, test_cancellation_is_sticky);
    tcase_add_test(tc, test_cancel_before_start_never_runs_the_body);
    tcase_add_test(tc, test_cancel_finished_task_changes_nothing);
    tcase_add_test(tc, test_cancel_wakes_sleepers_on_every_worker);
    tcase_add_test(tc, test_cancel_races_timer_and_completion);
    tcase_add_test(tc, test_cancel_races_an_awaiters_wake);
    tcase_add_test(tc, test_cancel_from_a_plain_thread);
    tcase_add_test(tc, test_await_passes_cancellation_on);
    tcase_add_test(tc, test_shielded_await_leaves_the_task_running);
    tcase_add_test(tc, test_shield_scope_lets_cleanup_await);
    tcase_add_test(tc, test_timeout_scope_fails_suspensions_after_deadline);
    tcase_add_test(tc, test_timeout_scopes_nest);
    tcase_add_test(tc, test_timeout_can_be_rescheduled);
    tcase_add_test(tc, test_shield_hides_enclosing_deadlines);
    tcase_add_test(tc, test_scope_bad_arguments);
    tcase_add_test(tc, test_wait_for);
    tcase_add_test(tc, test_seed_003_function_with_timeout);
    tcase_add_test(tc, test_unretrieved_errors_are_reported);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(cancel_suite)
