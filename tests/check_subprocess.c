/* Child processes: exit codes and signals, pipes as streams, communicate
 * with 16 MiB each way, redirections (/dev/null, a given descriptor,
 * stderr into stdout), environment and directory, programs that are
 * missing or not executable, descriptors and signals the child must not
 * inherit, running out of descriptors, waits cancelled or cut short by
 * a close, terminate's grace, 200 children at once on 4 workers, and
 * 1,000 in a row leaving no zombie and no descriptor behind. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#if defined(TEST_UNDER_ASAN) || defined(TEST_UNDER_TSAN)
#define SANITIZED 1
#endif

#define SH(script) ((char *[]){ "/bin/sh", "-c", (char *)(script), NULL })
#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

/* 1 if a child of this process has ended and waits to be reaped. */
static int zombie_children(void)
{
    siginfo_t si;

    memset(&si, 0, sizeof si);
    if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
        return 0; /* ECHILD: no children at all */
    return si.si_pid != 0;
}

/* 1 once pid is no longer a child of this process: it was reaped. */
static int is_reaped(pid_t pid)
{
    siginfo_t si;

    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 &&
           errno == ECHILD;
}

/* Starts and reaps children until orphan, a child closed before it was
 * reaped, has ended and been reaped by one of their calls. */
static void sweep_until_reaped(pid_t orphan)
{
    while (!is_reaped(orphan)) {
        weft_subprocess *p;
        ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), NULL), 0);
        ck_assert_int_eq(weft_subprocess_wait(p, NULL, WEFT_FOREVER), 0);
        ck_assert_int_eq(weft_subprocess_close(p), 0);
        ck_assert_int_eq(weft_yield(), 0);
    }
}

/* Starts argv with stdout as a pipe; everything else inherited. */
static weft_subprocess *start_out(char *const argv[])
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdout_mode = WEFT_STDIO_PIPE };

    ck_assert_int_eq(weft_subprocess_exec(&p, argv, &o), 0);
    return p;
}

/* Runs argv to its end with communicate; returns its status, and its
 * stdout in *out (free with weft_free) unless out is NULL. */
static int run_capture(char *const argv[], const weft_subprocess_opts *opts,
                       char **out)
{
    weft_subprocess *p;
    void *buf;
    size_t len;
    int status = -1000;

    ck_assert_int_eq(weft_subprocess_exec(&p, argv, opts), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, &buf, &len, NULL,
                                                 NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    if (out != NULL)
        *out = buf;
    else
        weft_free(buf);
    return status;
}

/* --- exit codes, signals, reading -------------------------------------- */

static void *basics_main(void *arg)
{
    weft_subprocess *p;
    char line[64];
    int status = -1000;

    (void)arg;
    /* echo, found in PATH. */
    p = start_out(ARGV("echo", "hello"));
    ck_assert_int_gt(weft_subprocess_pid(p), 0);
    ck_assert_ptr_null(weft_subprocess_stdin(p));
    ck_assert_ptr_null(weft_subprocess_stderr(p));
    weft_stream *out = weft_subprocess_stdout(p);
    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(weft_stream_read_line(out, line, sizeof line,
                                           WEFT_FOREVER), 6);
    ck_assert(memcmp(line, "hello\n", 6) == 0);
    ck_assert_int_eq(weft_stream_read(out, line, sizeof line, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, 0);
    /* Every later wait gives the same, at once. */
    status = -1000;
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert_int_eq(status, 0);
    /* A reaped child is not signalled. */
    ck_assert_int_eq(weft_subprocess_signal(p, SIGKILL), 0);
    ck_assert_int_eq(weft_subprocess_terminate(p, 0), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* An exit code. */
    ck_assert_int_eq(run_capture(SH("exit 3"), NULL, NULL), 3);
    ck_assert_int_eq(run_capture(SH("exit 255"), NULL, NULL), 255);

    /* Killed by a signal: minus its number, as asyncio's returncode. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), NULL), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 20), -ETIMEDOUT);
    ck_assert_int_eq(weft_subprocess_signal(p, 0), 0);
    ck_assert_int_eq(weft_subprocess_signal(p, SIGKILL), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, -SIGKILL);
    ck_assert_int_eq(weft_subprocess_wait(p, NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

START_TEST(test_basics)
{
    ck_assert_int_eq(run_on(2, basics_main, NULL), 0);
}
END_TEST

/* A child killed while a task reads its output: the read gives the end,
 * the wait -SIGKILL. */
static void *kill_reader(void *arg)
{
    char buf[64];
    return (void *)(intptr_t)weft_stream_read(arg, buf, sizeof buf,
                                              WEFT_FOREVER);
}

static void *killed_during_read_main(void *arg)
{
    weft_subprocess *p = start_out(SH("echo start; exec sleep 100"));
    weft_task *t;
    char line[16];
    void *res;
    int status;

    (void)arg;
    weft_stream *out = weft_subprocess_stdout(p);
    ck_assert_int_eq(weft_stream_read_line(out, line, sizeof line,
                                           WEFT_FOREVER), 6);
    ck_assert_int_eq(weft_spawn(&t, kill_reader, out), 0);
    wait_until_waiting(t, "fd");
    ck_assert_int_eq(weft_subprocess_signal(p, SIGKILL), 0);
    ck_assert_int_eq(weft_await(t, &res), 0);
    ck_assert_int_eq((intptr_t)res, 0);
    weft_task_unref(t);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, -SIGKILL);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_killed_during_read)
{
    ck_assert_int_eq(run_on(4, killed_during_read_main, NULL), 0);
}
END_TEST

/* --- communicate ---------------------------------------------------------- */

#define BIG (16u << 20)

static void *communicate_big_main(void *arg)
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE,
                               .stdout_mode = WEFT_STDIO_PIPE,
                               .stderr_mode = WEFT_STDIO_PIPE };
    unsigned char *in = malloc(BIG);
    void *out, *err;
    size_t out_len, err_len;
    int status;

    (void)arg;
    ck_assert_ptr_nonnull(in);
    for (size_t i = 0; i < BIG; i++)
        in[i] = (unsigned char)(i * 7 + (i >> 13));
    /* cat echoes it all while it is still being written: neither side
     * may wait for the other to finish. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("cat"), &o), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, in, BIG, &out, &out_len,
                                                 &err, &err_len,
                                                 WEFT_FOREVER), 0);
    ck_assert_uint_eq(out_len, BIG);
    ck_assert(memcmp(out, in, BIG) == 0);
    ck_assert_uint_eq(err_len, 0);
    ck_assert_ptr_nonnull(err);
    weft_free(out);
    weft_free(err);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* 16 MiB on stdout and on stderr at once, from 16 MiB of input: the
     * child writes both while it reads. */
    ck_assert_int_eq(weft_subprocess_exec(&p, SH("tee /dev/stderr"), &o), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, in, BIG, &out, &out_len,
                                                 &err, &err_len,
                                                 WEFT_FOREVER), 0);
    ck_assert_uint_eq(out_len, BIG);
    ck_assert_uint_eq(err_len, BIG);
    ck_assert(memcmp(out, in, BIG) == 0 && memcmp(err, in, BIG) == 0);
    weft_free(out);
    weft_free(err);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    free(in);
    return NULL;
}

