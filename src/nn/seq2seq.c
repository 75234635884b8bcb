/* seq2seq.c - a recurrent encoder-decoder with attention and input feeding
 * (Sutskever et al. 2014; Bahdanau et al. 2015; Luong et al. 2015), its
 * teacher-forced loss and three decoders (greedy, beam search, sampling).
 *
 * Encoder, over the source x_1..x_S of one batch row (lengths vary):
 *   H = RNN_enc(E_src x)                H [S x B x De], De = dirs * enc_hidden
 * The rows past a sentence's end are zero and never attended to.
 *
 * Bridge (the encoder's final states seed the decoder):
 *   s = [h_fwd_S; h_bwd_1]              top layer, both directions joined
 *   h0_l = tanh(W_b s + b_b)_l          one slice of dec_hidden per decoder layer
 *   c0_l = 0                            (LSTM decoder)
 *
 * Decoder step t (y_0 = <eos>, the start symbol; ~h_0 = 0):
 *   x_t   = [E_tgt y_{t-1}; ~h_{t-1}]   input feeding: the previous attentional
 *                                        state tells the decoder what it covered
 *   h_t^l = cell(x_t^l, h_{t-1}^l)      x_t^{l+1} = dropout(h_t^l)
 *   e_ts  = score(h_t, H_s)             dot:      h_t . H_s
 *                                        general:  h_t . (W_a H_s)
 *                                        additive: v . tanh(W_q h_t + W_k H_s + b)
 *   a_t   = softmax over s < len(e_t)   src/ops/attention.c (fused, masked)
 *   c_t   = sum_s a_ts H_s
 *   ~h_t  = tanh(W_c [c_t; h_t])        (no attention: ~h_t = h_t)
 *   p(y_t | y_<t, x) = softmax(W_o dropout(~h_t) + b_o)
 * The additive score is Bahdanau's function used in Luong's arrangement:
 * the query is the new state h_t, so all three scores share one step.
 *
 * Training (teacher forcing): the decoder reads the reference y_{t-1},
 * and the loss is the mean of -log p(y_t) over the real target words
 * (<eos> included); positions past a target's end are masked out. The
 * output layer runs once over all steps, [T*B x dec_hidden] x W_o^T, one
 * large matrix multiply instead of T small ones.
 *
 * Decoding runs without a gradient: the encoder's outputs stay on one tape
 * and every step is built on a second tape that is reset after the step,
 * the decoder state being carried in plain arrays between steps (and
 * reordered by the beam's back-pointers). */
#include "../internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const attn_names[] = {"none", "dot", "general", "additive"};

const char *rc_attn_name(rc_attn_kind k)
{
    return (k >= RC_ATTN_NONE && k <= RC_ATTN_ADDITIVE) ? attn_names[k] : "?";
}

int rc_attn_parse(const char *name, rc_attn_kind *k)
{
    for (int i = 0; name && i < 4; i++)
        if (!strcmp(name, attn_names[i])) {
            *k = (rc_attn_kind)i;
            return 0;
        }
    return -1;
}

rc_seq2seq_config rc_seq2seq_defaults(int src_vocab, int tgt_vocab, int embed, int hidden)
{
    rc_seq2seq_config c;
    memset(&c, 0, sizeof c);
    c.src_vocab = src_vocab;
    c.tgt_vocab = tgt_vocab;
    c.embed = embed;
    c.enc_cell = c.dec_cell = RC_CELL_GRU;
    c.enc_hidden = c.dec_hidden = hidden;
    c.enc_layers = c.dec_layers = 1;
    c.bidirectional = 1;
    c.attention = RC_ATTN_GENERAL;
    c.attn_size = hidden;
    c.input_feeding = 1;
    c.eos = 1;
    return c;
}

int rc_seq2seq_memory_size(const rc_seq2seq *m)
{
    return (m->cfg.bidirectional ? 2 : 1) * m->cfg.enc_hidden;
}

void rc_seq2seq_free(rc_seq2seq *m)
{
    if (!m) return;
    rc_embedding_free(&m->src_emb);
    rc_embedding_free(&m->tgt_emb);
    rc_rnn_free(m->encoder);
    rc_rnn_free(m->decoder);
    rc_linear_free(&m->bridge);
    rc_param_free(m->attn_w);
    rc_param_free(m->attn_b);
    rc_param_free(m->attn_wq);
    rc_param_free(m->attn_v);
    rc_linear_free(&m->combine);
    rc_linear_free(&m->out);
    rc_params_free(&m->params);
    free(m);
}

static int feeding(const rc_seq2seq_config *c)
{
    return c->attention != RC_ATTN_NONE && c->input_feeding;
}

