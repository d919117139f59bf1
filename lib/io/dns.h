/* What lib/io/connect.c shares with lib/io/dns.c. */
#ifndef WEFT_IO_DNS_H
#define WEFT_IO_DNS_H

/* The port a numeric service (all digits) names, 0..65535; -ENOENT for a
 * service name (not all digits, to look up); -EINVAL for an empty string
 * or digits beyond 65535. service is not NULL. */
int weft__service_port(const char *service);

#endif /* WEFT_IO_DNS_H */
