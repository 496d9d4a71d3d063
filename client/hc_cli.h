/*
 * hc_cli.h: the hotconf command line's one entry point, called by
 * server/main.c for every first argument other than `serve` and `version`.
 * Single-threaded apart from `watch`, which runs libhotconf's watch thread.
 */
#ifndef HC_CLI_H
#define HC_CLI_H

/* Runs `hotconf <command> ...` (argv[0] is the program) and returns the exit
 * code: 0 ok, 1 other error, 2 usage, 3 not found, 4 conflict or failed
 * precondition, 5 unavailable (no server answered). */
int hc_cli_main(int argc, char **argv);

#endif