static rc_status check_config(const rc_seq2seq_config *c)
{
    const char *bad = NULL;
    if (c->src_vocab < 2) bad = "src_vocab must be at least 2";
    else if (c->tgt_vocab < 2) bad = "tgt_vocab must be at least 2";
    else if (c->embed < 1) bad = "embed must be at least 1";
    else if (c->enc_hidden < 1 || c->dec_hidden < 1) bad = "enc_hidden and dec_hidden must be at least 1";
    else if (c->enc_layers < 1) bad = "enc_layers must be at least 1";
    else if (c->dec_layers < 1 || c->dec_layers > RC_S2S_MAX_LAYERS) bad = "dec_layers must be in 1..8";
    else if (c->enc_cell < RC_CELL_RNN_TANH || c->enc_cell > RC_CELL_GRU ||
             c->dec_cell < RC_CELL_RNN_TANH || c->dec_cell > RC_CELL_GRU)
        bad = "enc_cell and dec_cell must be a cell kind";
    else if (c->attention < RC_ATTN_NONE || c->attention > RC_ATTN_ADDITIVE) bad = "attention is not a kind";
    else if (c->attention == RC_ATTN_ADDITIVE && c->attn_size < 1) bad = "attn_size must be at least 1 (additive)";
    else if (!(c->dropout >= 0 && c->dropout < 1)) bad = "dropout must be in [0, 1)";
    else if (c->eos < 0 || c->eos >= c->tgt_vocab) bad = "eos must be a target id";
    if (bad) return rc_error(RC_ERR_ARG, "seq2seq: %s", bad);
    int de = (c->bidirectional ? 2 : 1) * c->enc_hidden;
    if (c->attention == RC_ATTN_DOT && de != c->dec_hidden)
        return rc_error(RC_ERR_ARG, "seq2seq: dot attention needs the encoder's output size "
                        "(%d) to equal dec_hidden (%d)", de, c->dec_hidden);
    return RC_OK;
}

static rc_var *uniform_param(const char *name, int ndim, const int *shape, float k, rc_rng *rng)
{
    rc_var *p = rc_param_new(name, ndim, shape);
    if (p) rc_rng_fill_uniform(rng, p->value.data, p->value.size, -k, k);
    return p;
}

rc_status rc_seq2seq_new(const rc_seq2seq_config *cfg, uint64_t seed, rc_seq2seq **out)
{
    if (!out) return rc_error(RC_ERR_ARG, "seq2seq_new: out is NULL");
    *out = NULL;
    if (!cfg) return rc_error(RC_ERR_ARG, "seq2seq_new: cfg is NULL");
    rc_status s = check_config(cfg);
    if (s) return s;
    rc_seq2seq *m = calloc(1, sizeof *m);
    if (!m) return rc_error(RC_ERR_NOMEM, "seq2seq_new: out of memory");
    m->cfg = *cfg;
    const rc_seq2seq_config *c = &m->cfg;
    rc_params_init(&m->params);
    rc_rng rng;
    rc_rng_init(&rng, seed);
    int De = rc_seq2seq_memory_size(m), Hd = c->dec_hidden;

    rc_rnn_config ec = rc_rnn_defaults(c->enc_cell, c->embed, c->enc_hidden);
    ec.num_layers = c->enc_layers;
    ec.bidirectional = c->bidirectional;
    ec.dropout = c->dropout;
    rc_rnn_config dc = rc_rnn_defaults(c->dec_cell, c->embed + (feeding(c) ? Hd : 0), Hd);
    dc.num_layers = c->dec_layers;
    if ((s = rc_embedding_init(&m->src_emb, "src_embedding", c->src_vocab, c->embed, &rng)) ||
        (s = rc_embedding_init(&m->tgt_emb, "tgt_embedding", c->tgt_vocab, c->embed, &rng)) ||
        (s = rc_rnn_new(&ec, seed + 1, &m->encoder)) ||
        (s = rc_rnn_new(&dc, seed + 2, &m->decoder)) ||
        (s = rc_linear_init(&m->bridge, "bridge", De, c->dec_layers * Hd, 1, &rng)))
        goto fail;
    float kd = 1.0f / sqrtf((float)De);
    if (c->attention == RC_ATTN_GENERAL) {
        if (!(m->attn_w = uniform_param("attention.weight", 2, (int[]){Hd, De}, kd, &rng))) goto nomem;
    } else if (c->attention == RC_ATTN_ADDITIVE) {
        int A = c->attn_size;
        float kh = 1.0f / sqrtf((float)Hd), ka = 1.0f / sqrtf((float)A);
        if (!(m->attn_w = uniform_param("attention.w_k", 2, (int[]){A, De}, kd, &rng)) ||
            !(m->attn_b = uniform_param("attention.b_k", 1, (int[]){A}, kd, &rng)) ||
            !(m->attn_wq = uniform_param("attention.w_q", 2, (int[]){A, Hd}, kh, &rng)) ||
            !(m->attn_v = uniform_param("attention.v", 1, (int[]){A}, ka, &rng)))
            goto nomem;
    }
    if (c->attention != RC_ATTN_NONE &&
        (s = rc_linear_init(&m->combine, "combine", De + Hd, Hd, 0, &rng)))
        goto fail;
    if ((s = rc_linear_init(&m->out, "out", Hd, c->tgt_vocab, 1, &rng))) goto fail;

    /* The parameter list, in a fixed order (model files, the optimizer). */
    if ((s = rc_params_add(&m->params, "", m->src_emb.weight)) ||
        (s = rc_params_add(&m->params, "", m->tgt_emb.weight)))
        goto fail;
    for (int i = 0; i < m->encoder->n_params; i++)
        if ((s = rc_params_add(&m->params, "encoder.", m->encoder->params[i]))) goto fail;
    for (int i = 0; i < m->decoder->n_params; i++)
        if ((s = rc_params_add(&m->params, "decoder.", m->decoder->params[i]))) goto fail;
    rc_var *rest[] = {m->bridge.weight, m->bridge.bias, m->attn_w, m->attn_b, m->attn_wq,
                      m->attn_v, m->combine.weight, m->out.weight, m->out.bias};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        if (rest[i] && (s = rc_params_add(&m->params, "", rest[i]))) goto fail;
    /* Each variable takes its full name ("encoder.weight_ih_l0"): the
     * optimizer names its state after the variables, which must differ. */
    for (int i = 0; i < m->params.n; i++) {
        rc_var *p = m->params.vars[i];
        if (!strcmp(p->name, m->params.names[i])) continue;
        char *nm = malloc(strlen(m->params.names[i]) + 1);
        if (!nm) goto nomem;
        strcpy(nm, m->params.names[i]);
        free((char *)p->name);
        p->name = nm;
    }
    *out = m;
    return RC_OK;
nomem:
    s = rc_error(RC_ERR_NOMEM, "seq2seq_new: out of memory");
fail:
    rc_seq2seq_free(m);
    return s;
}