START_TEST(test_communicate_16mib)
{
    ck_assert_int_eq(run_on(4, communicate_big_main, NULL), 0);
}
END_TEST

static void *communicate_misc_main(void *arg)
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE,
                               .stdout_mode = WEFT_STDIO_PIPE };
    static char in[1 << 20];
    void *out;
    size_t out_len;
    int status;

    (void)arg;
    /* A child that closes its stdin without reading: not an error. */
    ck_assert_int_eq(weft_subprocess_exec(&p, SH("exec 0<&-; echo done"), &o), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, in, sizeof in, &out,
                                                 &out_len, NULL, NULL,
                                                 WEFT_FOREVER), 0);
    ck_assert_uint_eq(out_len, 5);
    ck_assert_str_eq(out, "done\n");
    weft_free(out);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* A time limit: the child runs on, and can be waited for. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), &o), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, &out, &out_len,
                                                 NULL, NULL, 0), -ETIMEDOUT);
    ck_assert_ptr_null(out);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, NULL, NULL, NULL,
                                                 NULL, 30), -ETIMEDOUT);
    ck_assert_int_ge(mono_ms() - t0, 30);
    ck_assert_int_eq(weft_subprocess_signal(p, SIGKILL), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, -SIGKILL);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* Output that is not a pipe: NULL, 0. */
    weft_subprocess_opts none = { .stdout_mode = WEFT_STDIO_DEVNULL };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &none), 0);
    out = (void *)1;
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, &out, &out_len,
                                                 NULL, NULL, WEFT_FOREVER), 0);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(out_len, 0);
    /* Input for a child whose stdin is not a pipe. */
    ck_assert_int_eq(weft_subprocess_communicate(p, "x", 1, NULL, NULL, NULL,
                                                 NULL, WEFT_FOREVER), -EINVAL);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_communicate_misc)
{
    ck_assert_int_eq(run_on(2, communicate_misc_main, NULL), 0);
}
END_TEST

/* --- redirections, environment, directory -------------------------------- */

