/* Intrusive lists: the links live in the listed records, so adding or
 * removing one allocates nothing.
 *
 * weft__list is circular and doubly linked, with a sentinel head (Linux's
 * list_head, libuv's uv__queue): an empty list is a head pointing at
 * itself, and removing a link needs no head. A head must not move once
 * initialised, since links point at it.
 *
 * weft__fifo is singly linked with a tail pointer, for queues that only
 * append and take from the front (ready tasks, callbacks due): one word
 * per record.
 *
 * Neither is thread-safe: whoever owns the list serialises access.
 */
#ifndef WEFT_CORE_LIST_H
#define WEFT_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/internal.h"

struct weft__list {
    struct weft__list *next;
    struct weft__list *prev;
};

/* The record holding link, of type type, where link is its member. */
#define weft__list_entry(link, type, member) WEFT__CONTAINER_OF(link, type, member)

/* For each link of head, front to back; the body must not remove it (use
 * the _safe form, which reads the next link first, for that). */
#define weft__list_foreach(it, head)                                          \
    for ((it) = (head)->next; (it) != (head); (it) = (it)->next)
#define weft__list_foreach_safe(it, tmp, head)                                \
    for ((it) = (head)->next, (tmp) = (it)->next; (it) != (head);             \
         (it) = (tmp), (tmp) = (it)->next)

static inline void weft__list_init(struct weft__list *head)
{
    head->next = head;
    head->prev = head;
}

static inline bool weft__list_empty(const struct weft__list *head)
{
    return head->next == head;
}

/* The first link, or NULL if the list is empty. */
static inline struct weft__list *weft__list_first(const struct weft__list *head)
{
    return head->next != head ? head->next : NULL;
}

static inline void weft__list_insert_between(struct weft__list *link,
                                             struct weft__list *prev,
                                             struct weft__list *next)
{
    link->prev = prev;
    link->next = next;
    prev->next = link;
    next->prev = link;
}

static inline void weft__list_push_back(struct weft__list *head,
                                        struct weft__list *link)
{
    weft__list_insert_between(link, head->prev, head);
}

static inline void weft__list_push_front(struct weft__list *head,
                                         struct weft__list *link)
{
    weft__list_insert_between(link, head, head->next);
}

/* Unlinks link from whatever list holds it; it is left pointing at
 * itself, so a second remove does nothing. */
static inline void weft__list_remove(struct weft__list *link)
{
    link->prev->next = link->next;
    link->next->prev = link->prev;
    link->next = link;
    link->prev = link;
}

/* Moves every link of from to the back of to; from is left empty. */
static inline void weft__list_splice(struct weft__list *to,
                                     struct weft__list *from)
{
    if (weft__list_empty(from))
        return;
    struct weft__list *first = from->next, *last = from->prev;
    first->prev = to->prev;
    to->prev->next = first;
    last->next = to;
    to->prev = last;
    weft__list_init(from);
}

/* --- FIFO ------------------------------------------------------------------ */

struct weft__slink {
    struct weft__slink *next;
};

struct weft__fifo {
    struct weft__slink *head; /* the oldest, or NULL */
    struct weft__slink *tail; /* the newest, when head is not NULL */
};

static inline void weft__fifo_init(struct weft__fifo *q)
{
    q->head = NULL;
    q->tail = NULL;
}

static inline bool weft__fifo_empty(const struct weft__fifo *q)
{
    return q->head == NULL;
}

static inline void weft__fifo_push(struct weft__fifo *q, struct weft__slink *link)
{
    link->next = NULL;
    if (q->head != NULL)
        q->tail->next = link;
    else
        q->head = link;
    q->tail = link;
}

/* Takes the oldest link, or returns NULL. */
static inline struct weft__slink *weft__fifo_pop(struct weft__fifo *q)
{
    struct weft__slink *link = q->head;
    if (link != NULL) {
        q->head = link->next;
        link->next = NULL;
    }
    return link;
}

/* Appends the n links of the chain first..last (linked through next). */
static inline void weft__fifo_push_chain(struct weft__fifo *q,
                                         struct weft__slink *first,
                                         struct weft__slink *last)
{
    last->next = NULL;
    if (q->head != NULL)
        q->tail->next = first;
    else
        q->head = first;
    q->tail = last;
}

#endif /* WEFT_CORE_LIST_H */
