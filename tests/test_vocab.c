/* test_vocab.c - text corpora and vocabularies: reading UTF-8 text files
 * (BOM, CRLF, every kind of bad byte), character and word vocabularies
 * (ids, ordering, <unk> and <eos>, min_freq, max_size), encode/decode round
 * trips, the JSON form, and the real corpora when ../shared/data/lm is
 * there. */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LM_DIR RC_SOURCE_DIR "/../shared/data/lm"

/* ---------------------------------------------------------- helpers -- */

/* Each test gets a fresh temporary directory as its state. */
static int make_dir(void **state) { return (*state = test_tmpdir_make("vocab")) ? 0 : -1; }
static int remove_dir(void **state) { return test_tmpdir_remove(*state); }

#define FILE_TEST(f) cmocka_unit_test_setup_teardown(f, make_dir, remove_dir)

/* The message of the last error contains every one of the given strings. */
static void assert_error_has(const char *const *parts, int n)
{
    const char *m = rc_last_error();
    for (int i = 0; i < n; i++)
        if (!strstr(m, parts[i])) fail_msg("error \"%s\" lacks \"%s\"", m, parts[i]);
}
#define ASSERT_ERROR_HAS(...)                                                           \
    do {                                                                                \
        const char *parts_[] = {__VA_ARGS__};                                           \
        assert_error_has(parts_, (int)(sizeof parts_ / sizeof parts_[0]));              \
    } while (0)

static rc_vocab *build(const char *text, rc_text_level level, int min_freq, int max_size)
{
    rc_vocab *v = NULL;
    rc_status s = rc_vocab_build(text, strlen(text), level, min_freq, max_size, &v);
    if (s) fail_msg("vocab_build failed: %s", rc_last_error());
    assert_non_null(v);
    return v;
}

/* The vocabulary's tokens are exactly these, in this order. */
static void assert_tokens(const rc_vocab *v, const char *const *want, int n)
{
    assert_int_equal(rc_vocab_size(v), n);
    for (int i = 0; i < n; i++) {
        const char *t = rc_vocab_token(v, i);
        assert_non_null(t);
        if (strcmp(t, want[i])) fail_msg("token %d is \"%s\", expected \"%s\"", i, t, want[i]);
        assert_int_equal(rc_vocab_id(v, want[i], strlen(want[i])), i);
    }
    assert_null(rc_vocab_token(v, n));
    assert_null(rc_vocab_token(v, -1));
}
#define ASSERT_TOKENS(v, ...)                                                           \
    do {                                                                                \
        const char *want_[] = {__VA_ARGS__};                                            \
        assert_tokens(v, want_, (int)(sizeof want_ / sizeof want_[0]));                 \
    } while (0)

static void encode(const rc_vocab *v, const char *text, int32_t **ids, size_t *n,
                   size_t *n_unk)
{
    rc_status s = rc_vocab_encode(v, text, strlen(text), ids, n, n_unk);
    if (s) fail_msg("vocab_encode failed: %s", rc_last_error());
}

static void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t m)
{
    assert_int_equal(n, m);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("id %zu is %d, expected %d", i, (int)got[i], (int)want[i]);
}
#define ASSERT_IDS(got, n, ...)                                                         \
    do {                                                                                \
        const int32_t want_[] = {__VA_ARGS__};                                          \
        assert_ids(got, n, want_, sizeof want_ / sizeof want_[0]);                      \
    } while (0)

/* ------------------------------------------------------- vocabularies -- */

