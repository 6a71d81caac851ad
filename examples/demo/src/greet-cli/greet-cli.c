/* greet-cli: greets everyone named on the command line.
   Usage: greet-cli [--version] [NAME...] */
#include <greet.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    char line[256];
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("greet-cli (libgreet %s)\n", greet_version());
        return 0;
    }
    if (argc == 1) {
        greet_format(line, sizeof line, NULL);
        puts(line);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (greet_format(line, sizeof line, argv[i]) >= (int)sizeof line) {
            fprintf(stderr, "greet-cli: name too long: %s\n", argv[i]);
            return 1;
        }
        puts(line);
    }
    return 0;
}