/* ------------------------------------------------------------ encoder -- */

static rc_var *maybe_dropout(rc_tape *t, rc_var *x, float p, rc_rng *drop)
{
    if (!x || p <= 0 || !rc_tape_training(t)) return x;
    return rc_dropout(t, x, p, drop);
}

rc_status rc_seq2seq_encode(rc_tape *t, rc_seq2seq *m, const int32_t *src,
                            const int32_t *src_len, int S, int B, rc_rng *drop,
                            rc_seq2seq_memory *mem, rc_seq2seq_state *st)
{
    if (!t || !m || !src || !src_len || !mem || !st)
        return rc_error(RC_ERR_ARG, "seq2seq_encode: NULL argument");
    memset(mem, 0, sizeof *mem);
    memset(st, 0, sizeof *st);
    if (S < 1 || B < 1) {
        rc_tape_fail(t, RC_ERR_SHAPE, "seq2seq_encode: S = %d and B = %d must be at least 1", S, B);
        return rc_tape_status(t);
    }
    for (int b = 0; b < B; b++)
        if (src_len[b] < 1 || src_len[b] > S) {
            rc_tape_fail(t, RC_ERR_RANGE, "seq2seq_encode: src_len[%d] = %d is outside 1..%d",
                         b, src_len[b], S);
            return rc_tape_status(t);
        }
    const rc_seq2seq_config *c = &m->cfg;
    int Hd = c->dec_hidden, dirs = c->bidirectional ? 2 : 1, He = c->enc_hidden;
    if (drop) {
        /* The encoder's own dropout between layers: a stream of its own. */
        m->encoder->dropout_rng.seed = drop->seed ^ 0x5DEECE66DULL;
        m->encoder->dropout_rng.counter = drop->counter;
    }
    rc_var *x = rc_embedding(t, m->src_emb.weight, src, S * B);
    x = rc_reshape(t, x, 3, (int[]){S, B, c->embed});
    x = maybe_dropout(t, x, c->dropout, drop);
    rc_var *y, *hn, *cn;
    if (!x || rc_rnn_forward(t, m->encoder, x, src_len, NULL, NULL, &y, &hn, &cn) != RC_OK)
        return rc_tape_status(t);
    /* s = the top layer's final states, directions side by side: [B x dirs*He] */
    rc_var *top = rc_slice(t, hn, 0, (c->enc_layers - 1) * dirs, dirs);
    top = rc_reshape(t, rc_transpose(t, top, 0, 1), 2, (int[]){B, dirs * He});
    rc_var *h0 = rc_tanh(t, rc_linear_forward(t, &m->bridge, top));
    for (int l = 0; l < c->dec_layers; l++) {
        st->h[l] = c->dec_layers == 1 ? h0 : rc_slice(t, h0, 1, l * Hd, Hd);
        if (c->dec_cell == RC_CELL_LSTM) st->c[l] = rc_input(t, 2, (int[]){B, Hd}, NULL);
    }
    if (feeding(c)) st->feed = rc_input(t, 2, (int[]){B, Hd}, NULL);
    mem->S = S;
    mem->B = B;
    mem->len = src_len;
    mem->keys = y;
    if (c->attention == RC_ATTN_GENERAL)
        mem->keys_proj = rc_attention_project(t, y, m->attn_w, NULL);
    else if (c->attention == RC_ATTN_ADDITIVE)
        mem->keys_proj = rc_attention_project(t, y, m->attn_w, m->attn_b);
    return rc_tape_status(t);
}

