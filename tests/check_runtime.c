/* weft_run: status, options, environment, re-entry and repeat runs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void *return_ok(void *arg)
{
    return arg;
}

static void *return_failure(void *arg)
{
    return weft_fail(WEFT_ETIMEDOUT, "main gave up");
}

START_TEST(test_run_returns_main_status)
{
    ck_assert_int_eq(run_clean(return_ok, NULL), 0);
    ck_assert_int_eq(run_clean(return_failure, NULL), WEFT_ETIMEDOUT);
}
END_TEST

START_TEST(test_run_bad_arguments)
{
    ck_assert_int_eq(weft_run(NULL, NULL, NULL, NULL), -EINVAL);
    weft_run_opts o = { .reserved = { &o } };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), -EINVAL);
    o = (weft_run_opts){ .stack_size = 1000 };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), -EINVAL);
    o = (weft_run_opts){ .stack_size = WEFT_STACK_MAX * 2 };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), -EINVAL);
    o = (weft_run_opts){ .workers = WEFT_WORKERS_MAX + 1 };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), -EINVAL);
    o = (weft_run_opts){ .workers = 3 };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), 0);
    o = (weft_run_opts){ .workers = 1, .stack_size = 128 << 10 };
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, &o), 0);
}
END_TEST

START_TEST(test_run_again_after_return)
{
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(run_clean(return_ok, NULL), 0);
}
END_TEST

static void *nested_main(void *arg)
{
    (void)arg;
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, NULL), -EBUSY);
    return NULL;
}

START_TEST(test_nested_run_is_busy)
{
    ck_assert_int_eq(run_clean(nested_main, NULL), 0);
}
END_TEST

/* A second thread calls weft_run while the first runtime is running. */
struct concurrent {
    int other_rc;
    int other_done; /* atomic */
};

static void *other_thread(void *arg)
{
    struct concurrent *c = arg;
    c->other_rc = weft_run(return_ok, NULL, NULL, NULL);
    __atomic_store_n(&c->other_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *wait_for_other_main(void *arg)
{
    struct concurrent *c = arg;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, other_thread, c), 0);
    /* Bounded: 10,000 x 1 ms. */
    for (int i = 0; i < 10000; i++) {
        if (__atomic_load_n(&c->other_done, __ATOMIC_ACQUIRE))
            break;
        weft_sleep(1);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(c->other_done, 1);
    return NULL;
}

START_TEST(test_concurrent_run_is_busy)
{
    struct concurrent c = { 0, 0 };
    ck_assert_int_eq(weft_run(wait_for_other_main, &c, NULL, NULL), 0);
    ck_assert_int_eq(c.other_rc, -EBUSY);
}
END_TEST

static void *burn_100k(void *arg)
{
    (void)arg;
    /* 100 KiB of frames would overflow the 64 KiB default. */
    use_stack_kib(100);
    weft_task *t;
    ck_assert_int_eq(weft_spawn(&t, return_ok, NULL), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    return NULL;
}

START_TEST(test_stack_size_run_option)
{
    weft_run_opts o = { .stack_size = 256 << 10 };
    ck_assert_int_eq(weft_run(burn_100k, NULL, NULL, &o), 0);
}
END_TEST

START_TEST(test_stack_size_environment)
{
    /* Check forks each test, so the environment change stays here. */
    ck_assert_int_eq(setenv("WEFT_STACK_SIZE", "256k", 1), 0);
    ck_assert_int_eq(run_clean(burn_100k, NULL), 0);
    ck_assert_int_eq(setenv("WEFT_STACK_SIZE", "1M", 1), 0);
    ck_assert_int_eq(run_clean(burn_100k, NULL), 0);
    /* The run option wins over the environment. */
    weft_run_opts o = { .stack_size = 256 << 10 };
    ck_assert_int_eq(setenv("WEFT_STACK_SIZE", "garbage", 1), 0);
    ck_assert_int_eq(weft_run(burn_100k, NULL, NULL, &o), 0);
}
END_TEST

START_TEST(test_stack_size_environment_rejects_bad_values)
{
    static const char *bad[] = { "abc", "12q", "1k", "2g", "-64k", "", " 64k",
                                 "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(setenv("WEFT_STACK_SIZE", bad[i], 1), 0);
        int rc = weft_run(return_ok, NULL, NULL, NULL);
        /* An empty value means "not set". */
        ck_assert_int_eq(rc, bad[i][0] == '\0' ? 0 : -EINVAL);
    }
}
END_TEST

START_TEST(test_stack_guard_environment)
{
    ck_assert_int_eq(setenv("WEFT_STACK_GUARD", "mprotect", 1), 0);
    ck_assert_int_eq(run_clean(return_ok, NULL), 0);
    ck_assert_int_eq(setenv("WEFT_STACK_GUARD", "bogus", 1), 0);
    ck_assert_int_eq(weft_run(return_ok, NULL, NULL, NULL), -EINVAL);
}
END_TEST

/* asyncio.run returns main's result. */
static void *return_value(void *arg)
{
    return arg;
}

START_TEST(test_run_hands_back_mains_result)
{
    void *r = NULL;
    ck_assert_int_eq(weft_run(return_value, (void *)0x1234, &r, NULL), 0);
    ck_assert_ptr_eq(r, (void *)0x1234);
    r = (void *)1;
    ck_assert_int_eq(weft_run(return_failure, NULL, &r, NULL), WEFT_ETIMEDOUT);
    ck_assert_ptr_null(r);
    r = (void *)1;
    ck_assert_int_eq(weft_run(NULL, NULL, &r, NULL), -EINVAL);
    ck_assert_ptr_null(r);
}
END_TEST

/* --- too few file descriptors -------------------------------------------- */

static void *spawn_and_await(void *arg)
{
    weft_task *t;
    int rc = weft_spawn(&t, return_ok, arg);
    if (rc < 0)
        return weft_fail(rc, "spawn");
    rc = weft_await(t, NULL);
    weft_task_unref(t);
    return rc < 0 ? weft_fail(rc, "await") : NULL;
}

static int echo_fn(const void *in, size_t len, void **out, size_t *out_len)
{
    (void)in;
    (void)len;
    *out = NULL;
    *out_len = 0;
    return 0;
}

/* Runs weft_run in a child whose RLIMIT_NOFILE is `limit`, and returns
 * what weft_run returned; a child that ended without returning from it
 * (libevent's exit(1)), or that lost descriptors, fails the test. */
static int run_with_fd_limit(rlim_t limit, unsigned workers, bool pool)
{
    int pipefd[2];
    int status, out[2] = { 0, 0 }; /* weft_run's status, fds left open */

    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO); /* libevent and weft complain */
        close(devnull);
        close(pipefd[0]);
        if (pool && weft_process_register("echo", echo_fn) < 0)
            _exit(2);
        int before = count_dir_entries("/proc/self/fd");
        struct rlimit rl, low;
        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
            _exit(3);
        low = (struct rlimit){ limit, rl.rlim_max };
        if (setrlimit(RLIMIT_NOFILE, &low) < 0)
            _exit(3);
        weft_run_opts o = { .workers = workers, .processes = 1 };
        out[0] = weft_run(spawn_and_await, NULL, NULL, &o);
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            _exit(3);
        out[1] = count_dir_entries("/proc/self/fd") - before;
        ssize_t n = write(pipefd[1], out, sizeof out);
        _exit(n == sizeof out ? 77 : 4);
    }
    close(pipefd[1]);
    ssize_t n = read(pipefd[0], out, sizeof out);
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 77 &&
                  n == sizeof out,
                  "limit %d, %u workers, pool %d: the child ended with "
                  "status %#x before weft_run returned", (int)limit, workers,
                  (int)pool, status);
    ck_assert_msg(out[1] == 0, "limit %d, %u workers, pool %d: %d "
                  "descriptors left open", (int)limit, workers, (int)pool,
                  out[1]);
    return out[0];
}

