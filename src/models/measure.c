/* weft-models: the measuring child.
 *
 *   weft-models __run WORKLOAD MODEL N M FIRST OFFLOAD FD
 *
 * runs one workload under one model (loop, steal, threads, procs, pool)
 * and writes its report line to descriptor FD. procs divides the items
 * between one child per CPU, each a __run of model loop on its share,
 * and adds their reports up. The wall and CPU times cover the run alone,
 * the processes it started included; the peak RSS is this process's, plus
 * each child's as the child reported it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models.h"

extern char **environ;

#define WATCHDOG_S 300 /* a stuck child ends instead of hanging the tool */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage self, kids;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &kids);
    return (double)(self.ru_utime.tv_sec + self.ru_stime.tv_sec +
                    kids.ru_utime.tv_sec + kids.ru_stime.tv_sec) +
           (double)(self.ru_utime.tv_usec + self.ru_stime.tv_usec +
                    kids.ru_utime.tv_usec + kids.ru_stime.tv_usec) / 1e6;
}

static int parse_long(const char *s, long *v)
{
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

/* One descriptor per connection end: 1,000 connections in one process
 * need 2,000 and more, beyond the usual soft limit of 1,024. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Reads one line from fd into buf (until EOF). */
static int read_line(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = read(fd, buf + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len > 0 ? 0 : -EPROTO;
}

/* procs: a child per CPU, each a one-worker weft on its share. */
static int run_procs(const struct mr_spec *s, struct mr_report *r)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int np = cpus < 1 ? 1 : cpus > 256 ? 256 : (int)cpus;
    pid_t pids[256];
    int fds[256];
    int rc = 0, started = 0;

    if (np > s->n)
        np = (int)s->n;
    r->worst_ms = s->workload == MR_CPU ? -1 : 0;
    for (int k = 0; k < np; k++) {
        long first = s->n * k / np, next = s->n * (k + 1) / np;
        char w[16], n[24], m[24], f[24], off[8], fd[16];
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            rc = -errno;
            break;
        }
        snprintf(w, sizeof w, "%d", s->workload);
        snprintf(n, sizeof n, "%ld", next - first);
        snprintf(m, sizeof m, "%ld", s->m);
        snprintf(f, sizeof f, "%ld", s->first + first);
        snprintf(off, sizeof off, "%d", s->offload);
        snprintf(fd, sizeof fd, "%d", p[1]);
        char *argv[] = { "weft-models", "__run", w, "loop", n, m, f, off, fd,
                         NULL };
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        /* The write end stays open in the child: dup2 onto itself clears
         * its close-on-exec flag. */
        posix_spawn_file_actions_adddup2(&fa, p[1], p[1]);
        int e = posix_spawn(&pids[k], "/proc/self/exe", &fa, NULL, argv,
                            environ);
        posix_spawn_file_actions_destroy(&fa);
        close(p[1]);
        if (e != 0) {
            close(p[0]);
            rc = -e;
            break;
        }
        fds[k] = p[0];
        started++;
    }
    for (int k = 0; k < started; k++) {
        char line[512];
        struct mr_report cr;
        int status;
        int lrc = read_line(fds[k], line, sizeof line);
        close(fds[k]);
        while (waitpid(pids[k], &status, 0) < 0 && errno == EINTR)
            ;
        if (lrc == 0)
            lrc = mr_report_parse(line, &cr);
        if (lrc == 0 && cr.skip[0] != '\0')
            lrc = -EPROTO;
        if (lrc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (rc == 0)
                fprintf(stderr, "weft-models: procs: child %d failed\n", k);
            rc = rc == 0 ? -EPROTO : rc;
            continue;
        }
        r->items += cr.items;
        r->checksum += cr.checksum;
        r->maxrss_kib += cr.maxrss_kib;
        if (cr.worst_ms > r->worst_ms)
            r->worst_ms = cr.worst_ms;
    }
    return rc;
}

int mr_child_main(int argc, char **argv)
{
    struct mr_spec s = { 0 };
    struct mr_report r = { 0 };
    long v[5], fd;
    char line[512];
    int rc;

    if (argc != 9 || parse_long(argv[2], &v[0]) < 0 ||
        parse_long(argv[4], &v[1]) < 0 || parse_long(argv[5], &v[2]) < 0 ||
        parse_long(argv[6], &v[3]) < 0 || parse_long(argv[7], &v[4]) < 0 ||
        parse_long(argv[8], &fd) < 0 || v[0] < 0 || v[0] >= MR_NWORKLOADS ||
        v[1] < 1 || v[2] < 0 || v[3] < 0)
        return 2;
    s = (struct mr_spec){ .workload = (int)v[0], .n = v[1], .m = v[2],
                          .first = v[3], .offload = v[4] != 0 };
    const char *model = argv[3];
    alarm(WATCHDOG_S);
    raise_nofile();

    int pool = strcmp(model, "pool") == 0;
    if (pool && (rc = mr_weft_register_pool()) < 0)
        return 1;
    long extra_rss = 0;
    double c0 = cpu_s(), t0 = now_s();
    if (strcmp(model, "loop") == 0 || pool)
        rc = mr_weft_run(&s, 1, pool, &r, &extra_rss);
    else if (strcmp(model, "steal") == 0)
        rc = mr_weft_run(&s, 0, 0, &r, &extra_rss);
    else if (strcmp(model, "threads") == 0)
        rc = mr_threads_run(&s, &r);
    else if (strcmp(model, "procs") == 0)
        rc = run_procs(&s, &r);
    else
        return 2;
    r.wall_s = now_s() - t0;
    r.cpu_s = cpu_s() - c0;
    if (rc < 0)
        return 1;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r.maxrss_kib += ru.ru_maxrss + extra_rss;
    if (mr_report_format(line, sizeof line, &r) < 0)
        return 1;
    FILE *f = fdopen((int)fd, "w");
    if (f == NULL || fputs(line, f) == EOF)
        return 1;
    return fclose(f) != 0;
}