/* ------------------------------------------------------------ decoder -- */

rc_status rc_seq2seq_step(rc_tape *t, rc_seq2seq *m, const rc_seq2seq_memory *mem,
                          rc_seq2seq_state *st, const int32_t *prev, rc_rng *drop,
                          rc_var **out, rc_var **weights)
{
    if (out) *out = NULL;
    if (weights) *weights = NULL;
    if (!t || !m || !mem || !st || !prev || !out)
        return rc_error(RC_ERR_ARG, "seq2seq_step: NULL argument");
    if (rc_tape_status(t) != RC_OK) return rc_tape_status(t);
    const rc_seq2seq_config *c = &m->cfg;
    int B = mem->B;
    rc_var *x = rc_embedding(t, m->tgt_emb.weight, prev, B);
    x = maybe_dropout(t, x, c->dropout, drop);
    if (feeding(c)) {
        rc_var *xs[2] = {x, st->feed};
        x = x && st->feed ? rc_concat(t, xs, 2, 1) : NULL;
    }
    for (int l = 0; l < c->dec_layers; l++) {
        rc_var *hn, *cn = NULL;
        if (!x || rc_cell_step(t, c->dec_cell, &m->decoder->weights[l], x, st->h[l], st->c[l],
                               NULL, &hn, &cn) != RC_OK)
            return rc_tape_status(t);
        st->h[l] = hn;
        st->c[l] = cn;
        x = l + 1 < c->dec_layers ? maybe_dropout(t, hn, c->dropout, drop) : hn;
    }
    rc_var *top = st->h[c->dec_layers - 1], *hat = top;
    if (c->attention != RC_ATTN_NONE) {
        rc_var *ctx = NULL, *w = NULL;
        rc_status s;
        switch (c->attention) {
        case RC_ATTN_DOT:
            s = rc_attention_dot(t, top, mem->keys, NULL, mem->len, &ctx, &w);
            break;
        case RC_ATTN_GENERAL:
            s = rc_attention_general(t, top, mem->keys_proj, mem->keys, mem->len, &ctx, &w);
            break;
        default:
            s = rc_attention_additive(t, top, m->attn_wq, mem->keys_proj, m->attn_v, mem->keys,
                                      mem->len, &ctx, &w);
            break;
        }
        if (s != RC_OK) return s;
        rc_var *cat[2] = {ctx, top};
        hat = rc_tanh(t, rc_linear_forward(t, &m->combine, rc_concat(t, cat, 2, 1)));
        if (weights) *weights = w;
    }
    if (feeding(c)) st->feed = hat;
    *out = hat;
    return rc_tape_status(t);
}

rc_var *rc_seq2seq_loss(rc_tape *t, rc_seq2seq *m, const int32_t *src, const int32_t *src_len,
                        int S, const int32_t *tgt, const int32_t *tgt_len, int T, int B,
                        rc_rng *drop)
{
    if (!t) {
        rc_error(RC_ERR_ARG, "seq2seq_loss: tape is NULL");
        return NULL;
    }
    if (!m || !tgt || !tgt_len) return rc_tape_fail(t, RC_ERR_ARG, "seq2seq_loss: NULL argument");
    if (T < 1) return rc_tape_fail(t, RC_ERR_SHAPE, "seq2seq_loss: T = %d must be at least 1", T);
    for (int b = 0; b < B; b++)
        if (tgt_len[b] < 1 || tgt_len[b] > T)
            return rc_tape_fail(t, RC_ERR_RANGE, "seq2seq_loss: tgt_len[%d] = %d is outside 1..%d",
                                b, tgt_len[b], T);
    rc_seq2seq_memory mem;
    rc_seq2seq_state st;
    if (rc_seq2seq_encode(t, m, src, src_len, S, B, drop, &mem, &st) != RC_OK) return NULL;
    int32_t *prev = rc_tape_alloc(t, (size_t)T * B * sizeof *prev);
    float *mask = rc_tape_alloc(t, (size_t)T * B * sizeof *mask);
    rc_var **outs = rc_tape_alloc(t, (size_t)T * sizeof *outs);
    if (!prev || !mask || !outs) return NULL;
    const int eos = m->cfg.eos;
    /* The decoder reads <eos> then the reference shifted by one; past a
     * target's end it reads <eos> (its loss there is masked out). */
    for (int s = 0; s < T; s++)
        for (int b = 0; b < B; b++) {
            size_t i = (size_t)s * B + b;
            prev[i] = (s == 0 || s > tgt_len[b] - 1) ? eos : tgt[i - B];
            mask[i] = s < tgt_len[b] ? 1.0f : 0.0f;
        }
    for (int s = 0; s < T; s++) {
        rc_var *hat;
        if (rc_seq2seq_step(t, m, &mem, &st, prev + (size_t)s * B, drop, &hat, NULL) != RC_OK)
            return NULL;
        outs[s] = maybe_dropout(t, hat, m->cfg.dropout, drop);
    }
    rc_var *all = T == 1 ? outs[0] : rc_concat(t, outs, T, 0); /* [T*B x Hd] */
    rc_var *logits = rc_linear_forward(t, &m->out, all);
    return rc_cross_entropy(t, logits, tgt, mask);
}