static void *redirect_main(void *arg)
{
    char *out;
    int fds[2];

    (void)arg;
    /* stderr into stdout. */
    weft_subprocess_opts merged = { .stdout_mode = WEFT_STDIO_PIPE,
                                    .stderr_mode = WEFT_STDIO_STDOUT };
    ck_assert_int_eq(run_capture(SH("echo out; echo err >&2"), &merged, &out), 0);
    ck_assert_str_eq(out, "out\nerr\n");
    weft_free(out);

    /* /dev/null: stdin reads nothing, stderr swallows. */
    weft_subprocess_opts null = { .stdin_mode = WEFT_STDIO_DEVNULL,
                                  .stdout_mode = WEFT_STDIO_PIPE,
                                  .stderr_mode = WEFT_STDIO_DEVNULL };
    ck_assert_int_eq(run_capture(SH("cat; echo gone >&2; echo end"), &null,
                                 &out), 0);
    ck_assert_str_eq(out, "end\n");
    weft_free(out);

    /* A descriptor of the caller's, which stays open in the caller. */
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
    weft_subprocess_opts given = { .stdout_mode = WEFT_STDIO_FD,
                                   .stdout_fd = fds[1],
                                   .stderr_mode = WEFT_STDIO_FD,
                                   .stderr_fd = fds[1] };
    ck_assert_int_eq(run_capture(SH("echo given; echo two >&2"), &given, &out), 0);
    ck_assert_ptr_null(out);
    ck_assert_int_ge(fcntl(fds[1], F_GETFD), 0);
    close(fds[1]);
    char buf[32] = { 0 };
    ssize_t n = 0, got;
    while ((got = read(fds[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0)
        n += got;
    ck_assert_str_eq(buf, "given\ntwo\n");
    close(fds[0]);

    /* Given descriptors below 3 that are not their own number: stdout
     * to the caller's 0 and stdin from its 1 would overwrite each other
     * if copied in order. Here 0 and 1 are made pipes' ends. */
    int in_pipe[2], out_pipe[2];
    int save0 = dup(0), save1 = dup(1);
    ck_assert_int_eq(pipe2(in_pipe, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(out_pipe, O_CLOEXEC), 0);
    ck_assert_int_eq(dup2(out_pipe[1], 0), 0);  /* 0: where the child writes */
    ck_assert_int_eq(dup2(in_pipe[0], 1), 1);   /* 1: what the child reads */
    ck_assert_int_eq(write(in_pipe[1], "swap\n", 5), 5);
    close(in_pipe[1]);
    weft_subprocess_opts swapped = { .stdin_mode = WEFT_STDIO_FD,
                                     .stdin_fd = 1,
                                     .stdout_mode = WEFT_STDIO_FD,
                                     .stdout_fd = 0,
                                     .stderr_mode = WEFT_STDIO_DEVNULL };
    weft_subprocess *p;
    int status;
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("cat"), &swapped), 0);
    dup2(save0, 0);
    dup2(save1, 1);
    close(save0);
    close(save1);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    close(out_pipe[1]);
    close(in_pipe[0]);
    memset(buf, 0, sizeof buf);
    n = 0;
    while ((got = read(out_pipe[0], buf + n, sizeof buf - 1 - (size_t)n)) > 0)
        n += got;
    ck_assert_str_eq(buf, "swap\n");
    close(out_pipe[0]);
    return NULL;
}

START_TEST(test_redirections)
{
    ck_assert_int_eq(run_on(2, redirect_main, NULL), 0);
}
END_TEST

static void *env_cwd_main(void *arg)
{
    char *out;
    char *env[] = { "WEFT_TEST_VAR=bar baz", "PATH=/usr/bin:/bin", NULL };

    (void)arg;
    weft_subprocess_opts o = { .envp = env, .cwd = "/tmp",
                               .stdout_mode = WEFT_STDIO_PIPE };
    ck_assert_int_eq(run_capture(SH("echo \"$WEFT_TEST_VAR\"; pwd; "
                                    "echo \"${HOME-unset}\""), &o, &out), 0);
    ck_assert_str_eq(out, "bar baz\n/tmp\nunset\n");
    weft_free(out);
    /* Inherited: the caller's environment and directory. */
    char cwd[4096], expect[4200];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(expect, sizeof expect, "%s\n", cwd);
    weft_subprocess_opts inherit = { .stdout_mode = WEFT_STDIO_PIPE };
    ck_assert_int_eq(run_capture(SH("pwd"), &inherit, &out), 0);
    ck_assert_str_eq(out, expect);
    weft_free(out);
    ck_assert_int_eq(setenv("WEFT_TEST_INHERITED", "yes", 1), 0);
    ck_assert_int_eq(run_capture(SH("echo $WEFT_TEST_INHERITED"), &inherit,
                                 &out), 0);
    ck_assert_str_eq(out, "yes\n");
    weft_free(out);
    /* A directory that does not exist. */
    weft_subprocess *p;
    weft_subprocess_opts bad = { .cwd = "/nonexistent-weft-dir" };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &bad), -ENOENT);
    ck_assert_ptr_null(p);
    return NULL;
}

START_TEST(test_env_and_cwd)
{
    ck_assert_int_eq(run_on(2, env_cwd_main, NULL), 0);
}
END_TEST

/* --- programs that cannot run ---------------------------------------------- */

