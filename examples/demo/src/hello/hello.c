/* hello: greets the world with libgreet. */
#include <greet.h>
#include <stdio.h>

int main(void)
{
    char line[128];
    greet_format(line, sizeof line, NULL);
    puts(line);
    return 0;
}
