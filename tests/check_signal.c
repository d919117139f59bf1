/* Signals: weft_signal_wait (many waiters, a signal caught with nobody
 * waiting, timeouts, cancellation, bad input, dispositions put back), and
 * SIGINT and SIGTERM cancelling main, in a forked process. */
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* A test that runs fn as main on `workers` workers. */
#define MAIN_TEST(name, workers, fn)                                          \
    START_TEST(name) { ck_assert_int_eq(run_on(workers, fn, NULL), 0); }      \
    END_TEST

static sigset_t one_signal(int signo)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return set;
}

static void *wait_for(void *arg)
{
    sigset_t set = one_signal((int)(intptr_t)arg);
    return (void *)(intptr_t)weft_signal_wait(&set, WEFT_FOREVER);
}

static int result_of(weft_task *t)
{
    void *res;
    ck_assert_int_eq(weft_await(t, &res), 0);
    weft_task_unref(t);
    return (int)(intptr_t)res;
}

/* Three tasks wait for SIGUSR2 and one for SIGHUP, on four workers: a
 * SIGUSR2 wakes the three, the SIGHUP waiter waits on for its own. */
static void *many_waiters_main(void *arg)
{
    weft_task *usr2[3], *hup;

    (void)arg;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_spawn(&usr2[i], wait_for,
                                    (void *)(intptr_t)SIGUSR2), 0);
    }
    ck_assert_int_eq(weft_spawn(&hup, wait_for, (void *)(intptr_t)SIGHUP), 0);
    for (int i = 0; i < 3; i++)
        wait_until_waiting(usr2[i], "signal");
    wait_until_waiting(hup, "signal");
    ck_assert_int_eq(raise(SIGUSR2), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(result_of(usr2[i]), SIGUSR2);
    ck_assert_int_eq(weft_task_result(hup, NULL), -EINPROGRESS);
    ck_assert_int_eq(raise(SIGHUP), 0);
    ck_assert_int_eq(result_of(hup), SIGHUP);
    return NULL;
}

MAIN_TEST(test_many_waiters, 4, many_waiters_main)

/* A signal caught while nobody waits for it is kept for the next wait;
 * a wait for several signals returns the one that came. */
static void *pending_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR2);
    sigset_t two = one_signal(SIGWINCH);

    (void)arg;
    /* The first wait installs the handler; nothing came yet. */
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(weft_signal_wait(&set, 10000), SIGUSR2);
    sigaddset(&two, SIGUSR2);
    ck_assert_int_eq(weft_signal_wait(&two, 0), -ETIMEDOUT);
    ck_assert_int_eq(raise(SIGWINCH), 0);
    ck_assert_int_eq(weft_signal_wait(&two, 10000), SIGWINCH);
    return NULL;
}

MAIN_TEST(test_pending, 2, pending_main)

static void *timeout_cancel_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR2);
    weft_task *t;
    void *res;

    (void)arg;
    int64_t t0 = weft_now();
    ck_assert_int_eq(weft_signal_wait(&set, 30), -ETIMEDOUT);
    ck_assert_int_ge(weft_now() - t0, 30);
    ck_assert_int_eq(weft_spawn(&t, wait_for, (void *)(intptr_t)SIGUSR2), 0);
    wait_until_waiting(t, "signal");
    ck_assert_int_eq(weft_cancel(t), 0);
    ck_assert_int_eq(weft_await(t, &res), -ECANCELED);
    weft_task_unref(t);
    /* A scope's deadline ends the wait too. */
    int rc;
    WEFT_WITH_TIMEOUT(20, rc) {
        rc = weft_signal_wait(&set, WEFT_FOREVER);
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);
    return NULL;
}

MAIN_TEST(test_timeout_and_cancel, 2, timeout_cancel_main)

static void *bad_args_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR2), empty;

    (void)arg;
    sigemptyset(&empty);
    ck_assert_int_eq(weft_signal_wait(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_signal_wait(&empty, 0), -EINVAL);
    ck_assert_int_eq(weft_signal_wait(&set, -5), -EINVAL);
    const int refused[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        sigset_t bad = one_signal(refused[i]);
        sigaddset(&bad, SIGUSR2);
        ck_assert_int_eq(weft_signal_wait(&bad, 0), -EINVAL);
    }
    return NULL;
}

