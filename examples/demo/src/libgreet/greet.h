/* libgreet: builds greetings. */
#ifndef GREET_H
#define GREET_H

#include <stddef.h>

/* Writes "Hello, NAME!" into buf (at most size bytes, always NUL-terminated).
   Returns the length the full greeting needs, like snprintf. */
int greet_format(char *buf, size_t size, const char *name);

/* The library's version, e.g. "1.0.0". */
const char *greet_version(void);

#endif