static void *not_runnable_main(void *arg)
{
    weft_subprocess *p = (void *)1;
    char path[] = "/tmp/weft-check-subprocess-XXXXXX";

    (void)arg;
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("weft-no-such-program"),
                                          NULL), -ENOENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("/nonexistent/prog"), NULL),
                     -ENOENT);
    /* A file that is not executable, and a directory. */
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV(path), NULL), -EACCES);
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("/tmp"), NULL), -EACCES);
    unlink(path);
    /* With pipes asked for: nothing of them is left open (run_on checks
     * the descriptors), and no child is left to reap. */
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE,
                               .stdout_mode = WEFT_STDIO_PIPE,
                               .stderr_mode = WEFT_STDIO_PIPE };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("weft-no-such-program"),
                                          &o), -ENOENT);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

/* Out of descriptors: for the pipes (the ones made are closed again),
 * and for the pidfd, after the child started (it is killed and reaped:
 * no zombie). */
static void *out_of_fds_main(void *arg)
{
    weft_subprocess *p = (void *)1;
    struct rlimit old, low;
    weft_subprocess_opts pipes = { .stdin_mode = WEFT_STDIO_PIPE,
                                   .stdout_mode = WEFT_STDIO_PIPE,
                                   .stderr_mode = WEFT_STDIO_PIPE };

    (void)arg;
    int lowest_free = dup(0);
    ck_assert_int_ge(lowest_free, 0);
    close(lowest_free);
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    /* Room for two more: one pipe, not three. */
    low = old;
    low.rlim_cur = (rlim_t)lowest_free + 2;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    int rc = weft_subprocess_exec(&p, ARGV("true"), &pipes);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(rc, -EMFILE);
    ck_assert_ptr_null(p);
    /* None: the child starts, its pidfd cannot be had. */
    low.rlim_cur = (rlim_t)lowest_free;
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    rc = weft_subprocess_exec(&p, ARGV("sleep", "100"), NULL);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    ck_assert_int_eq(rc, -EMFILE);
    ck_assert_int_eq(zombie_children(), 0);
    siginfo_t si;
    ck_assert_int_eq(waitid(P_ALL, 0, &si, WEXITED | WNOHANG), -1);
    ck_assert_int_eq(errno, ECHILD);
    return NULL;
}

START_TEST(test_out_of_descriptors)
{
    ck_assert_int_eq(run_on(1, out_of_fds_main, NULL), 0);
}
END_TEST

START_TEST(test_not_runnable)
{
    ck_assert_int_eq(run_on(2, not_runnable_main, NULL), 0);
}
END_TEST

/* --- what the child inherits ----------------------------------------------- */

/* The descriptors the test process had before weft_run that any program
 * it starts inherits (not close-on-exec: the test harness's own, say). */
#define MAX_FD 1024
static unsigned char harness_fd[MAX_FD];

static void note_harness_fds(void)
{
    memset(harness_fd, 0, sizeof harness_fd);
    for (int fd = 3; fd < MAX_FD; fd++) {
        int fl = fcntl(fd, F_GETFD);
        harness_fd[fd] = fl >= 0 && !(fl & FD_CLOEXEC);
    }
}

/* How many descriptors in an ls of /proc/self/fd are neither 0, 1, 2
 * nor the harness's: one, the directory ls reads. */
static int foreign_fds(char *listing)
{
    int n = 0, std = 0;
    char *save = NULL;

    for (char *w = strtok_r(listing, "\n", &save); w != NULL;
         w = strtok_r(NULL, "\n", &save)) {
        int fd = atoi(w);
        if (fd < 3)
            std++;
        else if (fd >= MAX_FD || !harness_fd[fd])
            n++;
    }
    return std == 3 ? n : -1;
}

