/* cli.c - option parsing and errors for the recur command. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "recur %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static void print_usage(const char *usage, const cli_option *opts)
{
    printf("%s\noptions:\n", usage);
    for (const cli_option *o = opts; o->name; o++) {
        const char *arg = o->kind == CLI_FLAG ? "" : o->kind == CLI_STRING ? " VALUE" : " N";
        char left[64];
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        printf("  %-22s %s\n", left, o->help);
    }
}

static int set_value(const char *cmd, const cli_option *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->kind) {
    case CLI_STRING:
        *(const char **)o->value = v;
        return 0;
    case CLI_INT: {
        long n = strtol(v, &end, 10);
        if (*v == '\0' || *end != '\0' || errno || n < -2147483647L || n > 2147483647L) {
            cli_error(cmd, "--%s needs an integer, got '%s'", o->name, v);
            return 2;
        }
        *(int *)o->value = (int)n;
        return 0;
    }
    case CLI_FLOAT: {
        float f = strtof(v, &end);
        if (*v == '\0' || *end != '\0' || errno) {
            cli_error(cmd, "--%s needs a number, got '%s'", o->name, v);
            return 2;
        }
        *(float *)o->value = f;
        return 0;
    }
    case CLI_FLAG:
        *(int *)o->value = 1;
        return 0;
    }
    return 2;
}

int cli_parse(const char *cmd, const char *usage, const cli_option *opts, int argc, char **argv,
              int first, const char **positional, int max_pos, int *n_pos)
{
    *n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(usage, opts);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*n_pos >= max_pos) {
                cli_error(cmd, "unexpected argument '%s' (see recur %s --help)", a, cmd);
                return 2;
            }
            positional[(*n_pos)++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_option *o = opts;
        while (o->name && (strlen(o->name) != len || strncmp(o->name, name, len))) o++;
        if (!o->name) {
            cli_error(cmd, "unknown option '--%.*s' (see recur %s --help)", (int)len, name, cmd);
            return 2;
        }
        const char *v;
        if (o->kind == CLI_FLAG) {
            if (eq) {
                cli_error(cmd, "--%s takes no value", o->name);
                return 2;
            }
            v = "";
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            cli_error(cmd, "--%s needs a value", o->name);
            return 2;
        }
        int r = set_value(cmd, o, v);
        if (r) return r;
    }
    return 0;
}

void cli_option_format(const cli_option *o, char *buf, size_t n)
{
    switch (o->kind) {
    case CLI_STRING: {
        const char *v = *(const char **)o->value;
        snprintf(buf, n, "%s", v ? v : "");
        break;
    }
    case CLI_INT: snprintf(buf, n, "%d", *(int *)o->value); break;
    case CLI_FLOAT: snprintf(buf, n, "%.9g", (double)*(float *)o->value); break;
    case CLI_FLAG: snprintf(buf, n, "%s", *(int *)o->value ? "true" : "false"); break;
    }
}

int cli_options_from_meta(const char *cmd, const rc_safetensors *st, const char *prefix,
                          const cli_option *opts, char **store)
{
    /* One buffer holds every string value (pointers into it are handed out). */
    size_t total = 1;
    char key[96];
    for (const cli_option *o = opts; o->name; o++) {
        snprintf(key, sizeof key, "%s%s", prefix, o->name);
        const char *v = rc_safetensors_meta(st, key);
        if (v && o->kind == CLI_STRING) total += strlen(v) + 1;
    }
    char *buf = malloc(total), *at = buf;
    if (!buf) return cli_error(cmd, "out of memory");
    *store = buf;
    for (const cli_option *o = opts; o->name; o++) {
        snprintf(key, sizeof key, "%s%s", prefix, o->name);
        const char *v = rc_safetensors_meta(st, key);
        if (!v) continue;
        if (o->kind == CLI_STRING) {
            strcpy(at, v);
            *(const char **)o->value = *at ? at : NULL;
            at += strlen(v) + 1;
        } else if (o->kind == CLI_FLAG) {
            *(int *)o->value = !strcmp(v, "true");
        } else if (set_value(cmd, o, v)) {
            return cli_error(cmd, "%s: bad saved option %s", rc_safetensors_path(st), key);
        }
    }
    return 0;
}