static void *debug_usr1_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR1);

    (void)arg;
    ck_assert_int_eq(weft_signal_wait(&set, 0), -EBUSY);
    return NULL;
}

START_TEST(test_bad_args)
{
    sigset_t set = one_signal(SIGUSR2);
    weft_run_opts bad = { .flags = 0x8 };
    weft_run_opts debug = { .workers = 1, .debug = 1 };

    ck_assert_int_eq(weft_signal_wait(&set, 0), -EPERM); /* not in a task */
    ck_assert_int_eq(weft_run(bad_args_main, NULL, NULL, &bad), -EINVAL);
    ck_assert_int_eq(run_on(1, bad_args_main, NULL), 0);
    ck_assert_int_eq(weft_run(debug_usr1_main, NULL, NULL, &debug), 0);
}
END_TEST

/* After weft_run, every disposition it changed is back. */
static void *install_main(void *arg)
{
    struct sigaction sa;
    sigset_t set = one_signal(SIGUSR2);

    (void)arg;
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert_ptr_ne((void *)sa.sa_handler, (void *)SIG_DFL);
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    ck_assert_int_eq(sigaction(SIGUSR2, NULL, &sa), 0);
    ck_assert_ptr_ne((void *)sa.sa_handler, (void *)SIG_DFL);
    return NULL;
}

START_TEST(test_dispositions_restored)
{
    struct sigaction sa, int_before, usr2_before;

    /* Check's runner may have its own SIGINT handler: whatever was there
     * comes back. */
    ck_assert_int_eq(sigaction(SIGINT, NULL, &int_before), 0);
    ck_assert_int_eq(sigaction(SIGUSR2, NULL, &usr2_before), 0);
    ck_assert_int_eq(run_on(2, install_main, NULL), 0);
    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)int_before.sa_handler);
    ck_assert_int_eq(sigaction(SIGUSR2, NULL, &sa), 0);
    ck_assert_ptr_eq((void *)sa.sa_handler, (void *)usr2_before.sa_handler);
}
END_TEST

/* --- SIGINT and SIGTERM cancel main, in a child process ------------------ */

/* The child's main: says 'r' on fd once it runs ('d' if SIGINT has its
 * default action), then sleeps, and says 'x' if the sleep was cancelled.
 * With `stubborn`, it takes each cancellation back, says 'c', and sleeps
 * on. */
struct child_args {
    int fd;
    int stubborn;
};

static void say(int fd, char c)
{
    ck_assert_int_eq(write(fd, &c, 1), 1);
}

static void *child_main(void *arg)
{
    struct child_args *a = arg;
    struct sigaction sa;

    ck_assert_int_eq(sigaction(SIGINT, NULL, &sa), 0);
    say(a->fd, sa.sa_handler == SIG_DFL ? 'd' : 'r');
    for (;;) {
        int rc = weft_sleep(20000);
        if (rc != -ECANCELED || !a->stubborn) {
            /* 'x': cut short; 'y': it ran to its end; 'z': it failed */
            say(a->fd, rc == -ECANCELED ? 'x' : rc == 0 ? 'y' : 'z');
            return NULL;
        }
        weft_task_uncancel(weft_current());
        say(a->fd, 'c');
    }
}

/* Forks a child that runs child_main under opts, and returns its pipe's
 * read end; *pid gets the child. The child exits 3 if weft_run returned
 * -EINTR, 4 otherwise. */
static int start_child(pid_t *pid, unsigned flags, int stubborn)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    *pid = fork();
    ck_assert_int_ge(*pid, 0);
    if (*pid == 0) {
        /* Check's runner handles both in the test process: not here. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        close(p[0]);
        alarm(30); /* a child nobody signals ends anyway */
        struct child_args a = { .fd = p[1], .stubborn = stubborn };
        weft_run_opts o = { .workers = 2, .flags = flags };
        int rc = weft_run(child_main, &a, NULL, &o);
        _exit(rc == -EINTR ? 3 : 4);
    }
    close(p[1]);
    return p[0];
}

