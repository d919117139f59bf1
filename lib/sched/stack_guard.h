/* Reporting a task's stack overflow instead of crashing blindly.
 *
 * A task that runs off its stack faults in the guard page below it. The
 * SIGSEGV handler runs on the worker's sigaltstack (the faulting stack has
 * no room left), recognises the guard of the running task, prints
 * "weft: stack overflow in task '<name>'" and aborts. Any other fault goes
 * to the handler that was installed before weft's.
 */
#ifndef WEFT_SCHED_STACK_GUARD_H
#define WEFT_SCHED_STACK_GUARD_H

/* Installs the handler for the life of a runtime. Returns 0 or -errno. */
int weft__overflow_install(void);

/* Puts back the handler that was there before. */
void weft__overflow_uninstall(void);

/* Bytes of sigaltstack each worker thread needs. */
size_t weft__overflow_altstack_size(void);

#endif /* WEFT_SCHED_STACK_GUARD_H */
