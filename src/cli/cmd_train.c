/* cmd_train.c - `recur train TASK`, `recur eval MODEL DATA` and
 * `recur sample MODEL`: each hands over to the task the model is for. */
#include "cli.h"

#include "../tasks/classify.h"
#include "../tasks/asr.h"
#include "../tasks/forecast.h"
#include "../tasks/lm.h"
#include "../tasks/tag.h"
#include "../tasks/music.h"
#include "../tasks/treenet.h"
#include "../tasks/translate.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name, *summary;
    int (*train)(int argc, char **argv);
} tasks[] = {
    {"lm", "language model over characters or words (next-token prediction)", cmd_train_lm},
    {"forecast", "time-series forecasting from a CSV column (next values of a series)",
     cmd_train_forecast},
    {"ner", "named entities: a tag per word (BiLSTM-CRF with character features)", cmd_train_ner},
    {"music", "polyphonic music: the next piano-roll frame (88 keys, one sigmoid each)",
     cmd_train_music},
    {"tree", "sentiment at every node of parse trees (recursive networks, SST)", cmd_train_tree},
    {"classify", "sequence classification: SST sentiment, DNA splice junctions, skeleton actions",
     cmd_train_classify},
    {"translate", "machine translation: encoder-decoder with attention on parallel text",
     cmd_train_translate},
    {"asr", "speech recognition of spoken digits (CTC or classification)", cmd_train_asr},
};
#define N_TASKS (int)(sizeof tasks / sizeof tasks[0])

int cmd_train(int argc, char **argv)
{
    if (argc < 3 || !strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) {
        printf("usage: recur train TASK [options]   (recur train TASK --help for the options)\n\n"
               "tasks:\n");
        for (int i = 0; i < N_TASKS; i++) printf("  %-10s %s\n", tasks[i].name, tasks[i].summary);
        return argc < 3 ? 2 : 0;
    }
    for (int i = 0; i < N_TASKS; i++)
        if (!strcmp(argv[2], tasks[i].name)) return tasks[i].train(argc, argv);
    return cli_error("train", "unknown task '%s' (see recur train --help)", argv[2]);
}

/* Opens a model file and says which task it belongs to. */
static rc_safetensors *open_model(const char *cmd, const char *path, const char **kind)
{
    rc_safetensors *st;
    if (rc_safetensors_open(path, &st) != RC_OK) {
        cli_error(cmd, "%s", rc_last_error());
        return NULL;
    }
    const char *fmt = rc_safetensors_meta(st, "format");
    *kind = rc_safetensors_meta(st, "kind");
    if (!fmt || strcmp(fmt, "recur") || !*kind) {
        cli_error(cmd, "%s: not a recur model file (no format/kind metadata)", path);
        rc_safetensors_close(st);
        return NULL;
    }
    return st;
}

/* Is the file a model of this kind? (Quietly: no error printed.) */
static int model_is(const char *path, const char *kind)
{
    rc_safetensors *st;
    if (rc_safetensors_open(path, &st) != RC_OK) return 0;
    const char *k = rc_safetensors_meta(st, "kind");
    int is = k && !strcmp(k, kind);
    rc_safetensors_close(st);
    rc_clear_error();
    return is;
}

