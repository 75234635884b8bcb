/* cli.h - what the recur command's subcommands share: option parsing and
 * one-line errors. */
#ifndef RECUR_CLI_H
#define RECUR_CLI_H

#include "recur.h"

#include <stddef.h>

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

/* An option's current value as text (for saving a run's options). */
void cli_option_format(const cli_option *o, char *buf, size_t n);
/* Sets options from metadata "<prefix><name>" where present (a resumed
 * run takes its checkpoint's options). String values are copied into
 * *store (free it when done). Returns 0, or 1 with an error printed. */
struct rc_safetensors;
int cli_options_from_meta(const char *cmd, const rc_safetensors *st, const char *prefix,
                          const cli_option *opts, char **store);

/* Prints "recur CMD: message" on stderr and returns 1 (the exit code). */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The subcommands: each takes the whole argv, returns the exit code. */
int cmd_run(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_compose(int argc, char **argv);
int cmd_classify(int argc, char **argv); /* src/tasks/classify.c */
int cmd_translate(int argc, char **argv); /* src/tasks/translate.c */

#endif