/* ----------------------------------------------------------- decoding -- */

/* A batch of N decoder rows at inference: the encoder's tape (kept), the
 * step tape (reset every step) and the state between steps. */
typedef struct dec_run {
    rc_seq2seq *m;
    rc_tape *enc, *step;
    rc_seq2seq_memory mem;
    int N, L, Hd, V, S;
    float *h, *c, *feed; /* [L x N x Hd], LSTM [L x N x Hd], [N x Hd] */
    float *tmp;          /* reordering scratch */
    float *logp;         /* [N x V] log-probabilities of the last step */
    float *weights;      /* [N x S] attention weights of the last step */
} dec_run;

static void run_free(dec_run *r)
{
    rc_tape_free(r->enc);
    rc_tape_free(r->step);
    free(r->h);
    free(r->c);
    free(r->feed);
    free(r->tmp);
    free(r->logp);
    free(r->weights);
    memset(r, 0, sizeof *r);
}

static rc_status run_init(dec_run *r, rc_seq2seq *m, const int32_t *src, const int32_t *len,
                          int S, int N)
{
    memset(r, 0, sizeof *r);
    r->m = m;
    r->N = N;
    r->S = S;
    r->L = m->cfg.dec_layers;
    r->Hd = m->cfg.dec_hidden;
    r->V = m->cfg.tgt_vocab;
    size_t nh = (size_t)r->L * N * r->Hd;
    r->enc = rc_tape_new();
    r->step = rc_tape_new();
    r->h = malloc(nh * sizeof(float));
    r->c = calloc(nh, sizeof(float));
    r->feed = calloc((size_t)N * r->Hd, sizeof(float));
    r->tmp = malloc(nh * sizeof(float));
    r->logp = malloc((size_t)N * r->V * sizeof(float));
    r->weights = calloc((size_t)N * S, sizeof(float));
    if (!r->enc || !r->step || !r->h || !r->c || !r->feed || !r->tmp || !r->logp || !r->weights) {
        run_free(r);
        return rc_error(RC_ERR_NOMEM, "seq2seq decode: out of memory (%d rows)", N);
    }
    for (int i = 0; i < 2; i++) {
        rc_tape *t = i ? r->step : r->enc;
        rc_tape_set_grad(t, 0);
        rc_tape_set_training(t, 0);
    }
    rc_seq2seq_state st;
    rc_status s = rc_seq2seq_encode(r->enc, m, src, len, S, N, NULL, &r->mem, &st);
    if (s != RC_OK) {
        run_free(r);
        return s;
    }
    for (int l = 0; l < r->L; l++)
        memcpy(r->h + (size_t)l * N * r->Hd, st.h[l]->value.data, (size_t)N * r->Hd * sizeof(float));
    return RC_OK;
}

/* One step from the previous words prev [N]: fills logp and weights and
 * moves the state on. */
static rc_status run_step(dec_run *r, const int32_t *prev)
{
    rc_tape *t = r->step;
    rc_tape_reset(t);
    const rc_seq2seq_config *c = &r->m->cfg;
    int N = r->N, Hd = r->Hd, V = r->V;
    size_t nh = (size_t)N * Hd;
    rc_seq2seq_state st;
    memset(&st, 0, sizeof st);
    for (int l = 0; l < r->L; l++) {
        st.h[l] = rc_input(t, 2, (int[]){N, Hd}, r->h + l * nh);
        if (c->dec_cell == RC_CELL_LSTM) st.c[l] = rc_input(t, 2, (int[]){N, Hd}, r->c + l * nh);
    }
    if (feeding(c)) st.feed = rc_input(t, 2, (int[]){N, Hd}, r->feed);
    rc_var *hat, *w;
    rc_status s = rc_seq2seq_step(t, r->m, &r->mem, &st, prev, NULL, &hat, &w);
    if (s != RC_OK) return s;
    rc_var *logits = rc_linear_forward(t, &r->m->out, hat);
    if (!logits) return rc_tape_status(t);
    for (int l = 0; l < r->L; l++) {
        memcpy(r->h + l * nh, st.h[l]->value.data, nh * sizeof(float));
        if (st.c[l]) memcpy(r->c + l * nh, st.c[l]->value.data, nh * sizeof(float));
    }
    if (st.feed) memcpy(r->feed, st.feed->value.data, nh * sizeof(float));
    if (w) memcpy(r->weights, w->value.data, (size_t)N * r->S * sizeof(float));
    /* log-softmax of every row, the sum in double */
    for (int i = 0; i < N; i++) {
        const float *z = logits->value.data + (size_t)i * V;
        float *lp = r->logp + (size_t)i * V;
        float mx = z[0];
        for (int v = 1; v < V; v++) mx = z[v] > mx ? z[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)(z[v] - mx));
        float lse = mx + (float)log(sum);
        for (int v = 0; v < V; v++) lp[v] = z[v] - lse;
    }
    return RC_OK;
}

