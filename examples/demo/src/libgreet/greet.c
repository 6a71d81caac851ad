#include "greet.h"

#include <stdio.h>

int greet_format(char *buf, size_t size, const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = "world";
    return snprintf(buf, size, "Hello, %s!", name);
}

const char *greet_version(void)
{
    return "1.0.0";
}