static void *inherit_main(void *arg)
{
    char *out;
    weft_socket *s;
    weft_stream *a;
    int fds[2];

    (void)arg;
    /* Descriptors of weft's in use: a socket, a stream, a waited-on pipe
     * (and the workers' reactors, the dump thread's pipe). */
    ck_assert_int_eq(weft_socket_open(&s, AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    ck_assert_int_eq(weft_fd_wait(fds[1], POLLOUT, 0), POLLOUT);
    ck_assert_int_eq(weft_stream_open_fd(&a, fds[0], NULL), 0);
    /* ls lists its own descriptors: 0, 1, 2, and the directory it reads. */
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE,
                               .stdout_mode = WEFT_STDIO_PIPE,
                               .stderr_mode = WEFT_STDIO_DEVNULL };
    ck_assert_int_eq(run_capture(ARGV("ls", "/proc/self/fd"), &o, &out), 0);
    ck_assert_int_eq(foreign_fds(out), 1);
    weft_free(out);

    /* Signals: none ignored (weft_run ignores SIGPIPE here), none
     * blocked (this worker blocks SIGUSR2 for now). */
    sigset_t usr2, old;
    sigemptyset(&usr2);
    sigaddset(&usr2, SIGUSR2);
    ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr2, &old), 0);
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_hup;
    ck_assert_int_eq(sigaction(SIGHUP, &ign, &old_hup), 0);
    ck_assert_int_eq(run_capture(ARGV("grep", "-E", "^Sig(Ign|Blk)",
                                      "/proc/self/status"), &o, &out), 0);
    ck_assert_int_eq(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    ck_assert_int_eq(sigaction(SIGHUP, &old_hup, NULL), 0);
    ck_assert_str_eq(out, "SigBlk:\t0000000000000000\n"
                          "SigIgn:\t0000000000000000\n");
    weft_free(out);

    ck_assert_int_eq(weft_fd_forget(fds[1]), 0);
    close(fds[1]);
    ck_assert_int_eq(weft_stream_close(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_socket_close(s), 0);
    return NULL;
}

START_TEST(test_nothing_inherited)
{
    /* main is pinned to worker 0: the signal mask is its thread's. */
    note_harness_fds();
    ck_assert_int_eq(run_on(4, inherit_main, NULL), 0);
}
END_TEST

/* Pipes the child closes early: the end on reads, -EPIPE on writes,
 * never SIGPIPE. */
static void *early_close_main(void *arg)
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE,
                               .stdout_mode = WEFT_STDIO_PIPE };
    static char big[1 << 20];
    char buf[8];
    int status;

    (void)arg;
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(weft_stream_read(weft_subprocess_stdout(p), buf,
                                      sizeof buf, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_stream_write(weft_subprocess_stdin(p), big,
                                       sizeof big, WEFT_FOREVER), -EPIPE);
    /* Input after stdin was closed: refused. */
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("cat"), &o), 0);
    ck_assert_int_eq(weft_stream_write_eof(weft_subprocess_stdin(p),
                                           WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_communicate(p, "x", 1, NULL, NULL, NULL,
                                                 NULL, WEFT_FOREVER),
                     -ESHUTDOWN);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, NULL, NULL, NULL,
                                                 NULL, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_early_close)
{
    ck_assert_int_eq(run_on(2, early_close_main, NULL), 0);
}
END_TEST

/* --- waits: several, cancelled, cut short, terminate ------------------------ */

struct waiter {
    weft_subprocess *p;
    int rc;
    int status;
};

static int waiters_done;

static void *wait_task(void *arg)
{
    struct waiter *w = arg;
    w->rc = weft_subprocess_wait(w->p, &w->status, WEFT_FOREVER);
    COUNT(waiters_done);
    return NULL;
}

static void *waits_main(void *arg)
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_PIPE };
    struct waiter w[3];
    weft_task *t[3];
    int status;

    (void)arg;
    /* Three tasks wait for one child; all get its status. */
    ck_assert_int_eq(weft_subprocess_exec(&p, SH("read x; exit 7"), &o), 0);
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){ .p = p, .rc = 1, .status = -1000 };
        ck_assert_int_eq(weft_spawn(&t[i], wait_task, &w[i]), 0);
    }
    for (int i = 0; i < 3; i++)
        wait_until_waiting(t[i], NULL);
    ck_assert_int_eq(READ(waiters_done), 0);
    ck_assert_int_eq(weft_stream_write_eof(weft_subprocess_stdin(p),
                                           WEFT_FOREVER), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert_int_eq(w[i].status, 7);
    }
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* A cancelled wait leaves the child running, and reapable. */
    ck_assert_int_eq(weft_subprocess_exec(&p, SH("read x; exit 5"), &o), 0);
    w[0] = (struct waiter){ .p = p, .rc = 1 };
    ck_assert_int_eq(weft_spawn(&t[0], wait_task, &w[0]), 0);
    wait_until_waiting(t[0], "child");
    ck_assert_int_eq(weft_cancel(t[0]), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), -ECANCELED);
    weft_task_unref(t[0]);
    ck_assert_int_eq(w[0].rc, -ECANCELED);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), -ETIMEDOUT);
    ck_assert_int_eq(weft_stream_write_eof(weft_subprocess_stdin(p),
                                           WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(status, 5);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* A close under a waiter: it gets -EBADF. The child, its stdin
     * closed, ends, and is reaped by a later call. */
    ck_assert_int_eq(weft_subprocess_exec(&p, SH("read x"), &o), 0);
    pid_t pid = weft_subprocess_pid(p);
    w[0] = (struct waiter){ .p = p, .rc = 1 };
    ck_assert_int_eq(weft_spawn(&t[0], wait_task, &w[0]), 0);
    wait_until_waiting(t[0], "child");
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    ck_assert_int_eq(weft_await(t[0], NULL), 0);
    weft_task_unref(t[0]);
    ck_assert_int_eq(w[0].rc, -EBADF);
    /* Until the orphan has ended and a call has swept it. */
    sweep_until_reaped(pid);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

START_TEST(test_waits)
{
    waiters_done = 0;
    ck_assert_int_eq(run_on(4, waits_main, NULL), 0);
    ck_assert_int_eq(zombie_children(), 0);
}
END_TEST

/* A task cancelled while it waits cleans up in a shield: terminate and
 * close. */
static void *shielded_cleanup_task(void *arg)
{
    weft_subprocess *p;
    int rc, status = -1000;

    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), NULL), 0);
    SET(*(int *)arg, 1);
    rc = weft_subprocess_wait(p, &status, WEFT_FOREVER);
    CHECK(rc == -ECANCELED);
    int src;
    WEFT_WITH_SHIELD(src) {
        CHECK(weft_subprocess_terminate(p, WEFT_FOREVER) == 0);
        CHECK(weft_subprocess_wait(p, &status, WEFT_FOREVER) == 0);
        CHECK(weft_subprocess_close(p) == 0);
    }
    CHECK(src == 0);
    CHECK(status == -SIGTERM);
    /* Handled: the task ends as it returns, not cancelled. */
    CHECK(weft_task_uncancel(weft_current()) == 0);
    return (void *)(intptr_t)status;
}

