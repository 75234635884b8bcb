/* cli.h - what the recur command's subcommands share: option parsing and
 * one-line errors. */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include "recur.h"

/* One option of a command. Flags (kind CLI_FLAG) take no value. */
typedef enum { CLI_STRING, CLI_INT, CLI_FLOAT, CLI_FLAG } cli_kind;

typedef struct cli_option {
    const char *name;  /* without the dashes: "input" for --input */
    cli_kind kind;
    void *value;       /* const char **, int *, float *, or int * for flags */
    const char *help;
} cli_option;

/* Parses argv[first..] against opts ("--name VALUE" or "--name=VALUE").
 * Words that are not options are returned in positional[] (at most
 * max_pos; *n_pos set). Returns 0, or prints a one-line error naming the
 * command and returns 2. "--help" prints the usage and returns 1. */
int cli_parse(const char *cmd, const char *usage, const cli_option *opts, int argc, char **argv,
              int first, const char **positional, int max_pos, int *n_pos);

/* Prints "recur CMD: message" on stderr and returns 1 (the exit code). */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The subcommands: each takes the whole argv, returns the exit code. */
int cmd_run(int argc, char **argv);

#endif
