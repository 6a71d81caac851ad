#!/bin/sh
# motd: prints the message of the day and the date. Needs nothing but a POSIX shell.
set -eu
printf 'Welcome to demo-os.\n'
printf 'Today is %s.\n' "$(date +%A)"