static void test_char_vocab(void **state)
{
    (void)state;
    /* a 5, b 2, r 2, then count 1: '\n' < 'c' < 'd' in byte order. */
    rc_vocab *v = build("abracadabra\n", RC_TEXT_CHAR, 0, 0);
    assert_int_equal(rc_vocab_level(v), RC_TEXT_CHAR);
    ASSERT_TOKENS(v, "<unk>", "a", "b", "r", "\n", "c", "d");
    assert_int_equal(rc_vocab_id(v, "z", 1), RC_VOCAB_UNK);
    assert_int_equal(rc_vocab_id(v, "ab", 2), RC_VOCAB_UNK);
    assert_int_equal(rc_vocab_id(v, "<unk>", 5), RC_VOCAB_UNK);

    int32_t *ids;
    size_t n, unk;
    encode(v, "cab\nzz", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 5, 1, 2, 4, 0, 0);
    assert_int_equal(unk, 2);
    free(ids);
    /* A literal "<unk>" is five characters in a char vocabulary. */
    encode(v, "<unk>", &ids, &n, &unk);
    assert_int_equal(n, 5);
    assert_int_equal(unk, 5); /* none of < u n k > was seen */
    free(ids);
    /* Text that is not UTF-8 is refused, naming line and column. */
    ids = (int32_t *)1;
    assert_int_equal(rc_vocab_encode(v, "ab\n\xe9t\xe9", 6, &ids, &n, &unk), RC_ERR_FORMAT);
    assert_null(ids);
    ASSERT_ERROR_HAS("vocab_encode: text:2:1:", "0xe9");
    assert_int_equal(rc_vocab_encode(NULL, "ab", 2, &ids, &n, &unk), RC_ERR_ARG);
    assert_int_equal(rc_vocab_encode(v, NULL, 2, &ids, &n, &unk), RC_ERR_ARG);
    rc_vocab_free(v);

    /* Empty text: just <unk>. */
    rc_vocab *e = NULL;
    assert_int_equal(rc_vocab_build("", 0, RC_TEXT_CHAR, 0, 0, &e), RC_OK);
    ASSERT_TOKENS(e, "<unk>");
    rc_vocab_free(e);
}

static void test_word_vocab(void **state)
{
    (void)state;
    /* Lines: "the cat sat", "the dog", "", "the cat <unk>" - four <eos>.
     * the 3, cat 2, then dog and sat (count 1, byte order); the literal
     * <unk> maps to id 0 and is not a token of its own. */
    const char *text = "the cat sat\nthe dog\n\n  the\tcat   <unk>  \n";
    rc_vocab *v = build(text, RC_TEXT_WORD, 0, 0);
    assert_int_equal(rc_vocab_level(v), RC_TEXT_WORD);
    ASSERT_TOKENS(v, "<unk>", "<eos>", "the", "cat", "dog", "sat");

    int32_t *ids;
    size_t n, unk;
    encode(v, text, &ids, &n, &unk);
    ASSERT_IDS(ids, n, 2, 3, 5, 1, 2, 4, 1, 1, 2, 3, 0, 1);
    assert_int_equal(unk, 0);
    free(ids);

    /* Unseen words count as unknown; a last line without '\n' still ends
     * with <eos>, trailing blanks after the last '\n' add nothing. */
    encode(v, "the bird <unk>\nsat", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 2, 0, 0, 1, 5, 1);
    assert_int_equal(unk, 1);
    free(ids);
    encode(v, "dog\n \t ", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 4, 1);
    free(ids);
    encode(v, "", &ids, &n, &unk);
    assert_int_equal(n, 0);
    free(ids);
    /* A literal <eos> is the line-end token. */
    encode(v, "dog <eos>", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 4, 1, 1);
    free(ids);
    /* CR is whitespace for words, so CRLF text gives the same ids. */
    encode(v, "the dog\r\nsat\r\n", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 2, 4, 1, 5, 1);
    free(ids);
    rc_vocab_free(v);

    /* Text of blank lines only: <unk> and <eos>. */
    v = build("\n\n", RC_TEXT_WORD, 0, 0);
    ASSERT_TOKENS(v, "<unk>", "<eos>");
    rc_vocab_free(v);
}