/* Row i of the state becomes old row parent[i]. */
static void gather_rows(float *x, float *tmp, const int32_t *parent, int N, int D, int blocks)
{
    for (int k = 0; k < blocks; k++) {
        float *blk = x + (size_t)k * N * D;
        memcpy(tmp, blk, (size_t)N * D * sizeof(float));
        for (int i = 0; i < N; i++)
            memcpy(blk + (size_t)i * D, tmp + (size_t)parent[i] * D, (size_t)D * sizeof(float));
    }
}

static void run_reorder(dec_run *r, const int32_t *parent)
{
    gather_rows(r->h, r->tmp, parent, r->N, r->Hd, r->L);
    if (r->m->cfg.dec_cell == RC_CELL_LSTM) gather_rows(r->c, r->tmp, parent, r->N, r->Hd, r->L);
    gather_rows(r->feed, r->tmp, parent, r->N, r->Hd, 1);
}

static rc_status check_decode(const char *fn, rc_seq2seq *m, const int32_t *src,
                              const int32_t *src_len, int S, int B, int max_len, void *out,
                              void *out_len)
{
    if (!m || !src || !src_len || !out || !out_len)
        return rc_error(RC_ERR_ARG, "%s: NULL argument", fn);
    if (S < 1 || B < 1 || max_len < 1)
        return rc_error(RC_ERR_ARG, "%s: S = %d, B = %d and max_len = %d must be at least 1", fn,
                        S, B, max_len);
    for (int b = 0; b < B; b++)
        if (src_len[b] < 1 || src_len[b] > S)
            return rc_error(RC_ERR_RANGE, "%s: src_len[%d] = %d is outside 1..%d", fn, b,
                            src_len[b], S);
    return RC_OK;
}

static int limit_of(int src_len, int max_len)
{
    int lim = 2 * src_len + 10;
    return lim < max_len ? lim : max_len;
}

/* Greedy (temperature <= 0) or sampling. */
static rc_status decode_simple(const char *fn, rc_seq2seq *m, const int32_t *src,
                               const int32_t *src_len, int S, int B, int max_len,
                               float temperature, uint64_t seed, int32_t *out, int32_t *out_len)
{
    rc_status s = check_decode(fn, m, src, src_len, S, B, max_len, out, out_len);
    if (s) return s;
    dec_run r;
    if ((s = run_init(&r, m, src, src_len, S, B))) return s;
    int32_t *prev = malloc((size_t)B * sizeof *prev);
    char *done = calloc((size_t)B, 1);
    double *p = temperature > 0 ? malloc((size_t)r.V * sizeof *p) : NULL;
    if (!prev || !done || (temperature > 0 && !p)) {
        s = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
        goto end;
    }
    rc_rng rng;
    rc_rng_init(&rng, seed);
    const int eos = m->cfg.eos, V = r.V;
    for (int b = 0; b < B; b++) prev[b] = eos, out_len[b] = 0;
    for (int step = 0; step < max_len; step++) {
        int live = 0;
        for (int b = 0; b < B; b++) live += !done[b];
        if (!live) break;
        if ((s = run_step(&r, prev))) goto end;
        for (int b = 0; b < B; b++) {
            if (done[b]) continue;
            const float *lp = r.logp + (size_t)b * V;
            int best = 0;
            if (temperature > 0) {
                double sum = 0;
                for (int v = 0; v < V; v++) sum += p[v] = exp((double)lp[v] / temperature);
                double u = (double)rc_rng_uniform(&rng) * sum, acc = 0;
                best = V - 1;
                for (int v = 0; v < V; v++)
                    if (u < (acc += p[v])) {
                        best = v;
                        break;
                    }
            } else {
                for (int v = 1; v < V; v++)
                    if (lp[v] > lp[best]) best = v;
            }
            prev[b] = best;
            if (best == eos) {
                done[b] = 1;
                continue;
            }
            out[(size_t)b * max_len + out_len[b]++] = best;
            if (out_len[b] >= limit_of(src_len[b], max_len)) done[b] = 1;
        }
    }
end:
    free(p);
    free(prev);
    free(done);
    run_free(&r);
    return s;
}

