/* The version of the library that is linked. */
#include "core/internal.h"

unsigned weft_version(void)
{
    return WEFT_VERSION_HEX;
}

const char *weft_version_string(void)
{
    return WEFT_VERSION_STRING;
}