static void test_min_freq_max_size(void **state)
{
    (void)state;
    rc_vocab *v = build("aaabbc", RC_TEXT_CHAR, 2, 0);
    ASSERT_TOKENS(v, "<unk>", "a", "b");
    int32_t *ids;
    size_t n, unk;
    encode(v, "abcx", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 1, 2, 0, 0);
    assert_int_equal(unk, 2);
    free(ids);
    rc_vocab_free(v);

    v = build("aaabbc", RC_TEXT_CHAR, 1, 0);
    ASSERT_TOKENS(v, "<unk>", "a", "b", "c");
    rc_vocab_free(v);
    v = build("aaabbc", RC_TEXT_CHAR, 4, 0);
    ASSERT_TOKENS(v, "<unk>");
    rc_vocab_free(v);
    v = build("aaabbc", RC_TEXT_CHAR, 0, 2);
    ASSERT_TOKENS(v, "<unk>", "a");
    rc_vocab_free(v);
    v = build("aaabbc", RC_TEXT_CHAR, 0, 1);
    ASSERT_TOKENS(v, "<unk>");
    rc_vocab_free(v);
    v = build("aaabbc", RC_TEXT_CHAR, 0, 100);
    ASSERT_TOKENS(v, "<unk>", "a", "b", "c");
    rc_vocab_free(v);

    /* Ties are broken in byte order before the cut: of a, b and c (2
     * each), a and b stay. */
    const char *words = "b a c b a c d\ne";
    v = build(words, RC_TEXT_WORD, 0, 4);
    ASSERT_TOKENS(v, "<unk>", "<eos>", "a", "b");
    rc_vocab_free(v);
    v = build(words, RC_TEXT_WORD, 2, 0);
    ASSERT_TOKENS(v, "<unk>", "<eos>", "a", "b", "c");
    rc_vocab_free(v);
    /* <eos> stays even when lines are rarer than min_freq. */
    v = build(words, RC_TEXT_WORD, 3, 0);
    ASSERT_TOKENS(v, "<unk>", "<eos>");
    rc_vocab_free(v);
    v = build(words, RC_TEXT_WORD, 0, 2);
    ASSERT_TOKENS(v, "<unk>", "<eos>");
    rc_vocab_free(v);

    /* Bad arguments. */
    rc_vocab *bad = (rc_vocab *)&bad;
    assert_int_equal(rc_vocab_build("ab", 2, RC_TEXT_WORD, 0, 1, &bad), RC_ERR_ARG);
    assert_null(bad);
    ASSERT_ERROR_HAS("vocab_build", "max_size 1");
    assert_int_equal(rc_vocab_build("ab", 2, RC_TEXT_CHAR, 0, -1, &bad), RC_ERR_ARG);
    assert_int_equal(rc_vocab_build("ab", 2, RC_TEXT_CHAR, -1, 0, &bad), RC_ERR_ARG);
    ASSERT_ERROR_HAS("min_freq -1");
    assert_int_equal(rc_vocab_build("ab", 2, (rc_text_level)7, 0, 0, &bad), RC_ERR_ARG);
    assert_int_equal(rc_vocab_build(NULL, 2, RC_TEXT_CHAR, 0, 0, &bad), RC_ERR_ARG);
    assert_int_equal(rc_vocab_build("ab", 2, RC_TEXT_CHAR, 0, 0, NULL), RC_ERR_ARG);
    /* Invalid UTF-8 and NUL bytes are refused, with line and column. */
    assert_int_equal(rc_vocab_build("ab\nc\xff", 5, RC_TEXT_WORD, 0, 0, &bad), RC_ERR_FORMAT);
    ASSERT_ERROR_HAS("vocab_build: text:2:2:", "0xff");
    assert_int_equal(rc_vocab_build("a\0b", 3, RC_TEXT_CHAR, 0, 0, &bad), RC_ERR_FORMAT);
    ASSERT_ERROR_HAS("vocab_build: text:1:2:", "NUL");
    assert_null(bad);
}

