/* weft_strerror() and weft_err_name(), generated from WEFT_ERRNO_MAP. */
#include "core/internal.h"

const char *weft_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define WEFT__STRERROR_CASE(name, msg)                                        \
    case WEFT_##name:                                                         \
        return msg;
        WEFT_ERRNO_MAP(WEFT__STRERROR_CASE)
#undef WEFT__STRERROR_CASE
    default:
        return "unknown error";
    }
}

const char *weft_err_name(int err)
{
    switch (err) {
    case 0:
        return "OK";
#define WEFT__ERR_NAME_CASE(name, msg)                                        \
    case WEFT_##name:                                                         \
        return #name;
        WEFT_ERRNO_MAP(WEFT__ERR_NAME_CASE)
#undef WEFT__ERR_NAME_CASE
    default:
        return "UNKNOWN";
    }
}
