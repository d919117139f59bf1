/* The functions the process pool can run, by name (weft_process_register).
 *
 * The table uses the C allocator, not weft's: it outlives runtimes, and
 * weft's allocator may be replaced between them. It is frozen while a
 * runtime runs, so that the workers forked from the program at its start
 * hold the same table, and indices mean the same on both sides. */
#include "exec/procpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/thread.h"
#include "sched/runtime.h"

struct entry {
    char name[WEFT_PROCESS_NAME_MAX + 1];
    weft_process_fn fn;
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static unsigned count;

static bool valid_name(const char *name)
{
    return name != NULL && name[0] != '\0' &&
           strnlen(name, WEFT_PROCESS_NAME_MAX + 1) <= WEFT_PROCESS_NAME_MAX;
}

static int find_locked(const char *name)
{
    for (unsigned i = 0; i < count; i++) {
        if (strcmp(table[i].name, name) == 0)
            return (int)i;
    }
    return -ENOENT;
}

int weft_process_register(const char *name, weft_process_fn fn)
{
    int rc = 0;

    if (fn == NULL || !valid_name(name))
        return -EINVAL;
    weft__mutex_lock(&table_lock);
    if (weft__runtime_active()) {
        rc = -EBUSY;
    } else if (find_locked(name) >= 0) {
        rc = -EEXIST;
    } else {
        struct entry *grown = realloc(table, (count + 1) * sizeof *table);
        if (grown == NULL) {
            rc = -ENOMEM;
        } else {
            table = grown;
            strcpy(table[count].name, name);
            table[count].fn = fn;
            count++;
        }
    }
    weft__mutex_unlock(&table_lock);
    return rc;
}

int weft_process_unregister(const char *name)
{
    int rc;

    if (!valid_name(name))
        return -EINVAL;
    weft__mutex_lock(&table_lock);
    if (weft__runtime_active()) {
        rc = -EBUSY;
    } else if ((rc = find_locked(name)) >= 0) {
        memmove(&table[rc], &table[rc + 1],
                (count - (unsigned)rc - 1) * sizeof *table);
        if (--count == 0) {
            free(table);
            table = NULL;
        }
        rc = 0;
    }
    weft__mutex_unlock(&table_lock);
    return rc;
}

void weft__process_freeze(void)
{
    /* register checks for a runtime under the lock: once this has held
     * it, a register in progress has finished, and later ones see the
     * runtime and refuse. */
    weft__mutex_lock(&table_lock);
    weft__mutex_unlock(&table_lock);
}

/* While a runtime runs the table cannot change: no lock is needed. */
unsigned weft__process_fn_count(void)
{
    return count;
}

weft_process_fn weft__process_fn(unsigned index)
{
    return index < count ? table[index].fn : NULL;
}

int weft__process_fn_find(const char *name)
{
    return valid_name(name) ? find_locked(name) : -EINVAL;
}

/* At unload or exit, so that leak checkers see the table freed. */
__attribute__((destructor)) static void free_table(void)
{
    weft__mutex_lock(&table_lock);
    free(table);
    table = NULL;
    count = 0;
    weft__mutex_unlock(&table_lock);
}