/* From a limit too low for anything up to one that suffices, weft_run
 * returns -EMFILE (or -ENFILE) or runs: it never ends the process. */
START_TEST(test_run_with_too_few_descriptors)
{
    static const unsigned workers[] = { 1, 2, 4 };
    int open_fds = count_dir_entries("/proc/self/fd");

    for (int pool = 0; pool < 2; pool++) {
        for (size_t w = 0; w < sizeof workers / sizeof workers[0]; w++) {
            int rc = -EMFILE;
            rlim_t limit = (rlim_t)open_fds;
            /* Bounded: no run needs 100 more descriptors than that. */
            for (; rc != 0 && limit < (rlim_t)open_fds + 100; limit++) {
                rc = run_with_fd_limit(limit, workers[w], pool);
                ck_assert_msg(rc == 0 || rc == -EMFILE || rc == -ENFILE,
                              "limit %d, %u workers, pool %d: %s",
                              (int)limit, workers[w], pool, weft_err_name(rc));
            }
            ck_assert_int_eq(rc, 0);
        }
    }
}
END_TEST

/* SIGPIPE's disposition while main runs. */
static void *sigpipe_handler_in_main(void *arg)
{
    struct sigaction sa;
    (void)arg;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    return (void *)sa.sa_handler;
}

START_TEST(test_run_ignores_sigpipe)
{
    void *h;
    weft_run_opts keep = { .flags = WEFT_RUN_KEEP_SIGPIPE };
    weft_run_opts bad = { .flags = 0x80 };

    ck_assert_int_eq(weft_run(sigpipe_handler_in_main, NULL, &h, NULL), 0);
    ck_assert_ptr_eq(h, (void *)SIG_IGN);
    ck_assert_int_eq(weft_run(sigpipe_handler_in_main, NULL, &h, &keep), 0);
    ck_assert_ptr_eq(h, (void *)SIG_DFL);
    ck_assert_int_eq(weft_run(sigpipe_handler_in_main, NULL, &h, &bad), -EINVAL);
    /* Given back as it was. */
    struct sigaction sa;
    ck_assert_int_eq(sigaction(SIGPIPE, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)SIG_DFL);
}
END_TEST

static Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_run_returns_main_status);
    tcase_add_test(tc, test_run_bad_arguments);
    tcase_add_test(tc, test_run_again_after_return);
    tcase_add_test(tc, test_nested_run_is_busy);
    tcase_add_test(tc, test_concurrent_run_is_busy);
    tcase_add_test(tc, test_stack_size_run_option);
    tcase_add_test(tc, test_stack_size_environment);
    tcase_add_test(tc, test_stack_size_environment_rejects_bad_values);
    tcase_add_test(tc, test_stack_guard_environment);
    tcase_add_test(tc, test_run_hands_back_mains_result);
    tcase_add_test(tc, test_run_with_too_few_descriptors);
    tcase_add_test(tc, test_run_ignores_sigpipe);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(runtime_suite)
