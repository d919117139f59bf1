/* Helpers shared by the Check suites. */
#ifndef WEFT_TESTUTIL_H
#define WEFT_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <weft.h>

/* Every suite's main: run it, exit non-zero on any failure. One malloc
 * arena: glibc keeps the arenas of exited threads mapped forever, which
 * would hide a leaked mapping of weft's among them. */
#define WEFT_TEST_MAIN(make_suite)                                            \
    int main(void)                                                            \
    {                                                                         \
        mallopt(M_ARENA_MAX, 1);                                              \
        SRunner *sr = srunner_create(make_suite());                           \
        srunner_run_all(sr, CK_NORMAL);                                       \
        int failed = srunner_ntests_failed(sr);                               \
        srunner_free(sr);                                                     \
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                     \
    }

/* Which sanitizer, if any, the tests are built with. */
#if defined(__SANITIZE_ADDRESS__)
#define TEST_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEST_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEST_UNDER_TSAN 1
#endif
#endif

/* ThreadSanitizer follows each started task as a fiber and dies past 8128
 * of them at once, so tests keep fewer tasks alive under it. */
#ifdef TEST_UNDER_TSAN
#define TEST_MAX_LIVE_TASKS 4000
#else
#define TEST_MAX_LIVE_TASKS 1000000
#endif

/* An assertion for hot loops. Check's ck_assert_* report every check they
 * pass to the parent process through a pipe, one system call each; this
 * one costs nothing until it fails. */
#define CHECK(cond)                                                           \
    do {                                                                      \
        if (!(cond))                                                          \
            ck_abort_msg("%s:%d: check '%s' failed", __FILE__, __LINE__,      \
                         #cond);                                              \
    } while (0)

/* Seconds a test may take before Check kills it; CK_TIMEOUT_MULTIPLIER
 * stretches it for sanitizer builds. */
#define TEST_TIMEOUT 60

/* A sleep or time-out (ms) no test lives to see end: an hour, past any
 * Check time-out, so what ends it is a cancellation or the test's own
 * doing, never the clock. */
#define TEST_LONG_MS 3600000

static inline int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Mappings of the process, but the brk heap, which malloc may create
 * during a run and rightly keeps, and the space weft's task records come
 * from, reserved at the first run for the process's lifetime: 32 GiB,
 * 256 MiB with 32-bit pointers (lib/sched/records.c), which no other
 * mapping here comes near. Where it cannot be reserved (a strict
 * overcommit policy, an address-space limit), records come in 2 MiB
 * mappings that stay, and this check fails. */
static inline int count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long lo, hi;
        if (sscanf(line, "%llx-%llx", &lo, &hi) == 2 &&
            hi - lo >= (sizeof(void *) > 4 ? 16ull << 30 : 256ull << 20))
            continue;
        n += strstr(line, "[heap]") == NULL;
    }
    fclose(f);
    return n;
}

/* What a clean shutdown must give back: file descriptors, threads, and
 * mappings (a stack slab left mapped would show here). */
struct leak_check {
    int fds;
    int threads;
    int maps;
};

#ifdef TEST_UNDER_TSAN
static void *tsan_warm_up(void *arg)
{
    return arg;
}
#endif

static inline void leak_check_begin(struct leak_check *lc)
{
#ifdef TEST_UNDER_TSAN
    /* TSan starts a background thread of its own at the first
     * pthread_create and keeps it: start it before counting. */
    pthread_t th;
    pthread_create(&th, NULL, tsan_warm_up, NULL);
    pthread_join(th, NULL);
#endif
    lc->fds = count_dir_entries("/proc/self/fd");
    lc->threads = count_dir_entries("/proc/self/task");
    lc->maps = count_maps();
}

/* The threads of the process once the exited ones are gone: pthread_join
 * returns when the kernel clears the thread's tid, a moment before it
 * removes the thread from /proc; so a joined thread may still be listed
 * for a while. Bounded: at most a second. */
static inline int settled_thread_count(int expected)
{
    int n = count_dir_entries("/proc/self/task");
    for (int i = 0; i < 1000 && n > expected; i++) {
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        n = count_dir_entries("/proc/self/task");
    }
    return n;
}

