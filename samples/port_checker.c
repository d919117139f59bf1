/* port_checker: which ports of 127.0.0.1 take connections, checked
 * concurrently, at most a few at a time, each with a time limit.
 *
 *     sem = asyncio.Semaphore(4)
 *     async def check(port):
 *         async with sem:
 *             try:
 *                 async with asyncio.timeout(0.5):
 *                     _, w = await asyncio.open_connection("127.0.0.1", port)
 *                 w.close(); return "open"
 *             except ConnectionRefusedError: return "closed"
 *             except TimeoutError: return "no answer"
 *     results = await asyncio.gather(*(check(p) for p in ports))
 *
 * So that the answer is known, the program first takes 16 ports for
 * itself: it binds a socket to each, and listens on every fifth one. A port bound but not listening refuses
 * connections, and nothing else can listen there meanwhile. It then
 * checks them with 16 tasks, four at a time (a weft semaphore), and
 * compares what it found with what it set up.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#define PORTS 16
#define AT_ONCE 4
#define CONNECT_MS 500

static weft_semaphore slots;
static int checking, most_checking; /* tasks inside the semaphore */

enum result { OPEN, CLOSED, NO_ANSWER, FAILED };
static const char *const names[] = { "open", "closed", "no answer", "failed" };

struct check {
    int port;
    enum result result;
    int err;
};

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void *check_port(void *arg)
{
    struct check *c = arg;
    struct sockaddr_in addr = loopback(c->port);
    weft_socket *sock;
    int rc;

    WEFT_WITH_SEMAPHORE(&slots, rc) {
        int now = __atomic_add_fetch(&checking, 1, __ATOMIC_RELAXED);
        int most = __atomic_load_n(&most_checking, __ATOMIC_RELAXED);
        while (now > most && !__atomic_compare_exchange_n(
                                 &most_checking, &most, now, false,
                                 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            ;
        rc = weft_socket_open(&sock, AF_INET, SOCK_STREAM, 0);
        if (rc == 0) {
            rc = weft_socket_connect(sock, (struct sockaddr *)&addr,
                                     sizeof addr, CONNECT_MS);
            weft_socket_close(sock);
        }
        __atomic_sub_fetch(&checking, 1, __ATOMIC_RELAXED);
    }
    c->err = rc;
    c->result = rc == 0                ? OPEN
                : rc == WEFT_ECONNREFUSED ? CLOSED
                : rc == WEFT_ETIMEDOUT    ? NO_ANSWER
                                          : FAILED;
    return NULL;
}

/* Takes PORTS ports, each one the kernel picks as free (consecutive
 * ones may be in use by others on a busy machine), and stores them in
 * ports[]. Returns 0 or a negative error code. */
static int take_ports(weft_socket *socks[PORTS], int ports[PORTS])
{
    for (int n = 0; n < PORTS; n++) {
        struct sockaddr_in addr = loopback(0);
        int rc = weft_socket_open(&socks[n], AF_INET, SOCK_STREAM, 0);
        if (rc == 0)
            rc = weft_socket_bind(socks[n], (struct sockaddr *)&addr,
                                  sizeof addr);
        if (rc == 0)
            rc = ports[n] = weft_socket_port(socks[n]);
        if (rc < 0) {
            if (socks[n] != NULL)
                weft_socket_close(socks[n]);
            while (n-- > 0)
                weft_socket_close(socks[n]);
            return rc;
        }
    }
    return 0;
}

static void *amain(void *arg)
{
    weft_socket *socks[PORTS];
    weft_task *tasks[PORTS];
    struct check checks[PORTS];
    int rc, n = 0, wrong = 0;

    (void)arg;
    int ports[PORTS];
    rc = take_ports(socks, ports);
    if (rc < 0)
        return weft_fail(rc, "no %d free ports", PORTS);
    for (int i = 0; i < PORTS && rc == 0; i += 5)
        rc = weft_socket_listen(socks[i], 0);
    weft_semaphore_init(&slots, AT_ONCE);
    for (; n < PORTS && rc == 0; n++) {
        checks[n] = (struct check){ .port = ports[n], .result = FAILED };
        rc = weft_spawn(&tasks[n], check_port, &checks[n]);
    }
    if (rc < 0)
        n--;
    weft_outcome out[PORTS];
    weft_gather(tasks, (size_t)n, WEFT_GATHER_COLLECT, out);
    for (int i = 0; i < n; i++) {
        enum result want = i % 5 == 0 ? OPEN : CLOSED;
        printf("127.0.0.1:%d %-9s%s\n", checks[i].port, names[checks[i].result],
               checks[i].result == want ? "" : "  (unexpected)");
        wrong += checks[i].result != want;
        weft_task_unref(tasks[i]);
    }
    for (int i = 0; i < PORTS; i++)
        weft_socket_close(socks[i]);
    weft_semaphore_destroy(&slots);
    printf("%d ports checked, at most %d at once\n", n, most_checking);
    if (rc < 0)
        return weft_fail(rc, "spawn: %s", weft_strerror(rc));
    if (wrong > 0 || most_checking > AT_ONCE)
        return weft_fail(WEFT_EPIPE, "%d ports not as set up", wrong);
    return NULL;
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "port_checker: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