int cmd_eval(int argc, char **argv)
{
    /* Translation models take their own options (--ref, --beam, ...). */
    if (argc >= 3 && argv[2][0] != '-' && model_is(argv[2], "translate"))
        return translate_eval(argc, argv);
    int batch = 32, bptt = 64, json = 0, threads = 0;
    float tail = 0;
    const char *split = NULL, *confusion = NULL;
    cli_option opts[] = {
        {"last-fraction", CLI_FLOAT, &tail,
         "evaluate only the last fraction of DATA (as train's --valid-fraction)"},
        {"batch", CLI_INT, &batch, "sequences evaluated side by side (default 32)"},
        {"bptt", CLI_INT, &bptt, "steps per window (language models; default 64)"},
        {"split", CLI_STRING, &split,
         "music: the key of DATA's pieces; speech: test | valid | all recordings (default test)"},
        {"confusion", CLI_STRING, &confusion,
         "classifiers: also draw the confusion matrix into this PNG"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {"json", CLI_FLAG, &json, "print the metrics as one JSON line"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[2];
    int n_pos;
    int r = cli_parse("eval", "usage: recur eval MODEL DATA [options]\n\n"
                              "Evaluates a trained model on a data file and prints its metrics.\n",
                      opts, argc, argv, 2, pos, 2, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos != 2) return cli_error("eval", "give a model and a data file (see recur eval --help)");
    if (batch < 1 || bptt < 1) return cli_error("eval", "--batch and --bptt must be at least 1");
    if (!(tail >= 0 && tail < 1)) return cli_error("eval", "--last-fraction must be in [0, 1)");
    if (threads > 0) rc_set_threads(threads);
    const char *kind;
    rc_safetensors *st = open_model("eval", pos[0], &kind);
    if (!st) return 1;
    int ret;
    if (confusion && strcmp(kind, "classify"))
        ret = cli_error("eval", "--confusion is for classifiers; %s is a model of kind '%s'", pos[0],
                        kind);
    else if (!strcmp(kind, "lm"))
        ret = lm_eval("eval", st, pos[1], tail, batch, bptt, json);
    else if (!strcmp(kind, "forecast"))
        ret = forecast_eval("eval", st, pos[1], tail, json);
    else if (!strcmp(kind, "tagger"))
        ret = tag_eval("eval", st, pos[1], batch, json);
    else if (!strcmp(kind, "music"))
        ret = music_eval("eval", st, pos[1], split, batch, json);
    else if (!strcmp(kind, "tree"))
        ret = treenet_eval("eval", st, pos[1], batch, json);
    else if (!strcmp(kind, "classify"))
        ret = classify_eval("eval", st, pos[1], json, confusion);
    else if (!strcmp(kind, "asr"))
        ret = asr_eval("eval", st, pos[1], split, batch, json);
    else
        ret = cli_error("eval", "%s: a model of kind '%s' cannot be evaluated here", pos[0], kind);
    rc_safetensors_close(st);
    return ret;
}

int cmd_sample(int argc, char **argv)
{
    const char *prime = NULL;
    int length = 500, top_k = 0, seed = 1, threads = 0;
    float temperature = 1.0f;
    cli_option opts[] = {
        {"prime", CLI_STRING, &prime, "text to start from"},
        {"length", CLI_INT, &length, "tokens to generate (default 500)"},
        {"temperature", CLI_FLOAT, &temperature, "below 1: safer, above 1: wilder (default 1)"},
        {"top-k", CLI_INT, &top_k, "draw only from the k likeliest tokens (0: all)"},
        {"seed", CLI_INT, &seed, "random seed (the same seed gives the same text)"},
        {"threads", CLI_INT, &threads, "threads (default: all cores)"},
        {NULL, CLI_FLAG, NULL, NULL}};
    const char *pos[1];
    int n_pos;
    int r = cli_parse("sample", "usage: recur sample MODEL [options]\n\n"
                                "Generates text from a trained language model.\n",
                      opts, argc, argv, 2, pos, 1, &n_pos);
    if (r) return r == 1 ? 0 : r;
    if (n_pos != 1) return cli_error("sample", "give one model file (see recur sample --help)");
    if (length < 1) return cli_error("sample", "--length must be at least 1");
    if (!(temperature > 0)) return cli_error("sample", "--temperature must be positive");
    if (top_k < 0) return cli_error("sample", "--top-k must be >= 0");
    if (threads > 0) rc_set_threads(threads);
    const char *kind;
    rc_safetensors *st = open_model("sample", pos[0], &kind);
    if (!st) return 1;
    int ret;
    if (!strcmp(kind, "lm"))
        ret = lm_sample("sample", st, prime, length, temperature, top_k, seed);
    else
        ret = cli_error("sample", "%s: a model of kind '%s' does not generate text", pos[0], kind);
    rc_safetensors_close(st);
    return ret;
}
