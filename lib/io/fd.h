/* The descriptors weft_fd_wait has registered, by number. */
#ifndef WEFT_IO_FD_H
#define WEFT_IO_FD_H

/* Frees the table, once the workers' reactors are gone (their
 * registrations point into it). */
void weft__fdtab_destroy(void);

#endif /* WEFT_IO_FD_H */