static inline void leak_check_end(const struct leak_check *lc)
{
    ck_assert_int_eq(count_dir_entries("/proc/self/fd"), lc->fds);
    ck_assert_int_eq(settled_thread_count(lc->threads), lc->threads);
#if !defined(TEST_UNDER_ASAN) && !defined(TEST_UNDER_TSAN)
    /* The sanitizers' allocators map memory of their own and keep it. */
    ck_assert_int_le(count_maps(), lc->maps);
#endif
}

/* Runs fn(arg) as weft's main on `workers` workers (0: the default, one
 * per CPU), asserting that the runtime leaves no file descriptor, thread
 * or mapping behind. Returns weft_run's status. */
static inline int run_with(const weft_run_opts *opts, weft_fn fn, void *arg)
{
    struct leak_check lc;
    leak_check_begin(&lc);
    int rc = weft_run(fn, arg, NULL, opts);
    leak_check_end(&lc);
    return rc;
}

static inline int run_on(unsigned workers, weft_fn fn, void *arg)
{
    weft_run_opts opts = { .workers = workers };
    return run_with(&opts, fn, arg);
}

/* Redirects stderr into a pipe until stderr_capture_end, which stores what
 * was written (up to size - 1 bytes) in err[]. */
struct stderr_capture {
    int read_fd;
    int saved;
};

static inline void stderr_capture_begin(struct stderr_capture *cap)
{
    int pipefd[2];
    ck_assert_int_eq(pipe(pipefd), 0);
    cap->saved = dup(STDERR_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[1]);
    cap->read_fd = pipefd[0];
}

static inline void stderr_capture_end(struct stderr_capture *cap, char *err,
                                      size_t size)
{
    dup2(cap->saved, STDERR_FILENO);
    close(cap->saved);
    ssize_t n = read(cap->read_fd, err, size - 1);
    close(cap->read_fd);
    err[n > 0 ? n : 0] = '\0';
}

/* How a child running weft ended (run_in_child). */
struct outcome {
    int signal;      /* 0 if the child exited */
    int exit_code;
    char err[16384]; /* what it wrote on stderr (a sanitizer's report
                        may come first) */
};

/* Runs weft_run(main_fn) with opts (NULL: the defaults) in a child, for
 * tests of crashes caused on purpose, and collects how it ended. */
static inline void run_in_child(weft_fn main_fn, const weft_run_opts *opts,
                                struct outcome *out)
{
    int pipefd[2], status;
    ck_assert_int_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        /* No core files from the crashes the tests cause on purpose. */
        struct rlimit none = { 0, 0 };
        setrlimit(RLIMIT_CORE, &none);
        int rc = weft_run(main_fn, NULL, NULL, opts);
        _exit(rc == 0 ? 0 : 3);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(pipefd[0], out->err + len, sizeof out->err - 1 - len)) > 0)
        len += (size_t)n;
    out->err[len] = '\0';
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    out->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    out->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* run_on, with what weft writes on stderr meanwhile in err[]. Without
 * slow-task reports: on a loaded machine a worker thread kept off its CPU
 * makes any task look slow, and the tests that read stderr look for
 * other messages (check_debug tests the reports). */
static inline int run_capturing_stderr(unsigned workers, weft_fn fn,
                                       void *arg, char *err, size_t size)
{
    struct stderr_capture cap;
    weft_run_opts opts = { .workers = workers,
                           .slow_task_ms = WEFT_SLOW_TASK_OFF };
    stderr_capture_begin(&cap);
    int rc = run_with(&opts, fn, arg);
    stderr_capture_end(&cap, err, size);
    return rc;
}

/* The same with default options. */
static inline int run_clean(weft_fn fn, void *arg)
{
    return run_on(0, fn, arg);
}

/* A plain thread whose stack the test maps and unmaps itself: glibc would
 * keep a thread stack of its own making mapped after the join, which the
 * leak check would count. */
#define TEST_THREAD_STACK ((size_t)1 << 20) /* TSan rejects much less */
struct test_thread {
    pthread_t id;
    void *stack;
};

