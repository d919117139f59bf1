/* File system calls on the blocking pool (see weft/fs.h).
 *
 * As weft_getaddrinfo does (io/dns.c): each call is a WEFT_JOB_SLOW job
 * that carries copies of everything it reads, and never fails as a job:
 * it returns itself with the system call's outcome inside. So the only
 * errors weft_run_in_executor returns are its own, and -ECANCELED or
 * -ETIMEDOUT always mean that the cleanup owns the job, which frees it
 * and what it made when the system call ends.
 */
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fs.h"
#include "io/offload.h"
#include "sched/task.h"
#include "sched/wait.h"

enum fs_op { FS_STAT, FS_RENAME, FS_UNLINK, FS_LIST, FS_OPEN, FS_CLOSE };

struct fs_job {
    enum fs_op op;
    const char *path, *to;  /* in the same allocation */
    int err;                /* 0 or the call's negative errno */
    struct stat st;         /* FS_STAT */
    char **names;           /* FS_LIST: one allocation */
    size_t count;
    int flags;              /* FS_OPEN: open(2)'s flags and mode, */
    mode_t mode;
    int fd;                 /* and the descriptor, or -1; FS_CLOSE: the
                               one to close, -1 once closed */
};

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir, sorted, in one block: count + 1 pointers, then the
 * strings. Returns 0 or a negative errno. */
static int list_dir(const char *path, char ***out, size_t *count)
{
    DIR *dir = opendir(path);
    size_t n = 0, cap = 16, bytes = 0;
    char **tmp;
    struct dirent *de;
    int err = 0;

    if (dir == NULL)
        return -errno;
    tmp = weft__malloc(cap * sizeof *tmp);
    if (tmp == NULL) {
        closedir(dir);
        return -ENOMEM;
    }
    errno = 0;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            char **bigger = weft__malloc(2 * cap * sizeof *tmp);
            if (bigger == NULL) {
                err = -ENOMEM;
                break;
            }
            memcpy(bigger, tmp, cap * sizeof *tmp);
            weft__free(tmp);
            tmp = bigger;
            cap *= 2;
        }
        size_t len = strlen(de->d_name) + 1;
        if ((tmp[n] = weft__malloc(len)) == NULL) {
            err = -ENOMEM;
            break;
        }
        memcpy(tmp[n++], de->d_name, len);
        bytes += len;
        errno = 0;
    }
    if (err == 0 && errno != 0)
        err = -errno; /* readdir failed */
    closedir(dir);
    char **block = NULL;
    if (err == 0) {
        qsort(tmp, n, sizeof *tmp, cmp_names);
        block = weft__malloc((n + 1) * sizeof *block + bytes);
        if (block == NULL)
            err = -ENOMEM;
    }
    if (err == 0) {
        char *p = (char *)(block + n + 1);
        for (size_t i = 0; i < n; i++) {
            size_t len = strlen(tmp[i]) + 1;
            block[i] = memcpy(p, tmp[i], len);
            p += len;
        }
        block[n] = NULL;
        *out = block;
        *count = n;
    }
    for (size_t i = 0; i < n; i++)
        weft__free(tmp[i]);
    weft__free(tmp);
    return err;
}

static void run_op(struct fs_job *job)
{
    switch (job->op) {
    case FS_STAT:
        job->err = stat(job->path, &job->st) < 0 ? -errno : 0;
        break;
    case FS_RENAME:
        job->err = rename(job->path, job->to) < 0 ? -errno : 0;
        break;
    case FS_UNLINK:
        job->err = unlink(job->path) < 0 ? -errno : 0;
        break;
    case FS_LIST:
        job->err = list_dir(job->path, &job->names, &job->count);
        break;
    case FS_OPEN:
        do {
            job->fd = open(job->path, job->flags | O_CLOEXEC, job->mode);
        } while (job->fd < 0 && errno == EINTR);
        job->err = job->fd < 0 ? -errno : 0;
        break;
    case FS_CLOSE:
        /* Gone even when it fails (Linux), EINTR included. */
        job->err = close(job->fd) < 0 && errno != EINTR ? -errno : 0;
        job->fd = -1;
        break;
    }
}

/* On a pool thread. */
static void *fs_job_run(void *arg)
{
    run_op(arg);
    return arg;
}

/* Frees a job, and a list or a descriptor it made that nobody took. */
static void fs_job_free(void *arg, void *result, int err)
{
    struct fs_job *job = arg;

    (void)result;
    (void)err;
    if (job->fd >= 0)
        (void)close(job->fd);
    weft__free(job->names);
    weft__free(job);
}