static void test_utf8_chars(void **state)
{
    (void)state;
    /* é (2 bytes), 日 and 本 (3), 😀 (4): one token each. */
    const char *text = "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\n"
                       "\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\xf0\x9f\x98\x80!\n";
    rc_vocab *v = build(text, RC_TEXT_CHAR, 0, 0);
    /* ' ', é, 😀 (3 each, in byte order); '\n', l (2); ! h o t 日 本 (1). */
    ASSERT_TOKENS(v, "<unk>", " ", "\xc3\xa9", "\xf0\x9f\x98\x80", "\n", "l", "!", "h", "o",
                  "t", "\xe6\x97\xa5", "\xe6\x9c\xac");
    int32_t *ids;
    size_t n, unk;
    encode(v, text, &ids, &n, &unk);
    assert_int_equal(n, 19); /* code points, not bytes */
    assert_int_equal(unk, 0);
    char *back = NULL;
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_OK);
    assert_string_equal(back, text);
    free(back);
    free(ids);
    /* An unseen multi-byte character is one <unk>. */
    encode(v, "\xe6\x97\xa5\xe8\xaa\x9e", &ids, &n, &unk);
    ASSERT_IDS(ids, n, 10, 0);
    assert_int_equal(unk, 1);
    free(ids);
    rc_vocab_free(v);

    /* Words keep multi-byte characters whole, too. */
    v = build("caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac caf\xc3\xa9\n", RC_TEXT_WORD, 0, 0);
    ASSERT_TOKENS(v, "<unk>", "<eos>", "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac");
    rc_vocab_free(v);
}

static void test_round_trip(void **state)
{
    (void)state;
    /* Characters: exactly the text back. */
    const char *text = "First Citizen:\nBefore we proceed, hear me speak.\n\n\tAll: Speak!";
    rc_vocab *v = build(text, RC_TEXT_CHAR, 0, 0);
    int32_t *ids;
    size_t n, unk;
    encode(v, text, &ids, &n, &unk);
    assert_int_equal(n, strlen(text));
    char *back = NULL;
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_OK);
    assert_string_equal(back, text);
    free(back);
    /* An id out of range is an error naming its index. */
    ids[3] = rc_vocab_size(v);
    back = (char *)1;
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_ERR_RANGE);
    assert_null(back);
    ASSERT_ERROR_HAS("vocab_decode", "ids[3]");
    ids[3] = -1;
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_ERR_RANGE);
    free(ids);
    /* Nothing to decode: "". */
    assert_int_equal(rc_vocab_decode(v, NULL, 0, &back), RC_OK);
    assert_string_equal(back, "");
    free(back);
    rc_vocab_free(v);

    /* Words: whitespace normalised, one space between words, a newline
     * for every <eos>. */
    const char *words = "  the cat\t sat  \n\nthe   dog\r\nran";
    v = build(words, RC_TEXT_WORD, 0, 0);
    encode(v, words, &ids, &n, &unk);
    assert_int_equal(n, 10);
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_OK);
    assert_string_equal(back, "the cat sat\n\nthe dog\nran\n");
    free(back);
    /* Without a final <eos> the text ends with the word; <unk> is shown. */
    int32_t some[] = {2, 0, 1, 2};
    assert_int_equal(rc_vocab_decode(v, some, 4, &back), RC_OK);
    assert_string_equal(back, "the <unk>\nthe");
    free(back);
    free(ids);
    rc_vocab_free(v);
}

/* Two vocabularies have the same level and tokens in the same order. */
static void assert_same_vocab(const rc_vocab *a, const rc_vocab *b)
{
    assert_int_equal(rc_vocab_level(a), rc_vocab_level(b));
    assert_int_equal(rc_vocab_size(a), rc_vocab_size(b));
    for (int i = 0; i < rc_vocab_size(a); i++) {
        const char *t = rc_vocab_token(a, i);
        assert_string_equal(t, rc_vocab_token(b, i));
        assert_int_equal(rc_vocab_id(b, t, strlen(t)), i);
    }
}

