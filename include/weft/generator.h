/* weft: generators, the async iterators of asyncio (async def with
 * yield, consumed by async for).
 *
 * A producer task hands out values one at a time with
 * weft_generator_yield; a consumer pulls them:
 *
 *     void *v;
 *     int rc;
 *     while ((rc = weft_generator_next(gen, &v)) == 0)
 *         use(v);
 *     // rc: -ENODATA once the producer returned, or its error
 *     weft_generator_destroy(gen);
 *
 * The producer starts at the first weft_generator_next and runs only
 * while a value is asked for: after each yield it waits for the next
 * request, which is the backpressure. Destroying the generator cancels a
 * producer that is still running (its weft_generator_yield returns
 * -ECANCELED) and awaits it, as asyncio's aclose() does. Values are passed
 * as they are; ownership passes with them.
 */
#ifndef WEFT_GENERATOR_H
#define WEFT_GENERATOR_H

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_generator weft_generator;

/* The producer: yields values with weft_generator_yield(gen, ...) and
 * returns NULL when done, or weft_fail(err, ...) to end with an error. */
typedef void *(*weft_generator_fn)(weft_generator *gen, void *arg);

/* Creates a generator whose producer will run fn(gen, arg) as a task
 * (opts as weft_spawn_ex's, may be NULL). Nothing runs yet. Returns 0,
 * -EINVAL or -ENOMEM. */
WEFT_EXPORT int weft_generator_create(weft_generator **gen,
                                      weft_generator_fn fn, void *arg,
                                      const weft_spawn_opts *opts);

/* Asks for the next value and waits for it. Returns 0 with *value set;
 * -ENODATA when the producer has returned (and on every later call); the
 * producer's error if it failed; -ECANCELED or -ETIMEDOUT if the
 * consumer was interrupted (a value produced meanwhile is kept for the
 * next call); -EINVAL; -EPERM (not in a task); -EDEADLK (called by the
 * producer itself); or the errors of weft_spawn at the first call. */
WEFT_EXPORT int weft_generator_next(weft_generator *gen, void **value);

/* In the producer: hands value to the consumer that asked, then waits
 * until the next value is asked for. Returns 0 once the value is the
 * consumer's, even if the wait for the next request was cut short by a
 * cancellation (which stays pending). Returns -ECANCELED (or -ETIMEDOUT,
 * a deadline of the producer's) without taking the value, which stays the
 * producer's: the generator is being destroyed, and the producer should
 * clean up and return. -EINVAL; -EPERM if not called by gen's producer. */
WEFT_EXPORT int weft_generator_yield(weft_generator *gen, void *value);

/* Cancels the producer if it is still running, awaits it, and frees the
 * generator. A value produced for a consumer that was interrupted, and
 * never taken since, is dropped: it is not freed. Returns 0, -EINVAL,
 * -EPERM (not in a task), -EDEADLK (called by the producer) or -EBUSY (a
 * consumer is waiting in weft_generator_next; nothing is done). */
WEFT_EXPORT int weft_generator_destroy(weft_generator *gen);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_GENERATOR_H */