static struct fs_job *job_new(enum fs_op op, const char *path, const char *to)
{
    size_t plen = path != NULL ? strlen(path) + 1 : 0;
    size_t tlen = to != NULL ? strlen(to) + 1 : 0;
    struct fs_job *job = weft__malloc(sizeof *job + plen + tlen);

    if (job == NULL)
        return NULL;
    memset(job, 0, sizeof *job);
    job->op = op;
    job->fd = -1;
    char *p = (char *)(job + 1);
    job->path = path != NULL ? memcpy(p, path, plen) : NULL;
    job->to = to != NULL ? memcpy(p + plen, to, tlen) : NULL;
    return job;
}

/* The checks every call makes, then the job: 0 with *job ready, or an
 * error. */
static int start_open(enum fs_op op, const char *path, const char *to,
                      int flags, mode_t mode, int64_t timeout_ms,
                      struct fs_job **job)
{
    if ((path == NULL && op != FS_CLOSE) || (op == FS_RENAME && to == NULL) ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER))
        return -EINVAL;
    weft__task *self = weft__task_self();
    if (self == NULL)
        return -EPERM;
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    if ((*job = job_new(op, path, to)) == NULL)
        return -ENOMEM;
    (*job)->flags = flags;
    (*job)->mode = mode;
    return weft__offload_slow(fs_job_run, *job, fs_job_free, timeout_ms);
}

static int start(enum fs_op op, const char *path, const char *to,
                 int64_t timeout_ms, struct fs_job **job)
{
    return start_open(op, path, to, 0, 0, timeout_ms, job);
}

int weft_fs_stat(const char *path, struct stat *st, int64_t timeout_ms)
{
    struct fs_job *job;

    if (st == NULL)
        return -EINVAL;
    int rc = start(FS_STAT, path, NULL, timeout_ms, &job);
    if (rc < 0)
        return rc;
    rc = job->err;
    if (rc == 0)
        *st = job->st;
    fs_job_free(job, NULL, 0);
    return rc;
}

static int simple(enum fs_op op, const char *path, const char *to,
                  int64_t timeout_ms)
{
    struct fs_job *job;
    int rc = start(op, path, to, timeout_ms, &job);

    if (rc < 0)
        return rc;
    rc = job->err;
    fs_job_free(job, NULL, 0);
    return rc;
}

int weft_fs_rename(const char *from, const char *to, int64_t timeout_ms)
{
    return simple(FS_RENAME, from, to, timeout_ms);
}

int weft_fs_unlink(const char *path, int64_t timeout_ms)
{
    return simple(FS_UNLINK, path, NULL, timeout_ms);
}

int weft_fs_list_dir(const char *path, char ***names, size_t *count,
                     int64_t timeout_ms)
{
    struct fs_job *job;

    if (names != NULL)
        *names = NULL;
    if (count != NULL)
        *count = 0;
    if (names == NULL || count == NULL)
        return -EINVAL;
    int rc = start(FS_LIST, path, NULL, timeout_ms, &job);
    if (rc < 0)
        return rc;
    rc = job->err;
    if (rc == 0) {
        *names = job->names;
        *count = job->count;
        job->names = NULL;
    }
    fs_job_free(job, NULL, 0);
    return rc;
}

int weft__fs_open(const char *path, int flags, mode_t mode, int64_t timeout_ms)
{
    struct fs_job *job;
    int rc = start_open(FS_OPEN, path, NULL, flags, mode, timeout_ms, &job);

    if (rc < 0)
        return rc;
    rc = job->err == 0 ? job->fd : job->err;
    job->fd = -1; /* the caller's */
    fs_job_free(job, NULL, 0);
    return rc;
}

int weft__fs_close(int fd)
{
    struct fs_job *job;
    weft__task *self = weft__task_self();

    /* Closed here when the pool cannot: not on a task, or interrupted
     * before the job ran (fs_job_free closes what it holds). */
    if (self == NULL || (job = job_new(FS_CLOSE, NULL, NULL)) == NULL)
        return close(fd) < 0 && errno != EINTR ? -errno : 0;
    job->fd = fd;
    int rc = weft__offload_slow(fs_job_run, job, fs_job_free, WEFT_FOREVER);
    if (rc < 0)
        return rc == -ECANCELED || rc == -ETIMEDOUT ? 0 : rc;
    rc = job->err;
    fs_job_free(job, NULL, 0);
    return rc;
}