static void test_json_round_trip(void **state)
{
    (void)state;
    /* Characters that JSON must escape: quote, backslash, newline, tab,
     * another control character; and multi-byte ones passed through. */
    const char *text = "say \"hi\"\\\tok\x01\n\xc3\xa9\xf0\x9f\x98\x80/\x7f";
    rc_vocab *v = build(text, RC_TEXT_CHAR, 0, 0);
    char *json = NULL;
    assert_int_equal(rc_vocab_to_json(v, &json), RC_OK);
    assert_non_null(strstr(json, "{\"level\":\"char\",\"tokens\":[\"<unk>\","));
    assert_non_null(strstr(json, "\"\\\"\""));  /* "\"" */
    assert_non_null(strstr(json, "\"\\\\\""));  /* "\\" */
    assert_non_null(strstr(json, "\"\\n\""));
    assert_non_null(strstr(json, "\"\\t\""));
    assert_non_null(strstr(json, "\"\\u0001\""));
    assert_non_null(strstr(json, "\"\xc3\xa9\""));
    assert_non_null(strstr(json, "\"\xf0\x9f\x98\x80\""));
    rc_vocab *w = NULL;
    assert_int_equal(rc_vocab_from_json(json, &w), RC_OK);
    assert_same_vocab(v, w);
    free(json);
    rc_vocab_free(w);
    rc_vocab_free(v);

    /* Words with quotes and backslashes; then encode with the loaded one. */
    const char *words = "he said \"no\" c:\\dir \"no\"\n<unk> x\n";
    v = build(words, RC_TEXT_WORD, 0, 0);
    assert_int_equal(rc_vocab_to_json(v, &json), RC_OK);
    assert_non_null(strstr(json, "{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\","));
    assert_non_null(strstr(json, "\"c:\\\\dir\""));
    assert_int_equal(rc_vocab_from_json(json, &w), RC_OK);
    assert_same_vocab(v, w);
    int32_t *a, *b;
    size_t na, nb, ua, ub;
    encode(v, words, &a, &na, &ua);
    encode(w, words, &b, &nb, &ub);
    assert_ids(a, na, b, nb);
    assert_int_equal(ua, ub);
    free(a);
    free(b);
    free(json);
    rc_vocab_free(w);
    rc_vocab_free(v);

    /* Whitespace and key order are free in what is read. */
    assert_int_equal(rc_vocab_from_json(" { \"tokens\" : [\"<unk>\", \"\\u00e9\", \"x\"],\n"
                                        "  \"level\": \"char\" } ", &w),
                     RC_OK);
    ASSERT_TOKENS(w, "<unk>", "\xc3\xa9", "x");
    rc_vocab_free(w);
}