/* Sends sig to the child's main thread (worker 0), as Ctrl-C does to the
 * process: under ThreadSanitizer a process-directed signal may land on
 * the sanitizer's own thread, which never gets to run the handler. */
static int signal_child(pid_t pid, int sig)
{
    return (int)syscall(SYS_tgkill, pid, pid, sig);
}

static char hear(int fd)
{
    char c = 0;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    return c;
}

/* Reaps pid, which must have exited with `code` (>= 0) or died of
 * signal -code, and closes its pipe fd. */
static void expect_end(pid_t pid, int fd, int code)
{
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    if (code >= 0) {
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), code);
    } else {
        ck_assert(WIFSIGNALED(status));
        ck_assert_int_eq(WTERMSIG(status), -code);
    }
    close(fd);
}

START_TEST(test_sigint_cancels_main)
{
    pid_t pid;
    int fd = start_child(&pid, 0, 0);

    ck_assert_int_eq(hear(fd), 'r');
    ck_assert_int_eq(signal_child(pid, SIGINT), 0);
    ck_assert_int_eq(hear(fd), 'x');
    expect_end(pid, fd, 3);
}
END_TEST

START_TEST(test_second_sigint_ends_the_process)
{
    pid_t pid;
    int fd = start_child(&pid, 0, 1);

    ck_assert_int_eq(hear(fd), 'r');
    ck_assert_int_eq(signal_child(pid, SIGINT), 0);
    ck_assert_int_eq(hear(fd), 'c'); /* main took it back and goes on */
    ck_assert_int_eq(signal_child(pid, SIGINT), 0);
    expect_end(pid, fd, -SIGINT);
}
END_TEST

START_TEST(test_sigint_left_alone)
{
    pid_t pid;
    int fd = start_child(&pid, WEFT_RUN_NO_SIGINT, 0);

    ck_assert_int_eq(hear(fd), 'd'); /* SIGINT kept its default */
    ck_assert_int_eq(signal_child(pid, SIGINT), 0);
    expect_end(pid, fd, -SIGINT);
}
END_TEST

START_TEST(test_sigterm_cancels_main)
{
    pid_t pid;
    int fd = start_child(&pid, WEFT_RUN_SIGTERM, 0);

    ck_assert_int_eq(hear(fd), 'r');
    ck_assert_int_eq(signal_child(pid, SIGTERM), 0);
    ck_assert_int_eq(hear(fd), 'x');
    expect_end(pid, fd, 3);
}
END_TEST

/* A task that waits for SIGINT takes it over: main is not cancelled. */
static void *sigint_waiter_main(void *arg)
{
    sigset_t set = one_signal(SIGINT);

    (void)arg;
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    ck_assert_int_eq(raise(SIGINT), 0);
    ck_assert_int_eq(weft_signal_wait(&set, 10000), SIGINT);
    ck_assert_int_eq(weft_task_cancelling(weft_current()), 0);
    return NULL;
}

MAIN_TEST(test_waiting_for_sigint_takes_it_over, 2, sigint_waiter_main)

/* A program that ignores SIGINT keeps ignoring it under weft_run. */
static void *ignoring_main(void *arg)
{
    int fd = *(int *)arg;
    sigset_t set = one_signal(SIGUSR2);

    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT); /* installs */
    say(fd, 'r');
    /* The parent sends SIGINT, then SIGUSR2. */
    ck_assert_int_eq(weft_signal_wait(&set, 20000), SIGUSR2);
    say(fd, weft_task_cancelling(weft_current()) ? 'x' : 'u');
    return NULL;
}

START_TEST(test_ignored_sigint_stays_ignored)
{
    int p[2];
    pid_t pid;

    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        signal(SIGINT, SIG_IGN);
        close(p[0]);
        alarm(30);
        weft_run_opts o = { .workers = 2 };
        _exit(weft_run(ignoring_main, &p[1], NULL, &o) == 0 ? 5 : 6);
    }
    close(p[1]);
    ck_assert_int_eq(hear(p[0]), 'r');
    ck_assert_int_eq(signal_child(pid, SIGINT), 0);
    ck_assert_int_eq(signal_child(pid, SIGINT), 0); /* not a second Ctrl-C either */
    ck_assert_int_eq(signal_child(pid, SIGUSR2), 0);
    ck_assert_int_eq(hear(p[0]), 'u');
    expect_end(pid, p[0], 5);
}
END_TEST