rc_status rc_seq2seq_greedy(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                            int B, int max_len, int32_t *out, int32_t *out_len)
{
    return decode_simple("seq2seq_greedy", m, src, src_len, S, B, max_len, 0.0f, 0, out, out_len);
}

rc_status rc_seq2seq_sample(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                            int B, int max_len, float temperature, uint64_t seed, int32_t *out,
                            int32_t *out_len)
{
    if (!(temperature > 0))
        return rc_error(RC_ERR_ARG, "seq2seq_sample: temperature %g must be positive",
                        (double)temperature);
    return decode_simple("seq2seq_sample", m, src, src_len, S, B, max_len, temperature, seed,
                         out, out_len);
}

/* ---- beam search ---- */

typedef struct cand {
    float score;
    int k, v; /* parent hypothesis (0..K-1) and word */
} cand;

/* Is a better than b: higher score, then lower (k, v) (so that beam 1
 * breaks ties as greedy does: the lower id). */
static int cand_better(const cand *a, const cand *b, int V)
{
    if (a->score != b->score) return a->score > b->score;
    return (long)a->k * V + a->v < (long)b->k * V + b->v;
}

static float length_penalty(int len, float alpha)
{
    return alpha == 0.0f ? 1.0f : powf((5.0f + (float)len) / 6.0f, alpha);
}