static void *shield_main(void *arg)
{
    weft_task *t;
    int started = 0;
    void *res;

    (void)arg;
    ck_assert_int_eq(weft_spawn(&t, shielded_cleanup_task, &started), 0);
    while (!READ(started))
        ck_assert_int_eq(weft_yield(), 0);
    wait_until_waiting(t, "child");
    ck_assert_int_eq(weft_cancel(t), 0);
    /* It handled the cancellation and returned: not cancelled. */
    ck_assert_int_eq(weft_await(t, &res), 0);
    ck_assert_int_eq((intptr_t)res, -SIGTERM);
    weft_task_unref(t);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

START_TEST(test_cancel_with_shielded_cleanup)
{
    ck_assert_int_eq(run_on(2, shield_main, NULL), 0);
}
END_TEST

static void *terminate_main(void *arg)
{
    weft_subprocess *p;
    char line[16];
    int status;

    (void)arg;
    /* A child that ignores SIGTERM is killed once the grace is over. */
    p = start_out(SH("trap '' TERM; echo ready; exec sleep 100"));
    ck_assert_int_eq(weft_stream_read_line(weft_subprocess_stdout(p), line,
                                           sizeof line, WEFT_FOREVER), 6);
    int64_t t0 = mono_ms();
    ck_assert_int_eq(weft_subprocess_terminate(p, 200), 0);
    ck_assert_int_ge(mono_ms() - t0, 200);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert_int_eq(status, -SIGKILL);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* One that does not: SIGTERM ends it. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), NULL), 0);
    ck_assert_int_eq(weft_subprocess_terminate(p, TEST_LONG_MS), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert_int_eq(status, -SIGTERM);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_terminate_grace)
{
    ck_assert_int_eq(run_on(2, terminate_main, NULL), 0);
}
END_TEST

/* A close under a task reading stdout and one in communicate: both get
 * -EBADF; a cancelled communicate returns -ECANCELED. The child runs on
 * and is killed and reaped afterwards. */
static void *communicate_task(void *arg)
{
    void *out = (void *)1;
    size_t len;
    int rc = weft_subprocess_communicate(arg, NULL, 0, &out, &len, NULL,
                                         NULL, WEFT_FOREVER);
    CHECK(out == NULL);
    return (void *)(intptr_t)rc;
}

static void *close_under_users_main(void *arg)
{
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdout_mode = WEFT_STDIO_PIPE,
                               .stderr_mode = WEFT_STDIO_PIPE };
    weft_task *reader, *comm;
    void *res;
    int status;

    (void)arg;
    /* Cancelled. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), &o), 0);
    ck_assert_int_eq(weft_spawn(&comm, communicate_task, p), 0);
    wait_until_waiting(comm, "fd");
    ck_assert_int_eq(weft_cancel(comm), 0);
    ck_assert_int_eq(weft_await(comm, &res), -ECANCELED);
    weft_task_unref(comm);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), -ETIMEDOUT);
    /* No grace: SIGTERM, and SIGKILL unless it had ended at once. */
    ck_assert_int_eq(weft_subprocess_terminate(p, 0), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, 0), 0);
    ck_assert(status == -SIGTERM || status == -SIGKILL);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    /* Closed under a reader of stderr and a communicate (which reads
     * stdout): both calls end with -EBADF. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), &o), 0);
    pid_t pid = weft_subprocess_pid(p);
    ck_assert_int_eq(weft_spawn(&reader, kill_reader, weft_subprocess_stderr(p)), 0);
    wait_until_waiting(reader, "fd");
    ck_assert_int_eq(weft_spawn(&comm, communicate_task, p), 0);
    wait_until_waiting(comm, "fd");
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    ck_assert_int_eq(weft_await(reader, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBADF);
    ck_assert_int_eq(weft_await(comm, &res), 0);
    ck_assert_int_eq((intptr_t)res, -EBADF);
    weft_task_unref(reader);
    weft_task_unref(comm);
    /* Unreaped, the pid is still the child's. */
    ck_assert_int_eq(kill(pid, SIGKILL), 0);
    sweep_until_reaped(pid);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

START_TEST(test_close_under_users)
{
    ck_assert_int_eq(run_on(4, close_under_users_main, NULL), 0);
    ck_assert_int_eq(zombie_children(), 0);
}
END_TEST

/* A child still running when it is closed, and when weft_run returns:
 * left running (the pidfd is closed: run_on counts descriptors). */