/* A look without waiting sees a signal caught a moment before. */
static void *look_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR2);

    (void)arg;
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    ck_assert_int_eq(raise(SIGUSR2), 0);
    ck_assert_int_eq(weft_signal_wait(&set, 0), SIGUSR2);
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    return NULL;
}

MAIN_TEST(test_look_sees_a_caught_signal, 2, look_main)

/* The handler runs on the worker's alternate stack, not on the task's:
 * a task deep in a small stack takes signals without overflowing. */
#define SMALL_STACK (16 * 1024)
#define DEPTH_KIB 10

static volatile unsigned sink;

static void deep(int kib)
{
    volatile char buf[1024];

    memset((char *)buf, kib, sizeof buf);
    if (kib > 1)
        deep(kib - 1);
    else
        for (int i = 0; i < 50; i++)
            ck_assert_int_eq(raise(SIGUSR2), 0);
    sink += buf[3];
}

static void *deep_main(void *arg)
{
    sigset_t set = one_signal(SIGUSR2);

    (void)arg;
    ck_assert_int_eq(weft_signal_wait(&set, 0), -ETIMEDOUT);
    deep(DEPTH_KIB);
    ck_assert_int_eq(weft_signal_wait(&set, 0), SIGUSR2);
    return NULL;
}

START_TEST(test_handler_off_the_task_stack)
{
#if defined(TEST_UNDER_ASAN) || defined(TEST_UNDER_TSAN)
    /* The sanitizers' frames would not fit the small stack anyway. */
    return;
#endif
    weft_run_opts o = { .workers = 1, .stack_size = SMALL_STACK };
    ck_assert_int_eq(weft_run(deep_main, NULL, NULL, &o), 0);
}
END_TEST

/* A waiter on an idle worker gets its signal while worker 0 (main's) is
 * busy: the handler wakes every worker. */
static int busy_done;

static void *busy_waiter(void *arg)
{
    sigset_t set = one_signal(SIGUSR2);

    (void)arg;
    /* Installs the handler, then waits. */
    int rc = weft_signal_wait(&set, WEFT_FOREVER);
    __atomic_store_n(&busy_done, 1, __ATOMIC_RELEASE);
    return (void *)(intptr_t)rc;
}

static void *busy_main(void *arg)
{
    weft_task *t;

    (void)arg;
    __atomic_store_n(&busy_done, 0, __ATOMIC_RELAXED);
    ck_assert_int_eq(weft_spawn(&t, busy_waiter, NULL), 0);
    /* main never suspends from here on: worker 1 takes the waiter, and
     * worker 0 stays busy in this loop until the waiter has its signal. */
    int64_t end = weft_now() + 20000;
    while (!task_is_waiting(t, "signal"))
        ck_assert_int_lt(weft_now(), end);
    ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
    while (!__atomic_load_n(&busy_done, __ATOMIC_ACQUIRE))
        ck_assert_int_lt(weft_now(), end);
    ck_assert_int_eq(result_of(t), SIGUSR2);
    return NULL;
}

MAIN_TEST(test_waiter_woken_while_worker_0_is_busy, 2, busy_main)

static Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_many_waiters);
    tcase_add_test(tc, test_pending);
    tcase_add_test(tc, test_timeout_and_cancel);
    tcase_add_test(tc, test_bad_args);
    tcase_add_test(tc, test_dispositions_restored);
    tcase_add_test(tc, test_sigint_cancels_main);
    tcase_add_test(tc, test_second_sigint_ends_the_process);
    tcase_add_test(tc, test_sigint_left_alone);
    tcase_add_test(tc, test_sigterm_cancels_main);
    tcase_add_test(tc, test_waiting_for_sigint_takes_it_over);
    tcase_add_test(tc, test_ignored_sigint_stays_ignored);
    tcase_add_test(tc, test_look_sees_a_caught_signal);
    tcase_add_test(tc, test_handler_off_the_task_stack);
    tcase_add_test(tc, test_waiter_woken_while_worker_0_is_busy);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(signal_suite)
