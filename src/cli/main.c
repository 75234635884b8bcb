/* main.c - the recur command. */
#include "cli.h"
#include "../plot/plot.h"

#include "../tasks/tag.h"
#include "../tasks/treenet.h"
#include "../tasks/asr.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: recur COMMAND [options]\n"
            "\n"
            "commands:\n"
            "  train TASK   train a model (recur train --help lists the tasks)\n"
            "  eval         evaluate a model on a data file\n"
            "  sample       generate text from a language model\n"
            "  tag          tag text with a trained tagger (named entities)\n"
            "  compose      generate a piece of music (MIDI) from a music model\n"
            "  tree         predict sentiment at every node of sentences or trees\n"
            "  classify     label sequences with a trained classifier\n"
            "  translate    translate sentences with a translation model\n"
            "  transcribe   the digits spoken in sound files (a speech model)\n"
            "  run          run a recurrent-layer model file on .npy arrays\n"
            "  version      print the version and the matrix-multiply backend\n"
            "\n"
            "recur COMMAND --help tells more about each command.\n");
}

static int dispatch(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("recur %s (matrix multiply: %s)\n", RC_VERSION, rc_blas_name());
        return 0;
    }
    if (!strcmp(argv[1], "run")) return cmd_run(argc, argv);
    if (!strcmp(argv[1], "train")) return cmd_train(argc, argv);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[1], "sample")) return cmd_sample(argc, argv);
    if (!strcmp(argv[1], "tag")) return cmd_tag(argc, argv);
    if (!strcmp(argv[1], "compose")) return cmd_compose(argc, argv);
    if (!strcmp(argv[1], "tree")) return cmd_tree(argc, argv);
    if (!strcmp(argv[1], "classify")) return cmd_classify(argc, argv);
    if (!strcmp(argv[1], "translate")) return cmd_translate(argc, argv);
    if (!strcmp(argv[1], "transcribe")) return cmd_transcribe(argc, argv);
    fprintf(stderr, "recur: unknown command '%s' (see recur --help)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);
    plot_release_caches(); /* cairo's and fontconfig's caches: no leak reports */
    return rc;
}