static pid_t left_pid;

static void *left_running_main(void *arg)
{
    weft_subprocess *p;

    (void)arg;
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("sleep", "100"), NULL), 0);
    left_pid = weft_subprocess_pid(p);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_close_leaves_child_running)
{
    int status;

    ck_assert_int_eq(run_on(2, left_running_main, NULL), 0);
    ck_assert_int_gt(left_pid, 0);
    ck_assert_int_eq(kill(left_pid, 0), 0);
    ck_assert_int_eq(waitpid(left_pid, &status, WNOHANG), 0);
    ck_assert_int_eq(kill(left_pid, SIGKILL), 0);
    ck_assert_int_eq(waitpid(left_pid, &status, 0), left_pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
END_TEST

/* --- many children ------------------------------------------------------------ */

#define CONCURRENT 200

static int concurrent_ok;

static void *one_child(void *arg)
{
    char num[16], expect[20];
    weft_subprocess *p;
    weft_subprocess_opts o = { .stdout_mode = WEFT_STDIO_PIPE };
    void *out;
    size_t len;
    int status = -1;

    snprintf(num, sizeof num, "%d", (int)(intptr_t)arg);
    snprintf(expect, sizeof expect, "%s\n", num);
    CHECK(weft_subprocess_exec(&p, ARGV("echo", num), &o) == 0);
    CHECK(weft_subprocess_communicate(p, NULL, 0, &out, &len, NULL, NULL,
                                      WEFT_FOREVER) == 0);
    CHECK(strcmp(out, expect) == 0);
    weft_free(out);
    CHECK(weft_subprocess_wait(p, &status, WEFT_FOREVER) == 0);
    CHECK(status == 0);
    CHECK(weft_subprocess_close(p) == 0);
    COUNT(concurrent_ok);
    return NULL;
}

static void *concurrent_main(void *arg)
{
    weft_task *t[CONCURRENT];

    (void)arg;
    for (int i = 0; i < CONCURRENT; i++)
        ck_assert_int_eq(weft_spawn(&t[i], one_child, (void *)(intptr_t)i), 0);
    for (int i = 0; i < CONCURRENT; i++) {
        ck_assert_int_eq(weft_await(t[i], NULL), 0);
        weft_task_unref(t[i]);
    }
    return NULL;
}

START_TEST(test_200_concurrent_children)
{
    concurrent_ok = 0;
    ck_assert_int_eq(run_on(4, concurrent_main, NULL), 0);
    ck_assert_int_eq(READ(concurrent_ok), CONCURRENT);
    ck_assert_int_eq(zombie_children(), 0);
}
END_TEST

#ifdef SANITIZED
#define SEQUENTIAL 300
#else
#define SEQUENTIAL 1000
#endif

static void *sequential_main(void *arg)
{
    int fds = count_dir_entries("/proc/self/fd");

    (void)arg;
    for (int i = 0; i < SEQUENTIAL; i++) {
        weft_subprocess *p;
        int status = -1;
        CHECK(weft_subprocess_exec(&p, ARGV("true"), NULL) == 0);
        CHECK(weft_subprocess_wait(p, &status, WEFT_FOREVER) == 0);
        CHECK(status == 0);
        CHECK(weft_subprocess_close(p) == 0);
    }
    ck_assert_int_eq(count_dir_entries("/proc/self/fd"), fds);
    ck_assert_int_eq(zombie_children(), 0);
    return NULL;
}

START_TEST(test_1000_sequential_children)
{
    ck_assert_int_eq(run_on(2, sequential_main, NULL), 0);
    ck_assert_int_eq(zombie_children(), 0);
}
END_TEST

/* --- bad input ---------------------------------------------------------------- */

/* With SIGCHLD ignored the kernel reaps children itself: exec fails
 * with -ECHILD if the child is gone before weft could watch it (its pid
 * might be another process's by then), or the wait does. Never a hang,
 * never a status made up. */
static void *sigchld_ignored_main(void *arg)
{
    char *argv[] = { "true", NULL };
    weft_subprocess *p;
    int status = 12345;

    (void)arg;
    for (int i = 0; i < 20; i++) {
        int rc = weft_subprocess_exec(&p, argv, NULL);
        ck_assert(rc == 0 || rc == -ECHILD);
        if (rc < 0)
            continue;
        ck_assert_int_eq(weft_subprocess_wait(p, &status, 10000), -ECHILD);
        ck_assert_int_eq(weft_subprocess_close(p), 0);
    }
    return NULL;
}

START_TEST(test_sigchld_ignored)
{
    struct sigaction ign, old;

    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    ck_assert_int_eq(sigaction(SIGCHLD, &ign, &old), 0);
    ck_assert_int_eq(run_on(2, sigchld_ignored_main, NULL), 0);
    ck_assert_int_eq(sigaction(SIGCHLD, &old, NULL), 0);
}
END_TEST

static void *bad_args_main(void *arg)
{
    weft_subprocess *p = (void *)1;
    int status;

    (void)arg;
    ck_assert_int_eq(weft_subprocess_exec(NULL, ARGV("true"), NULL), -EINVAL);
    ck_assert_int_eq(weft_subprocess_exec(&p, NULL, NULL), -EINVAL);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(weft_subprocess_exec(&p, (char *[]){ NULL }, NULL), -EINVAL);
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV(""), NULL), -EINVAL);
    weft_subprocess_opts o = { .stdin_mode = WEFT_STDIO_STDOUT };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EINVAL);
    o = (weft_subprocess_opts){ .stdout_mode = (weft_stdio_mode)99 };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EINVAL);
    o = (weft_subprocess_opts){ .stdout_mode = WEFT_STDIO_FD, .stdout_fd = -1 };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EINVAL);
    o = (weft_subprocess_opts){ .stdout_mode = WEFT_STDIO_FD, .stdout_fd = 999 };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EBADF);
    o = (weft_subprocess_opts){ .reserved = { &o } };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EINVAL);
    /* Bad options for the pipes' streams: found once the pipes are made,
     * which are closed again (run_on counts descriptors), before any
     * child starts. */
    weft_stream_opts bad_stream = { .reserved = { &o } };
    o = (weft_subprocess_opts){ .stdin_mode = WEFT_STDIO_PIPE,
                                .stdout_mode = WEFT_STDIO_PIPE,
                                .stream = &bad_stream };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), &o), -EINVAL);
    ck_assert_int_eq(zombie_children(), 0);
    /* Good ones apply: a 16-byte limit on lines. */
    weft_stream_opts small = { .limit = 16 };
    o = (weft_subprocess_opts){ .stdout_mode = WEFT_STDIO_PIPE, .stream = &small };
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("echo", "a line longer than sixteen bytes"), &o), 0);
    char line[64];
    ck_assert_int_eq(weft_stream_read_line(weft_subprocess_stdout(p), line,
                                           sizeof line, WEFT_FOREVER), -EMSGSIZE);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);

    ck_assert_int_eq(weft_subprocess_wait(NULL, &status, 0), -EINVAL);
    ck_assert_int_eq(weft_subprocess_signal(NULL, SIGTERM), -EINVAL);
    ck_assert_int_eq(weft_subprocess_terminate(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_subprocess_close(NULL), -EINVAL);
    ck_assert_int_eq(weft_subprocess_pid(NULL), -EINVAL);
    ck_assert_ptr_null(weft_subprocess_stdin(NULL));
    ck_assert_ptr_null(weft_subprocess_stdout(NULL));
    ck_assert_ptr_null(weft_subprocess_stderr(NULL));
    ck_assert_int_eq(weft_subprocess_communicate(NULL, NULL, 0, NULL, NULL,
                                                 NULL, NULL, 0), -EINVAL);

    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), NULL), 0);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, -5), -EINVAL);
    ck_assert_int_eq(weft_subprocess_terminate(p, -2), -EINVAL);
    ck_assert_int_eq(weft_subprocess_signal(p, -1), -EINVAL);
    ck_assert_int_eq(weft_subprocess_signal(p, 1000), -EINVAL);
    void *out;
    size_t len;
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, NULL, NULL, NULL,
                                                 NULL, -3), -EINVAL);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 1, NULL, NULL, NULL,
                                                 NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, &out, NULL, NULL,
                                                 NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_subprocess_communicate(p, NULL, 0, NULL, &len, NULL,
                                                 NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_subprocess_wait(p, &status, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_subprocess_close(p), 0);
    return NULL;
}