static inline void test_thread_start(struct test_thread *th,
                                     void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    th->stack = mmap(NULL, TEST_THREAD_STACK, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    ck_assert_ptr_ne(th->stack, MAP_FAILED);
    ck_assert_int_eq(pthread_attr_init(&attr), 0);
    ck_assert_int_eq(pthread_attr_setstack(&attr, th->stack, TEST_THREAD_STACK), 0);
    ck_assert_int_eq(pthread_create(&th->id, &attr, fn, arg), 0);
    pthread_attr_destroy(&attr);
}

static inline void test_thread_join(struct test_thread *th)
{
    ck_assert_int_eq(pthread_join(th->id, NULL), 0);
    munmap(th->stack, TEST_THREAD_STACK);
}

/* Counters shared by tasks on several workers. */
#define COUNT(var) __atomic_fetch_add(&(var), 1, __ATOMIC_RELAXED)
#define READ(var) __atomic_load_n(&(var), __ATOMIC_ACQUIRE)
#define SET(var, v) __atomic_store_n(&(var), (v), __ATOMIC_RELEASE)

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Uses about kib KiB of stack, one frame per KiB, and returns a value
 * that depends on every frame so none can be optimised away. */
static __attribute__((noinline, unused)) int use_stack_kib(int kib)
{
    volatile char frame[1024];
    frame[0] = (char)kib;
    frame[sizeof frame - 1] = (char)kib;
    if (kib <= 1)
        return frame[0];
    return use_stack_kib(kib - 1) + frame[sizeof frame - 1];
}

/* 1 if weft_dump shows a task suspended in a wait on `on` (as the dump
 * names it: "sleep", "event", "task 12"..., or NULL for any wait): the
 * task with that id, or (id 0) one whose name starts with name_prefix. */
static inline int dump_shows_waiting(uint64_t task_id, const char *name_prefix,
                                     const char *on)
{
    char *buf = NULL, *line, *save = NULL;
    size_t size = 0;
    int found = 0;
    FILE *f = open_memstream(&buf, &size);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(weft_dump(f), 1);
    fclose(f);
    for (line = strtok_r(buf, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        /* id, state, worker, name (no spaces in the tests' names), then
         * what it waits on */
        unsigned long long id;
        char state[16], worker[16], name[WEFT_TASK_NAME_MAX + 1];
        int rest = 0;
        if (sscanf(line, "%llu %15s %15s %47s %n", &id, state, worker, name,
                   &rest) == 4 && rest > 0 && strcmp(state, "waiting") == 0 &&
            (task_id != 0 ? id == task_id
                          : name_prefix != NULL &&
                                strncmp(name, name_prefix,
                                        strlen(name_prefix)) == 0))
            found = on == NULL || strncmp(line + rest, on, strlen(on)) == 0;
    }
    free(buf);
    return found;
}

/* 1 if weft_dump shows task suspended in a wait (on `on`, or any). */
static inline int task_is_waiting(weft_task *task, const char *on)
{
    return dump_shows_waiting(weft_task_id(task), NULL, on);
}

/* Yields until task is suspended in a wait (see task_is_waiting): for a
 * test that must act on a task only once it waits, where a sleep would
 * only make that likely. The Check time-out bounds it. */
/* A task's body: writes one byte to the descriptor in arg (an int cast
 * to a pointer), to wake a reader. */
static inline void *write_one_byte(void *arg)
{
    int fd = (int)(intptr_t)arg;
    CHECK(write(fd, "x", 1) == 1);
    return NULL;
}

static inline void wait_until_waiting(weft_task *task, const char *on)
{
    while (!task_is_waiting(task, on))
        ck_assert_int_eq(weft_yield(), 0);
}

/* An event log, for asserting the order in which things happened. Tests
 * that use it run on one worker (run_on(1, ...)), so it needs no lock. */
struct event_log {
    char text[4096];
    size_t len;
};

static inline void log_event(struct event_log *log, const char *event)
{
    size_t n = strlen(event);
    ck_assert_uint_lt(log->len + n + 1, sizeof log->text);
    if (log->len > 0)
        log->text[log->len++] = ' ';
    memcpy(log->text + log->len, event, n);
    log->len += n;
    log->text[log->len] = '\0';
}

#endif /* WEFT_TESTUTIL_H */
