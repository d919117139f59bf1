/* Child processes (weft/subprocess.h): what the runtime's end needs. */
#ifndef WEFT_IO_SUBPROCESS_H
#define WEFT_IO_SUBPROCESS_H

/* Reaps the closed children that have ended since, and lets go of the
 * others (their pidfds are closed; they run on, unreaped). Once no task
 * runs, at the runtime's end. */
void weft__subprocess_orphans_end(void);

#endif /* WEFT_IO_SUBPROCESS_H */
