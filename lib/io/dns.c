/* Name resolution (weft_getaddrinfo): getaddrinfo(3) off the workers.
 *
 * getaddrinfo blocks, for as long as the resolver takes, and follows
 * nsswitch (files, DNS, mDNS, LDAP...), which no event-driven resolver
 * does; so, like Tokio, libuv and asyncio, weft runs it on the blocking
 * pool. It goes there as a WEFT_JOB_SLOW job: the executor lets at most
 * max_slow threads, half of the pool rounded up unless set otherwise
 * (libuv's rule), run slow jobs at once, so that lookups stalled on an
 * unreachable name server cannot take every thread from quick jobs.
 *
 * A caller that is cancelled, or whose deadline passes, returns at once;
 * a lookup already running cannot be stopped and finishes on its thread,
 * where the job's cleanup frees it and its result. To make that work the
 * job carries everything it reads (copies of host, service and hints),
 * and never fails: it returns itself with getaddrinfo's code inside, so
 * that the only errors weft_run_in_executor returns are its own, and
 * -ECANCELED and -ETIMEDOUT always mean that the cleanup owns the job.
 *
 * Lookups that need no resolver (a numeric address with a numeric port
 * or none) are done inline: getaddrinfo only parses them.
 */
#include "core/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "io/dns.h"
#include "io/offload.h"
#include "sched/task.h"
#include "sched/wait.h"

struct gai_job {
    const char *host;         /* in the same allocation, or NULL */
    const char *service;      /* likewise */
    struct addrinfo hints;    /* the caller's, or the defaults */
    struct addrinfo *res;     /* getaddrinfo's answer */
    int gai_rc;               /* getaddrinfo's return value */
    int sys_err;              /* errno, for EAI_SYSTEM */
};

/* getaddrinfo's code as a negative errno. */
static int errno_of_gai(int gai_rc, int sys_err)
{
    switch (gai_rc) {
    case 0:
        return 0;
    case EAI_NONAME:
    case EAI_SERVICE:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
        return -ENXIO;
    case EAI_AGAIN:
        return -EAGAIN;
    case EAI_MEMORY:
        return -ENOMEM;
    case EAI_FAMILY:
        return -EAFNOSUPPORT;
    case EAI_BADFLAGS:
    case EAI_SOCKTYPE:
        return -EINVAL;
    case EAI_SYSTEM:
        return sys_err > 0 ? -sys_err : -EIO;
    default:
        return -EIO;
    }
}

static void run_getaddrinfo(struct gai_job *job)
{
    job->res = NULL;
    errno = 0;
    job->gai_rc = getaddrinfo(job->host, job->service, &job->hints,
                              &job->res);
    job->sys_err = errno;
    if (job->gai_rc != 0)
        job->res = NULL;
}

/* The job, on a pool thread. */
static void *resolve_job(void *arg)
{
    run_getaddrinfo(arg);
    return arg;
}

/* Frees a job its caller gave up: on the pool thread once the lookup
 * ends (result is the job), or on the caller's when it was dropped
 * unrun (result NULL). */
static void resolve_cleanup(void *arg, void *result, int err)
{
    struct gai_job *job = arg;

    (void)result;
    (void)err;
    if (job->res != NULL)
        freeaddrinfo(job->res);
    weft__free(job);
}

int weft__service_port(const char *service)
{
    long port = 0;
    const char *p = service;

    if (*p == '\0')
        return -EINVAL;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -ENOENT;
        if (port <= 65535)
            port = port * 10 + (*p - '0');
    }
    return port <= 65535 ? (int)port : -EINVAL;
}

static bool numeric_host(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 ||
           inet_pton(AF_INET6, host, buf) == 1;
}

/* Whether getaddrinfo can answer without a resolver, a file or the
 * network; if so, sets the flags that make sure of it. */
static bool inline_ok(struct addrinfo *hints, const char *host,
                      const char *service)
{
    bool host_ok = host == NULL || (hints->ai_flags & AI_NUMERICHOST) ||
                   (numeric_host(host) &&
                    /* A canonical name for an address would be a reverse
                     * lookup. */
                    !(hints->ai_flags & AI_CANONNAME));
    bool serv_ok = service == NULL || (hints->ai_flags & AI_NUMERICSERV) ||
                   weft__service_port(service) >= 0;

    if (!host_ok || !serv_ok)
        return false;
    if (host != NULL)
        hints->ai_flags |= AI_NUMERICHOST;
    if (service != NULL)
        hints->ai_flags |= AI_NUMERICSERV;
    return true;
}

static struct gai_job *job_new(const char *host, const char *service,
                               const struct addrinfo *hints)
{
    size_t hlen = host != NULL ? strlen(host) + 1 : 0;
    size_t slen = service != NULL ? strlen(service) + 1 : 0;
    struct gai_job *job = weft__malloc(sizeof *job + hlen + slen);

    if (job == NULL)
        return NULL;
    char *p = (char *)(job + 1);
    job->host = host != NULL ? memcpy(p, host, hlen) : NULL;
    job->service = service != NULL ? memcpy(p + hlen, service, slen) : NULL;
    memset(&job->hints, 0, sizeof job->hints);
    if (hints != NULL) {
        job->hints.ai_flags = hints->ai_flags;
        job->hints.ai_family = hints->ai_family;
        job->hints.ai_socktype = hints->ai_socktype;
        job->hints.ai_protocol = hints->ai_protocol;
    } else {
        job->hints.ai_family = AF_UNSPEC;
        job->hints.ai_socktype = SOCK_STREAM;
    }
    job->res = NULL;
    job->gai_rc = 0;
    job->sys_err = 0;
    return job;
}

/* Hands the job's answer over (and frees the job). */
static int job_finish(struct gai_job *job, struct addrinfo **res)
{
    int rc = errno_of_gai(job->gai_rc, job->sys_err);

    if (rc == 0) {
        *res = job->res;
        job->res = NULL;
    }
    resolve_cleanup(job, NULL, 0);
    return rc;
}

/* On the blocking pool, under the caller's deadline scopes. */
static int resolve_offloaded(struct gai_job *job, struct addrinfo **res,
                             int64_t timeout_ms)
{
    int rc = weft__offload_slow(resolve_job, job, resolve_cleanup, timeout_ms);

    return rc < 0 ? rc : job_finish(job, res);
}

int weft_getaddrinfo(const char *host, const char *service,
                     const struct addrinfo *hints, struct addrinfo **res,
                     int64_t timeout_ms)
{
    if (res != NULL)
        *res = NULL;
    if (res == NULL || (host == NULL && service == NULL) ||
        (timeout_ms < 0 && timeout_ms != WEFT_FOREVER) ||
        (service != NULL && weft__service_port(service) == -EINVAL))
        return -EINVAL;
    weft__task *self = weft__task_self();
    if (self == NULL)
        return -EPERM;
    int rc = weft__check_interrupt(self);
    if (rc < 0)
        return rc;
    struct gai_job *job = job_new(host, service, hints);
    if (job == NULL)
        return -ENOMEM;
    if (inline_ok(&job->hints, host, service)) {
        run_getaddrinfo(job);
        return job_finish(job, res);
    }
    return resolve_offloaded(job, res, timeout_ms);
}

void weft_freeaddrinfo(struct addrinfo *res)
{
    if (res != NULL)
        freeaddrinfo(res);
}