rc_status rc_seq2seq_beam(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                          int B, int max_len, int beam, int n_best, float alpha, int32_t *out,
                          int32_t *out_len, float *scores)
{
    const char *fn = "seq2seq_beam";
    rc_status s = check_decode(fn, m, src, src_len, S, B, max_len, out, out_len);
    if (s) return s;
    if (beam < 1 || n_best < 1 || n_best > beam)
        return rc_error(RC_ERR_ARG, "%s: need beam >= 1 and n_best in 1..beam (beam %d, n_best %d)",
                        fn, beam, n_best);
    if (!(alpha >= 0) || !isfinite(alpha))
        return rc_error(RC_ERR_ARG, "%s: length penalty alpha = %g must be >= 0", fn,
                        (double)alpha);
    const int K = beam, N = B * K, eos = m->cfg.eos;
    /* Every sentence repeated K times: row b*K + k is hypothesis k of b. */
    int32_t *xs = malloc((size_t)S * N * sizeof *xs), *xl = malloc((size_t)N * sizeof *xl);
    if (!xs || !xl) {
        free(xs);
        free(xl);
        return rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
    }
    for (int t = 0; t < S; t++)
        for (int i = 0; i < N; i++) xs[(size_t)t * N + i] = src[(size_t)t * B + i / K];
    for (int i = 0; i < N; i++) xl[i] = src_len[i / K];
    dec_run r;
    s = run_init(&r, m, xs, xl, S, N);
    free(xs);
    if (s) {
        free(xl);
        return s;
    }
    const int V = r.V;
    float *score = malloc((size_t)N * sizeof *score), *nscore = malloc((size_t)N * sizeof *nscore);
    int32_t *seq = malloc((size_t)N * max_len * sizeof *seq);
    int32_t *nseq = malloc((size_t)N * max_len * sizeof *nseq);
    int32_t *prev = malloc((size_t)N * sizeof *prev), *parent = malloc((size_t)N * sizeof *parent);
    /* finished hypotheses: K per sentence */
    int32_t *fseq = malloc((size_t)N * max_len * sizeof *fseq);
    int32_t *flen = malloc((size_t)N * sizeof *flen), *nfin = calloc((size_t)B, sizeof *nfin);
    float *fscore = malloc((size_t)N * sizeof *fscore);
    cand *cs = malloc((size_t)2 * K * sizeof *cs);
    char *done = calloc((size_t)B, 1);
    if (!score || !nscore || !seq || !nseq || !prev || !parent || !fseq || !flen || !nfin ||
        !fscore || !cs || !done) {
        s = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
        goto end;
    }
    for (int i = 0; i < N; i++) {
        score[i] = i % K == 0 ? 0.0f : -INFINITY; /* K copies of one start: keep one */
        prev[i] = eos;
    }
    for (int step = 0; step < max_len; step++) {
        int live = 0;
        for (int b = 0; b < B; b++) live += !done[b];
        if (!live) break;
        if ((s = run_step(&r, prev))) goto end;
        for (int i = 0; i < N; i++) parent[i] = i, nscore[i] = score[i];
        for (int b = 0; b < B; b++) {
            if (done[b]) continue;
            /* the 2K best (hypothesis, word) continuations */
            int nc = 0;
            for (int k = 0; k < K; k++) {
                int row = b * K + k;
                if (score[row] == -INFINITY) continue;
                const float *lp = r.logp + (size_t)row * V;
                for (int v = 0; v < V; v++) {
                    cand cd = {score[row] + lp[v], k, v};
                    if (nc == 2 * K && !cand_better(&cd, &cs[nc - 1], V)) continue;
                    int j = nc < 2 * K ? nc++ : nc - 1;
                    while (j > 0 && cand_better(&cd, &cs[j - 1], V)) {
                        cs[j] = cs[j - 1];
                        j--;
                    }
                    cs[j] = cd;
                }
            }
            int nlive = 0;
            for (int j = 0; j < nc && nlive < K; j++) {
                int from = b * K + cs[j].k;
                if (cs[j].v == eos) {
                    /* only an <eos> among the K best ends a hypothesis */
                    if (j < K && nfin[b] < K) {
                        int f = b * K + nfin[b]++;
                        memcpy(fseq + (size_t)f * max_len, seq + (size_t)from * max_len,
                               (size_t)step * sizeof *seq);
                        flen[f] = step;
                        fscore[f] = cs[j].score / length_penalty(step + 1, alpha);
                    }
                    continue;
                }
                int row = b * K + nlive++;
                parent[row] = from;
                nscore[row] = cs[j].score;
                prev[row] = cs[j].v;
            }
            for (int k = nlive; k < K; k++) nscore[b * K + k] = -INFINITY;
            if (nfin[b] >= K) done[b] = 1;
        }
        /* the new hypotheses' words so far */
        for (int i = 0; i < N; i++) {
            memcpy(nseq + (size_t)i * max_len, seq + (size_t)parent[i] * max_len,
                   (size_t)step * sizeof *seq);
            nseq[(size_t)i * max_len + step] = prev[i];
        }
        int32_t *sw = seq;
        seq = nseq;
        nseq = sw;
        float *fw = score;
        score = nscore;
        nscore = fw;
        run_reorder(&r, parent);
        /* at a sentence's length limit its live hypotheses end there */
        for (int b = 0; b < B; b++) {
            if (done[b] || step + 1 < limit_of(src_len[b], max_len)) continue;
            for (int k = 0; k < K && nfin[b] < K; k++) {
                int row = b * K + k;
                if (score[row] == -INFINITY) continue;
                int f = b * K + nfin[b]++;
                memcpy(fseq + (size_t)f * max_len, seq + (size_t)row * max_len,
                       (size_t)(step + 1) * sizeof *seq);
                flen[f] = step + 1;
                fscore[f] = score[row] / length_penalty(step + 1, alpha);
            }
            done[b] = 1;
        }
    }
    /* The n_best of each sentence, best first (ties: found first). */
    for (int b = 0; b < B; b++) {
        int order[64], *ord = K <= 64 ? order : malloc((size_t)K * sizeof *ord);
        if (!ord) {
            s = rc_error(RC_ERR_NOMEM, "%s: out of memory", fn);
            goto end;
        }
        int n = nfin[b];
        for (int i = 0; i < n; i++) {
            int j = i;
            while (j > 0 && fscore[b * K + i] > fscore[b * K + ord[j - 1]]) {
                ord[j] = ord[j - 1];
                j--;
            }
            ord[j] = i;
        }
        for (int j = 0; j < n_best; j++) {
            int o = b * n_best + j;
            if (j < n) {
                int f = b * K + ord[j];
                memcpy(out + (size_t)o * max_len, fseq + (size_t)f * max_len,
                       (size_t)flen[f] * sizeof *out);
                out_len[o] = flen[f];
                if (scores) scores[o] = fscore[f];
            } else {
                out_len[o] = 0;
                if (scores) scores[o] = -INFINITY;
            }
        }
        if (ord != order) free(ord);
    }
end:
    free(xl);
    free(score);
    free(nscore);
    free(seq);
    free(nseq);
    free(prev);
    free(parent);
    free(fseq);
    free(flen);
    free(nfin);
    free(fscore);
    free(cs);
    free(done);
    run_free(&r);
    return s;
}

rc_status rc_seq2seq_align(rc_seq2seq *m, const int32_t *src, int S, const int32_t *tgt, int T,
                           float *weights)
{
    if (!m || !src || !tgt || !weights) return rc_error(RC_ERR_ARG, "seq2seq_align: NULL argument");
    if (m->cfg.attention == RC_ATTN_NONE)
        return rc_error(RC_ERR_ARG, "seq2seq_align: the model has no attention");
    if (S < 1 || T < 1)
        return rc_error(RC_ERR_ARG, "seq2seq_align: S = %d and T = %d must be at least 1", S, T);
    dec_run r;
    int32_t len = S;
    rc_status s = run_init(&r, m, src, &len, S, 1);
    if (s) return s;
    for (int t = 0; t < T && s == RC_OK; t++) {
        int32_t prev = t == 0 ? m->cfg.eos : tgt[t - 1];
        if ((s = run_step(&r, &prev)) == RC_OK)
            memcpy(weights + (size_t)t * S, r.weights, (size_t)S * sizeof(float));
    }
    run_free(&r);
    return s;
}