static void test_json_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        const char *says;
    } cases[] = {
        {"", "not valid JSON"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\"]", "not valid JSON"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\"]} x", "not valid JSON"},
        {"[\"<unk>\"]", "expected an object"},
        {"{\"tokens\":[\"<unk>\"]}", "no \"level\""},
        {"{\"level\":\"char\"}", "no \"tokens\""},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\"],\"extra\":1}", "unknown key \"extra\""},
        {"{\"level\":\"char\",\"level\":\"char\",\"tokens\":[\"<unk>\"]}", "appears twice"},
        {"{\"level\":\"byte\",\"tokens\":[\"<unk>\"]}", "\"char\" or \"word\", got \"byte\""},
        {"{\"level\":\"Char\",\"tokens\":[\"<unk>\"]}", "got \"Char\""},
        /* the parser refuses \u0000 (a NUL inside a token) */
        {"{\"level\":\"char\\u0000\",\"tokens\":[\"<unk>\"]}", "\\u0000"},
        {"{\"level\":1,\"tokens\":[\"<unk>\"]}", "must be a string, got a number"},
        {"{\"level\":\"char\",\"tokens\":{}}", "must be an array, got an object"},
        {"{\"level\":\"char\",\"tokens\":[]}", "has 0 entries"},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\"]}", "has 1 entries"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",7]}", "tokens[1] must be a string"},
        {"{\"level\":\"char\",\"tokens\":[\"a\"]}", "tokens[0] \"a\" must be \"<unk>\""},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\",\"a\"]}", "tokens[1] \"a\" must be \"<eos>\""},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",\"ab\"]}", "not a single character"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",\"<eos>\"]}", "not a single character"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",\"\"]}", "tokens[1] \"\" is empty"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",\"\\u0000\"]}", "\\u0000"},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\",\"a b\"]}", "whitespace"},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\",\"a\\n\"]}", "whitespace"},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\",\"a\",\"b\",\"a\"]}",
         "tokens[4] \"a\" repeats tokens[2]"},
        {"{\"level\":\"word\",\"tokens\":[\"<unk>\",\"<eos>\",\"<unk>\"]}", "repeats tokens[0]"},
        {"{\"level\":\"char\",\"tokens\":[\"<unk>\",\"x\",\"\\n\",\"\\u000a\"]}",
         "tokens[3] \"\\x0a\" repeats tokens[2]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc_vocab *v = (rc_vocab *)&v;
        rc_status s = rc_vocab_from_json(cases[i].json, &v);
        if (s != RC_ERR_FORMAT)
            fail_msg("case %zu (%s): status %d, expected a format error", i, cases[i].json,
                     (int)s);
        assert_null(v);
        if (!strstr(rc_last_error(), cases[i].says) ||
            !strstr(rc_last_error(), "vocab_from_json"))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, rc_last_error(), cases[i].says);
    }
    rc_vocab *v = NULL;
    assert_int_equal(rc_vocab_from_json(NULL, &v), RC_ERR_ARG);
    assert_int_equal(rc_vocab_from_json("{}", NULL), RC_ERR_ARG);
    char *json = (char *)1;
    assert_int_equal(rc_vocab_to_json(NULL, &json), RC_ERR_ARG);
    assert_null(json);
}

/* ---------------------------------------------------------- text files -- */