START_TEST(test_bad_args)
{
    weft_subprocess *p;

    ck_assert_int_eq(run_on(2, bad_args_main, NULL), 0);
    /* Outside a task. */
    ck_assert_int_eq(weft_subprocess_exec(&p, ARGV("true"), NULL), -EPERM);
    ck_assert_int_eq(zombie_children(), 0);
}
END_TEST

static Suite *subprocess_suite(void)
{
    Suite *s = suite_create("subprocess");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_basics);
    tcase_add_test(tc, test_killed_during_read);
    tcase_add_test(tc, test_communicate_16mib);
    tcase_add_test(tc, test_communicate_misc);
    tcase_add_test(tc, test_redirections);
    tcase_add_test(tc, test_env_and_cwd);
    tcase_add_test(tc, test_not_runnable);
    tcase_add_test(tc, test_out_of_descriptors);
    tcase_add_test(tc, test_nothing_inherited);
    tcase_add_test(tc, test_early_close);
    tcase_add_test(tc, test_waits);
    tcase_add_test(tc, test_cancel_with_shielded_cleanup);
    tcase_add_test(tc, test_terminate_grace);
    tcase_add_test(tc, test_close_under_users);
    tcase_add_test(tc, test_close_leaves_child_running);
    tcase_add_test(tc, test_200_concurrent_children);
    tcase_add_test(tc, test_1000_sequential_children);
    tcase_add_test(tc, test_sigchld_ignored);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(subprocess_suite)
