/* A task that overflows its stack is reported by name, then aborts; other
 * crashes are left to the previous SIGSEGV handler. Each case runs weft in
 * a child process whose stderr the test reads. */
#include <alloca.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Spawns fn and awaits it (a task left running when main returns would
 * be cancelled before it could crash). */
static void *spawn_and_await(weft_fn fn, const char *name)
{
    weft_task *t;
    weft_spawn_ex(&t, fn, NULL, &(weft_spawn_opts){ .name = name });
    weft_await(t, NULL);
    return NULL;
}

/* Runs off the end of the stack on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static __attribute__((noinline)) int recurse(int n)
{
    volatile char frame[256];
    frame[0] = (char)n;
    return recurse(n + 1) + frame[0]; /* not a tail call */
}
#pragma GCC diagnostic pop

static void *overflow(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)recurse(0);
}

static void *named_overflow_main(void *arg)
{
    (void)arg;
    return spawn_and_await(overflow, "deep");
}

START_TEST(test_overflow_names_the_task_and_aborts)
{
    struct outcome o;
    run_in_child(named_overflow_main, NULL, &o);
    ck_assert_int_eq(o.signal, SIGABRT);
    ck_assert_msg(strstr(o.err, "weft: stack overflow in task 'deep'\n") != NULL,
                  "stderr was: %s", o.err);
}
END_TEST

static void *unnamed_overflow_main(void *arg)
{
    (void)arg;
    return spawn_and_await(overflow, NULL);
}

START_TEST(test_overflow_of_unnamed_task_gives_its_id)
{
    struct outcome o;
    run_in_child(unnamed_overflow_main, NULL, &o);
    ck_assert_int_eq(o.signal, SIGABRT);
    ck_assert_msg(strstr(o.err, "weft: stack overflow in task 'task-") != NULL,
                  "stderr was: %s", o.err);
}
END_TEST

/* One frame larger than the guard page: -fstack-clash-protection probes
 * each page on the way down, so it still faults in the guard. */
static __attribute__((noinline)) int big_frame(size_t n)
{
    /* Opaque size, both ends used: the compiler cannot shrink it. */
    volatile size_t size = n;
    volatile char *p = alloca(size);
    p[0] = 1;
    p[size - 1] = 1;
    return p[0] + p[size - 1];
}

static void *huge_frame_task(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)big_frame(200 << 10);
}

static void *huge_frame_main(void *arg)
{
    (void)arg;
    return spawn_and_await(huge_frame_task, "alloca");
}

START_TEST(test_frame_larger_than_guard_is_caught)
{
    struct outcome o;
    run_in_child(huge_frame_main, NULL, &o);
    ck_assert_int_eq(o.signal, SIGABRT);
    ck_assert_msg(strstr(o.err, "stack overflow in task 'alloca'") != NULL,
                  "stderr was: %s", o.err);
}
END_TEST

static void *null_deref(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)*(volatile int *)(uintptr_t)arg;
}

static void *null_deref_main(void *arg)
{
    (void)arg;
    return spawn_and_await(null_deref, NULL);
}

START_TEST(test_other_faults_are_not_called_overflows)
{
    struct outcome o;
    run_in_child(null_deref_main, NULL, &o);
    ck_assert_ptr_null(strstr(o.err, "stack overflow"));
#if defined(TEST_UNDER_ASAN) || defined(TEST_UNDER_TSAN)
    /* The sanitizer's own handler reports it and exits non-zero. */
    ck_assert(o.signal == SIGSEGV || o.exit_code > 0);
#else
    /* The default action: death by SIGSEGV where it happened. */
    ck_assert_int_eq(o.signal, SIGSEGV);
#endif
}
END_TEST

static void *fine(void *arg)
{
    (void)arg;
    return NULL;
}

START_TEST(test_previous_handler_is_restored)
{
    struct sigaction before, after;
    sigaction(SIGSEGV, NULL, &before);
    ck_assert_int_eq(weft_run(fine, NULL, NULL, NULL), 0);
    sigaction(SIGSEGV, NULL, &after);
    ck_assert_ptr_eq((void *)before.sa_handler, (void *)after.sa_handler);
    stack_t ss;
    sigaltstack(NULL, &ss);
    ck_assert_int_ne(ss.ss_flags & SS_ONSTACK, SS_ONSTACK);
}
END_TEST

static Suite *overflow_suite(void)
{
    Suite *s = suite_create("overflow");
    TCase *tc = tcase_create("overflow");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_overflow_names_the_task_and_aborts);
    tcase_add_test(tc, test_overflow_of_unnamed_task_gives_its_id);
    tcase_add_test(tc, test_frame_larger_than_guard_is_caught);
    tcase_add_test(tc, test_other_faults_are_not_called_overflows);
    tcase_add_test(tc, test_previous_handler_is_restored);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(overflow_suite)