static void test_text_read(void **state)
{
    char *t = NULL;
    size_t n = 0;
    /* BOM skipped, CRLF read as LF, a lone CR kept. */
    const char raw[] = "\xef\xbb\xbf" "ab\r\ncd\r\ne\rf\r\n\xc3\xa9";
    const char *p = test_write_file(*state, "bom.txt", raw, sizeof raw - 1);
    assert_int_equal(rc_text_read(p, &t, &n), RC_OK);
    assert_int_equal(n, 12);
    assert_string_equal(t, "ab\ncd\ne\rf\n\xc3\xa9");
    free(t);
    /* A BOM-less file as it is; a BOM further on is an ordinary character. */
    p = test_write_file(*state, "plain.txt", "x\xef\xbb\xbfy", 5);
    assert_int_equal(rc_text_read(p, &t, &n), RC_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(t, "x\xef\xbb\xbfy", 6);
    free(t);
    /* A final CR without LF stays. */
    p = test_write_file(*state, "cr.txt", "a\r", 2);
    assert_int_equal(rc_text_read(p, &t, &n), RC_OK);
    assert_string_equal(t, "a\r");
    free(t);
}

static void test_text_read_unreadable(void **state)
{
    char *t = (char *)1;
    size_t n = 7;
    const char *p = test_write_file(*state, "empty.txt", "", 0);
    assert_int_equal(rc_text_read(p, &t, &n), RC_ERR_FORMAT);
    assert_null(t);
    assert_int_equal(n, 0);
    ASSERT_ERROR_HAS("text_read", p, "empty");
    p = test_write_file(*state, "bom-only.txt", "\xef\xbb\xbf", 3);
    assert_int_equal(rc_text_read(p, &t, &n), RC_ERR_FORMAT);
    ASSERT_ERROR_HAS(p, "empty");

    char missing[512];
    snprintf(missing, sizeof missing, "%s/no-such-file.txt", (const char *)*state);
    assert_int_equal(rc_text_read(missing, &t, &n), RC_ERR_IO);
    ASSERT_ERROR_HAS("text_read", missing, "No such file");
    assert_int_equal(rc_text_read((const char *)*state, &t, &n), RC_ERR_IO);
    ASSERT_ERROR_HAS("text_read", (const char *)*state, "not a regular file");
    assert_int_equal(rc_text_read(NULL, &t, &n), RC_ERR_ARG);
    assert_int_equal(rc_text_read(p, NULL, &n), RC_ERR_ARG);
    assert_null(t);
}

static void test_text_read_bad_utf8(void **state)
{
    static const struct {
        const char *bytes;
        size_t n;
        const char *where; /* ":LINE:COL:" */
        const char *byte;
        const char *why;
    } cases[] = {
        /* overlong: '/' in two bytes, and U+002F in three */
        {"ab\ncd\xc0\xaf\n", 8, ":2:3:", "0xc0", "overlong"},
        {"\xe0\x80\xaf", 3, ":1:1:", "0xe0", "overlong"},
        {"\xf0\x82\x82\xac", 4, ":1:1:", "0xf0", "overlong"},
        /* lone continuation byte; column counts characters, not bytes */
        {"x\x80", 2, ":1:2:", "0x80", "continuation"},
        {"\xc3\xa9\xe6\x97\xa5z\n\n\xbf", 9, ":3:1:", "0xbf", "continuation"},
        {"\xc3\xa9\xe6\x97\xa5z\x80", 7, ":1:4:", "0x80", "continuation"},
        /* truncated: by the end of the file, and by an ASCII byte */
        {"ab\xe6\x97", 4, ":1:3:", "0xe6", "end of the text"},
        {"ab\xf0\x9f\x98", 5, ":1:3:", "0xf0", "end of the text"},
        {"\xc3z", 2, ":1:1:", "0xc3", "truncated"},
        /* surrogates (U+D800, U+DFFF), beyond U+10FFFF, never-valid bytes */
        {"ok\xed\xa0\x80", 5, ":1:3:", "0xed", "surrogate"},
        {"\xed\xbf\xbf", 3, ":1:1:", "0xed", "surrogate"},
        {"\xf4\x90\x80\x80", 4, ":1:1:", "0xf4", "U+10FFFF"},
        {"a\xff", 2, ":1:2:", "0xff", "never occurs"},
        {"a\xf8\x88\x80\x80\x80", 6, ":1:2:", "0xf8", "never occurs"},
        /* NUL bytes */
        {"ab\n\0", 4, ":2:1:", "NUL", "offset 3"},
        /* after a BOM: columns without it, offsets in the file */
        {"\xef\xbb\xbf\x80", 4, ":1:1:", "0x80", "offset 3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.txt", i);
        const char *p = test_write_file(*state, name, cases[i].bytes, cases[i].n);
        char *t = (char *)1;
        size_t n = 5;
        rc_status s = rc_text_read(p, &t, &n);
        if (s != RC_ERR_FORMAT) fail_msg("case %zu: status %d, expected format", i, (int)s);
        assert_null(t);
        char where[600];
        snprintf(where, sizeof where, "text_read: %s%s", p, cases[i].where);
        const char *m = rc_last_error();
        if (!strstr(m, where) || !strstr(m, cases[i].byte) || !strstr(m, cases[i].why))
            fail_msg("case %zu: error \"%s\" lacks \"%s\", \"%s\" or \"%s\"", i, m, where,
                     cases[i].byte, cases[i].why);
        /* The same from rc_text_validate on the bytes. */
        assert_int_equal(rc_text_validate(cases[i].bytes, cases[i].n, "buf"), RC_ERR_FORMAT);
        assert_non_null(strstr(rc_last_error(), "text_validate: buf:"));
    }
    /* Valid edge cases: U+0080, U+07FF, U+FFFF (not a surrogate), U+10FFFF. */
    const char ok[] = "\xc2\x80\xdf\xbf\xee\x80\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf";
    assert_int_equal(rc_text_validate(ok, sizeof ok - 1, NULL), RC_OK);
}

/* --------------------------------------------------- the real corpora -- */

static char *read_corpus(const char *path, size_t *len)
{
    char *t = NULL;
    if (rc_text_read(path, &t, len)) fail_msg("%s", rc_last_error());
    return t;
}

static void test_tinyshakespeare(void **state)
{
    (void)state;
    const char *path = LM_DIR "/tinyshakespeare.txt";
    if (access(path, R_OK) != 0) TEST_SKIP();
    size_t len;
    char *text = read_corpus(path, &len);
    assert_int_equal(len, 1115394);
    rc_vocab *v = NULL;
    assert_int_equal(rc_vocab_build(text, len, RC_TEXT_CHAR, 0, 0, &v), RC_OK);
    assert_int_equal(rc_vocab_size(v), 66); /* 65 characters + <unk> */
    int32_t *ids;
    size_t n, unk;
    assert_int_equal(rc_vocab_encode(v, text, len, &ids, &n, &unk), RC_OK);
    assert_int_equal(n, 1115394);
    assert_int_equal(unk, 0);
    char *back = NULL;
    assert_int_equal(rc_vocab_decode(v, ids, n, &back), RC_OK);
    assert_memory_equal(back, text, len + 1);
    /* Through JSON and back, the same ids. */
    char *json = NULL;
    rc_vocab *w = NULL;
    assert_int_equal(rc_vocab_to_json(v, &json), RC_OK);
    assert_int_equal(rc_vocab_from_json(json, &w), RC_OK);
    assert_same_vocab(v, w);
    free(json);
    rc_vocab_free(w);
    free(back);
    free(ids);
    rc_vocab_free(v);
    free(text);
}

static void test_ptb(void **state)
{
    (void)state;
    const char *train = LM_DIR "/ptb.train.txt";
    if (access(train, R_OK) != 0) TEST_SKIP();
    size_t len;
    char *text = read_corpus(train, &len);
    rc_vocab *v = NULL;
    assert_int_equal(rc_vocab_build(text, len, RC_TEXT_WORD, 0, 0, &v), RC_OK);
    /* 9,999 distinct tokens in the file (<unk> among them) + <eos>. */
    assert_int_equal(rc_vocab_size(v), 10000);
    assert_string_equal(rc_vocab_token(v, 2), "the"); /* the commonest word */
    int32_t *ids;
    size_t n, unk;
    assert_int_equal(rc_vocab_encode(v, text, len, &ids, &n, &unk), RC_OK);
    assert_int_equal(n, 929589); /* 887,521 words + 42,068 <eos> */
    assert_int_equal(unk, 0);
    free(ids);
    free(text);

    /* valid and test have no word outside train's vocabulary, also after
     * a trip through JSON. */
    char *json = NULL;
    rc_vocab *w = NULL;
    assert_int_equal(rc_vocab_to_json(v, &json), RC_OK);
    assert_int_equal(rc_vocab_from_json(json, &w), RC_OK);
    free(json);
    static const struct {
        const char *file;
        size_t tokens;
    } splits[] = {{LM_DIR "/ptb.valid.txt", 73760}, {LM_DIR "/ptb.test.txt", 82430}};
    for (int i = 0; i < 2; i++) {
        text = read_corpus(splits[i].file, &len);
        assert_int_equal(rc_vocab_encode(w, text, len, &ids, &n, &unk), RC_OK);
        assert_int_equal(n, splits[i].tokens);
        assert_int_equal(unk, 0);
        free(ids);
        free(text);
    }
    rc_vocab_free(w);
    rc_vocab_free(v);
}

TEST_GROUP(vocab_group, "vocab", cmocka_unit_test(test_char_vocab),
           cmocka_unit_test(test_word_vocab), cmocka_unit_test(test_min_freq_max_size),
           cmocka_unit_test(test_utf8_chars), cmocka_unit_test(test_round_trip),
           cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_json_malformed),
           FILE_TEST(test_text_read), FILE_TEST(test_text_read_unreadable),
           FILE_TEST(test_text_read_bad_utf8), cmocka_unit_test(test_tinyshakespeare),
           cmocka_unit_test(test_ptb))
