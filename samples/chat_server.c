/* chat_server: a chat room; every line a member sends goes to the others.
 *
 *     members = set()
 *     async def member(reader, writer):
 *         name = (await reader.readline()).strip()
 *         members.add(writer); writer.write(b"welcome\n")
 *         while line := await reader.readline():
 *             for w in members - {writer}: w.write(name + b": " + line)
 *         members.discard(writer)
 *
 * The room is a list of members under a weft lock. A member's line is
 * written to each other member's stream while the lock is held, so that
 * only one task writes to a stream at a time (a stream takes one writer
 * at once) and every member sees the lines in one order. A write only
 * queues the bytes unless a member has 64 KiB unread; a slow member
 * would then hold up the room, where a real server gives each member an
 * outbox queue and a writer task of its own.
 *
 * Four clients in the same program join (send a name, wait for
 * "welcome"), wait until all have joined, send three lines each, and
 * read until they have every other member's lines, in the order each
 * sent them. Then they leave, and the server is stopped.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <weft.h>

#include "net.h"

#define MEMBERS 4
#define LINES 3
#define TIMEOUT_MS 10000

struct member {
    weft_stream *conn;
    char name[32];
    struct member *next;
};

static weft_lock room_lock;
static struct member *room; /* under room_lock */
static weft_barrier all_joined;

/* The server's side: one task per member. */
static int member(weft_stream *conn, void *arg)
{
    struct member me = { .conn = conn };
    char line[256], msg[300];
    int rc;

    (void)arg;
    ssize_t n = weft_stream_read_line(conn, me.name, sizeof me.name, TIMEOUT_MS);
    if (n <= 1)
        return n < 0 ? (int)n : 0;
    me.name[n - 1] = '\0';
    WEFT_WITH_LOCK(&room_lock, rc) {
        me.next = room;
        room = &me;
        rc = weft_stream_write(conn, "welcome\n", 8, TIMEOUT_MS);
    }
    while (rc >= 0 &&
           (n = weft_stream_read_line(conn, line, sizeof line, TIMEOUT_MS)) > 0) {
        int len = snprintf(msg, sizeof msg, "%s: %.*s", me.name, (int)n, line);
        WEFT_WITH_LOCK(&room_lock, rc) {
            for (struct member *m = room; m != NULL; m = m->next) {
                if (m != &me)
                    (void)weft_stream_write(m->conn, msg, (size_t)len, TIMEOUT_MS);
            }
        }
    }
    /* Leaving, also when cancelled: the lock is taken shielded. */
    WEFT_WITH_SHIELD(rc) {
        weft_lock_acquire(&room_lock, WEFT_FOREVER);
        for (struct member **p = &room; *p != NULL; p = &(*p)->next) {
            if (*p == &me) {
                *p = me.next;
                break;
            }
        }
        weft_lock_release(&room_lock);
    }
    return n < 0 ? (int)n : 0;
}

/* A client: joins, talks, checks what it hears. */
static void *client(void *arg)
{
    int port = client_port(arg), id = client_id(arg);
    int next[MEMBERS] = { 0 }; /* the next line expected from each */
    char line[300], want[300];
    weft_stream *conn;

    int rc = dial_local(&conn, port, TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "client %d: connect", id);
    int n = snprintf(line, sizeof line, "member%d\n", id);
    rc = weft_stream_write(conn, line, (size_t)n, TIMEOUT_MS);
    if (rc == 0 && weft_stream_read_line(conn, line, sizeof line, TIMEOUT_MS) != 8)
        rc = WEFT_EPIPE;
    if (rc == 0) {
        rc = weft_barrier_wait(&all_joined, TIMEOUT_MS);
        rc = rc >= 0 ? 0 : rc;
    }
    for (int i = 0; i < LINES && rc == 0; i++) {
        n = snprintf(line, sizeof line, "line %d\n", i);
        rc = weft_stream_write(conn, line, (size_t)n, TIMEOUT_MS);
    }
    for (int heard = 0; heard < (MEMBERS - 1) * LINES && rc == 0; heard++) {
        ssize_t got = weft_stream_read_line(conn, line, sizeof line - 1,
                                            TIMEOUT_MS);
        int from;
        if (got > 0)
            line[got] = '\0'; /* a line read is not a C string */
        if (got <= 0 || sscanf(line, "member%d:", &from) != 1 || from < 0 ||
            from >= MEMBERS || from == id || next[from] >= LINES) {
            rc = got < 0 ? (int)got : WEFT_EPIPE;
            break;
        }
        n = snprintf(want, sizeof want, "member%d: line %d\n", from, next[from]++);
        if (got != n || memcmp(line, want, (size_t)n) != 0)
            rc = WEFT_EPIPE;
    }
    weft_stream_close(conn, TIMEOUT_MS);
    if (rc < 0)
        return weft_fail(rc, "client %d: heard wrong", id);
    printf("member%d heard all %d lines of the %d others\n", id, LINES,
           MEMBERS - 1);
    return NULL;
}

static void *amain(void *arg)
{
    weft_server *server;
    int rc;

    (void)arg;
    weft_lock_init(&room_lock);
    weft_barrier_init(&all_joined, MEMBERS);
    rc = weft_server_start(&server, "127.0.0.1", "0", member, NULL, NULL);
    if (rc < 0)
        return weft_fail(rc, "start_server: %s", weft_strerror(rc));
    int port = weft_server_port(server);
    printf("chat room on 127.0.0.1:%d\n", port);
    rc = run_clients(client, port, MEMBERS);
    /* Everyone has left: nothing to wait for. */
    weft_server_stop(server, 5000);
    weft_server_destroy(server);
    weft_barrier_destroy(&all_joined);
    weft_lock_destroy(&room_lock);
    if (rc < 0)
        return weft_fail(rc, "chat failed");
    printf("%d members, %d lines each, all heard\n", MEMBERS, LINES);
    return NULL;
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "chat_server: %s\n", weft_strerror(rc));
        return 1;
    }
    return 0;
}
