/*
 * recur.h - the public API of recur, a C library for sequence models.
 *
 * One header, embeddable: the library needs only libc, libm and, optionally,
 * a BLAS. Everything public starts with rc_ / RC_.
 *
 * Layers (each uses only the ones below it):
 *   core      status codes, tensors, arena, random numbers, matrix multiply
 *   autograd  a define-by-run tape: ops compute a value and record a node;
 *             rc_backward() walks the tape in reverse
 *   ops       the differentiable functions (matmul, tanh, softmax, ...)
 *
 * Errors: functions that can fail return an rc_status (or NULL) and leave a
 * one-line message in rc_last_error() that names the function and what was
 * wrong (shapes, ids, file and field). Library code never exits or aborts.
 */
#ifndef RECUR_H
#define RECUR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RC_VERSION "0.1.0"

/* ---------------------------------------------------------------- core -- */

typedef enum rc_status {
    RC_OK = 0,
    RC_ERR_ARG,     /* a bad argument: NULL, negative size, bad option */
    RC_ERR_SHAPE,   /* tensor shapes that do not fit together */
    RC_ERR_RANGE,   /* an index or id out of range */
    RC_ERR_NOMEM,   /* allocation failed */
    RC_ERR_IO,      /* a file could not be opened, read or written */
    RC_ERR_FORMAT,  /* a file's contents are malformed */
    RC_ERR_NUMERIC, /* NaN or Inf where a finite number was needed */
    RC_ERR_STATE    /* a call out of order (backward twice, ...) */
} rc_status;

/* The message of the last error raised on this thread ("" if none). */
const char *rc_last_error(void);
/* The status code's name, e.g. "shape mismatch". */
const char *rc_status_name(rc_status s);
/* Forget the last error message of this thread. */
void rc_clear_error(void);

#define RC_MAX_DIMS 4

/* A dense float32 tensor, contiguous, row-major, up to 4 dimensions. */
typedef struct rc_tensor {
    float *data;
    int ndim;
    int shape[RC_MAX_DIMS];
    size_t size; /* product of the shape */
} rc_tensor;

/* Number of elements of a shape (0 for a bad shape). */
size_t rc_shape_size(int ndim, const int *shape);
/* Writes "[2x3x4]" into buf (at most n bytes); returns buf. */
char *rc_shape_str(int ndim, const int *shape, char *buf, size_t n);

/* Heap tensors, for data that outlives a batch (parameters, datasets). */
rc_status rc_tensor_alloc(rc_tensor *t, int ndim, const int *shape);
void rc_tensor_free(rc_tensor *t);

/* Arena: a bump allocator for the activations of one batch. Allocation is a
 * pointer increment; rc_arena_reset() frees everything at once and keeps the
 * memory, so after the first batch the time loop never calls malloc. */
typedef struct rc_arena_chunk rc_arena_chunk;
typedef struct rc_arena {
    rc_arena_chunk *head;  /* chunk being filled */
    size_t used_total;     /* bytes handed out since the last reset */
    size_t peak;           /* largest used_total seen */
    size_t capacity;       /* bytes held in all chunks */
} rc_arena;

void rc_arena_init(rc_arena *a);
/* 64-byte aligned, uninitialised; NULL (with an error) when out of memory. */
void *rc_arena_alloc(rc_arena *a, size_t bytes);
void *rc_arena_calloc(rc_arena *a, size_t bytes);
void rc_arena_reset(rc_arena *a);
void rc_arena_free(rc_arena *a);

/* Counter-based random numbers (Philox4x32-10): the n-th number of a stream
 * depends only on (seed, n), so the same seed gives the same numbers on any
 * thread count, and a stream can be split or skipped freely. */
typedef struct rc_rng {
    uint64_t seed;
    uint64_t counter; /* next block of 4 numbers */
} rc_rng;

void rc_rng_init(rc_rng *r, uint64_t seed);
uint32_t rc_rng_u32(rc_rng *r);
float rc_rng_uniform(rc_rng *r);           /* [0, 1) */
float rc_rng_normal(rc_rng *r);            /* mean 0, sd 1 */
void rc_rng_fill_uniform(rc_rng *r, float *out, size_t n, float lo, float hi);
void rc_rng_fill_normal(rc_rng *r, float *out, size_t n, float mean, float sd);
/* The 4 words of block `counter` of stream `seed` (the raw generator). */
void rc_philox(uint64_t seed, uint64_t counter, uint32_t out[4]);

/* Matrix multiply, row-major:
 *   C[M x N] = alpha * op(A) * op(B) + beta * C
 * op(A) is A [M x K] or, with trans_a, A^T where A is [K x M]; likewise B.
 * lda/ldb/ldc are row strides. Uses the BLAS found at build time, else the
 * portable kernel; a single-row or single-column product goes to a
 * matrix-vector routine. */
void rc_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha,
             const float *A, int lda, const float *B, int ldb, float beta,
             float *C, int ldc);
/* The portable kernel alone (what rc_gemm uses when built with BLAS=none). */
void rc_gemm_portable(int trans_a, int trans_b, int M, int N, int K,
                      float alpha, const float *A, int lda, const float *B,
                      int ldb, float beta, float *C, int ldc);
/* "openblas", "portable", ... */
const char *rc_blas_name(void);
/* Threads of recur's own pool, which runs the products and the recurrent
 * loops on them (0: all cores); OpenBLAS is then held at one thread.
 * Call it while no op runs. */
void rc_set_threads(int n);
int rc_get_threads(void);

/* ------------------------------------------------------------ autograd -- */

typedef struct rc_var rc_var;
typedef struct rc_tape rc_tape;

/* What an op does in backward: add the gradient of `out` into its inputs. */
typedef void (*rc_backward_fn)(rc_tape *t, rc_var *out);
typedef struct rc_op {
    const char *name;
    rc_backward_fn backward;
} rc_op;

/* A variable: a value and (when it needs one) a gradient of the same shape.
 * Parameters are made with rc_param_new and live until rc_param_free; their
 * gradient accumulates across backward calls until rc_param_zero_grad.
 * Everything else is made by ops on a tape and lives in the tape's arena
 * until rc_tape_reset. */
struct rc_var {
    rc_tensor value;
    float *grad;          /* NULL until something is accumulated into it */
    int requires_grad;
    int is_param;
    const rc_op *op;      /* NULL for leaves */
    rc_var **in;          /* the op's inputs */
    int n_in;
    void *ctx;            /* what the op saved for backward */
    int iarg[4];          /* small op arguments */
    float farg[2];
    const char *name;     /* for parameters ("weight_ih_l0") */
};

rc_var *rc_param_new(const char *name, int ndim, const int *shape);
void rc_param_free(rc_var *p);
void rc_param_zero_grad(rc_var *p);

rc_tape *rc_tape_new(void);
void rc_tape_free(rc_tape *t);
/* Forget every node and free the batch's memory (parameters are kept). */
void rc_tape_reset(rc_tape *t);
/* With grad off, ops record nothing needed for backward (inference). */
void rc_tape_set_grad(rc_tape *t, int enabled);
int rc_tape_grad_enabled(const rc_tape *t);
/* Training mode: dropout is active only while training (default on). */
void rc_tape_set_training(rc_tape *t, int training);
int rc_tape_training(const rc_tape *t);
/* The first error an op on this tape raised since the last reset. Ops given
 * a NULL input (because an earlier op failed) return NULL and keep it. */
rc_status rc_tape_status(const rc_tape *t);
rc_arena *rc_tape_arena(rc_tape *t);
int rc_tape_size(const rc_tape *t);
rc_var *rc_tape_node_at(const rc_tape *t, int i);

/* Leaves on the tape. rc_input copies data into the arena (data may be NULL
 * for zeros); rc_input_grad does the same but asks for a gradient. */
rc_var *rc_input(rc_tape *t, int ndim, const int *shape, const float *data);
rc_var *rc_input_grad(rc_tape *t, int ndim, const int *shape, const float *data);

/* Backward from a scalar: d loss / d loss = 1. */
rc_status rc_backward(rc_tape *t, rc_var *loss);
/* Backward from any variable, with the given gradient of `out` (size of out). */
rc_status rc_backward_from(rc_tape *t, rc_var *out, const float *seed_grad);

/* Gradient checker: compares every gradient that backward gives for the
 * inputs with central finite differences of sum(f(inputs) * R) for a random
 * R. `f` builds the function on the tape from the inputs (parameters made
 * with rc_param_new) and returns its output, or NULL on error. */
typedef rc_var *(*rc_gradcheck_fn)(rc_tape *t, rc_var **inputs, void *user);

typedef struct rc_gradcheck_opts {
    float eps;      /* finite-difference step (default 1e-2) */
    float atol;     /* allowed absolute error, times the gradient scale (1e-3) */
    float rtol;     /* allowed relative error (1e-2) */
    uint64_t seed;  /* for R (default 1) */
} rc_gradcheck_opts;

typedef struct rc_gradcheck_report {
    int ok;              /* every element within tolerance */
    char op[32];         /* op of the function's output node */
    int worst_input;     /* index into inputs of the worst element */
    char worst_name[64]; /* that input's name */
    size_t worst_index;  /* flat index of the worst element */
    double analytic;     /* backward's value there */
    double numeric;      /* finite differences' value there */
    double abs_err;
    double rel_err;
    size_t checked;      /* elements compared */
    char message[256];   /* one line summarising the above */
} rc_gradcheck_report;

rc_status rc_gradcheck(rc_gradcheck_fn f, void *user, rc_var **inputs,
                       int n_inputs, const rc_gradcheck_opts *opts,
                       rc_gradcheck_report *report);

/* ----------------------------------------------------------------- ops -- */
/* Every op returns a new variable on the tape, or NULL with the tape's
 * status and rc_last_error() set. */

/* [M x K] * [K x N]; trans_a / trans_b use the transpose of a / b. */
rc_var *rc_matmul(rc_tape *t, rc_var *a, rc_var *b, int trans_a, int trans_b);
/* Elementwise, same shapes; or b's shape a suffix of a's shape, broadcast
 * over the leading dimensions (a bias [N] added to every row of [M x N]). */
rc_var *rc_add(rc_tape *t, rc_var *a, rc_var *b);
rc_var *rc_sub(rc_tape *t, rc_var *a, rc_var *b);
rc_var *rc_mul(rc_tape *t, rc_var *a, rc_var *b);
rc_var *rc_scale(rc_tape *t, rc_var *x, float s);

rc_var *rc_tanh(rc_tape *t, rc_var *x);
rc_var *rc_sigmoid(rc_tape *t, rc_var *x);
rc_var *rc_relu(rc_tape *t, rc_var *x);
rc_var *rc_exp(rc_tape *t, rc_var *x);
rc_var *rc_log(rc_tape *t, rc_var *x);

/* Over the last dimension. */
rc_var *rc_softmax(rc_tape *t, rc_var *x);
rc_var *rc_log_softmax(rc_tape *t, rc_var *x);
/* Mean negative log-likelihood of class ids over the rows of logits
 * [N x C] (any leading shape, classes last): sum_i m_i * nll_i / sum_i m_i.
 * mask may be NULL (all ones); a row with mask 0 may carry any target. */
rc_var *rc_cross_entropy(rc_tape *t, rc_var *logits, const int32_t *targets,
                         const float *mask);
/* Mean of (a - b)^2 over all elements. */
rc_var *rc_mse(rc_tape *t, rc_var *a, rc_var *b);
/* Independent sigmoids (multi-label): rows i of logits [N x K] (any
 * leading shape), targets y of the same shape in [0, 1],
 *   nll_i = -sum_k [y_ik log s(x_ik) + (1 - y_ik) log(1 - s(x_ik))],
 *   loss  = sum_i m_i nll_i / sum_i m_i   (summed over K, averaged over rows)
 * computed from the logits without overflow. mask: N floats or NULL (all
 * ones); a row with mask 0 may hold anything in targets. */
rc_var *rc_bce_with_logits(rc_tape *t, rc_var *logits, const float *targets, const float *mask);

/* Joins along `axis`; all other dimensions must agree. */
rc_var *rc_concat(rc_tape *t, rc_var **xs, int n, int axis);
/* Elements [start, start+len) along `axis`. */
rc_var *rc_slice(rc_tape *t, rc_var *x, int axis, int start, int len);
/* n equal parts along axis into out[0..n-1]. */
rc_status rc_split(rc_tape *t, rc_var *x, int axis, int n, rc_var **out);
/* Same data, another shape of the same size. */
rc_var *rc_reshape(rc_tape *t, rc_var *x, int ndim, const int *shape);
/* Rows of table [V x D] for n ids: [n x D]. Backward adds only into the
 * rows that were looked up. */
rc_var *rc_embedding(rc_tape *t, rc_var *table, const int32_t *ids, int n);
/* Inverted dropout with drop probability p; identity when not training or
 * p == 0. The mask comes from rng (which advances). */
rc_var *rc_dropout(rc_tape *t, rc_var *x, float p, rc_rng *rng);

/* Sum / mean of all elements: a scalar of shape [1]. */
rc_var *rc_sum(rc_tape *t, rc_var *x);
rc_var *rc_mean(rc_tape *t, rc_var *x);

/* ---------------------------------------------------- recurrent cells -- */
/* The three cells, PyTorch's equations and parameter layout (see
 * docs/rnn.md, docs/lstm.md, docs/gru.md and src/ops/{rnn,lstm,gru}.c):
 *
 *   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)           act = tanh | relu
 *   LSTM: i,f,g,o = chunks of W_ih x + b_ih + W_hh h + b_hh  (gate order i f g o)
 *         c' = sigma(f) c + sigma(i) tanh(g)
 *         h' = sigma(o) tanh(c')          and, with a projection, h' = W_hr h'
 *   GRU:  r,z,n chunks of W_ih x + b_ih and of W_hh h + b_hh (order r z n)
 *         r = sigma(x_r + h_r), z = sigma(x_z + h_z)
 *         n = tanh(x_n + r * h_n)          (reset applied after the multiply)
 *         h' = (1 - z) n + z h
 *
 * Shapes: G gates (1, 4, 3), H hidden size, P = proj size (LSTM with w_hr)
 * or H, I input size, B batch, T steps.
 *   w_ih [G*H x I], w_hh [G*H x P], b_ih and b_hh [G*H] or NULL (no bias),
 *   w_hr [P x H] or NULL (LSTM only).
 */

typedef enum rc_cell_kind {
    RC_CELL_RNN_TANH,
    RC_CELL_RNN_RELU,
    RC_CELL_LSTM,
    RC_CELL_GRU
} rc_cell_kind;

/* Number of gate blocks of a cell (1, 4 or 3). */
int rc_cell_gates(rc_cell_kind kind);
const char *rc_cell_name(rc_cell_kind kind);

typedef struct rc_cell_weights {
    rc_var *w_ih, *w_hh, *b_ih, *b_hh, *w_hr;
} rc_cell_weights;

/* One time step, for custom loops (an attention decoder):
 *   x [B x I], h [B x P], c [B x H] (LSTM only, else NULL).
 * mask: B floats or NULL; a row with mask 0 keeps its state (h_out = h,
 * c_out = c). Sets *h_out (and *c_out for LSTM). */
rc_status rc_cell_step(rc_tape *t, rc_cell_kind kind, const rc_cell_weights *w,
                       rc_var *x, rc_var *h, rc_var *c, const float *mask,
                       rc_var **h_out, rc_var **c_out);

/* The whole sequence as one node:
 *   x [T x B x I] time-major; h0 [B x P] and c0 [B x H] may be NULL (zeros).
 * lengths: B ints in 1..T, or NULL (all T). As PyTorch's packed sequences:
 * a step past a sequence's end leaves its state unchanged and its output is
 * zero; with reverse, each sequence is read from its own last element back
 * to its first.
 * Sets *y [T x B x P], *h_n [B x P] and, for LSTM, *c_n [B x H]. */
rc_status rc_cell_sequence(rc_tape *t, rc_cell_kind kind, const rc_cell_weights *w,
                           rc_var *x, rc_var *h0, rc_var *c0, const int32_t *lengths,
                           int reverse, rc_var **y, rc_var **h_n, rc_var **c_n);

/* Swaps two axes (a copy): rc_transpose(t, x, 0, 1) turns [B x T x I]
 * into [T x B x I]. */
rc_var *rc_transpose(rc_tape *t, rc_var *x, int axis_a, int axis_b);

/* ------------------------------------------------------ recurrent layer -- */
/* torch.nn.RNN / LSTM / GRU: stacked, one or two directions, dropout
 * between layers, optional biases, batch-first or time-major, initial and
 * final states, LSTM projection, variable lengths. Parameters are named and
 * shaped as PyTorch's state_dict (weight_ih_l0, weight_hh_l1_reverse,
 * bias_ih_l0, weight_hr_l0, ...). */

typedef struct rc_rnn_config {
    rc_cell_kind mode;
    int input_size;
    int hidden_size;
    int num_layers;    /* >= 1 */
    int bias;          /* 0: no bias_ih / bias_hh */
    int batch_first;   /* x and y are [B x T x .] instead of [T x B x .] */
    int bidirectional;
    int proj_size;     /* LSTM only; 0 for none */
    float dropout;     /* on the outputs of every layer but the last */
} rc_rnn_config;

typedef struct rc_rnn {
    rc_rnn_config cfg;
    int n_params;
    rc_var **params;          /* in PyTorch's state_dict order */
    rc_cell_weights *weights; /* [layer * directions + direction] */
    rc_rng dropout_rng;
} rc_rnn;

/* A config with PyTorch's defaults for the given cell and sizes. */
rc_rnn_config rc_rnn_defaults(rc_cell_kind mode, int input_size, int hidden_size);
/* Parameters drawn from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch does. */
rc_status rc_rnn_new(const rc_rnn_config *cfg, uint64_t seed, rc_rnn **out);
void rc_rnn_free(rc_rnn *m);
/* The parameter of that name, or NULL. */
rc_var *rc_rnn_param(const rc_rnn *m, const char *name);
void rc_rnn_zero_grad(rc_rnn *m);
/* Output size of each step: directions * (proj_size or hidden_size). */
int rc_rnn_output_size(const rc_rnn *m);

/* x: [T x B x I] (or [B x T x I] when batch_first); lengths: B ints or
 * NULL; h0: [layers*directions x B x P] or NULL; c0 (LSTM):
 * [layers*directions x B x H] or NULL. Sets *y [T x B x D*P] (or
 * batch-first), *h_n like h0, and *c_n like c0 for LSTM (c_n may be NULL
 * for the other cells). */
rc_status rc_rnn_forward(rc_tape *t, rc_rnn *m, rc_var *x, const int32_t *lengths,
                         rc_var *h0, rc_var *c0, rc_var **y, rc_var **h_n,
                         rc_var **c_n);

/* ------------------------------------------------------------ modules -- */

/* A model's parameters by name: what an optimizer updates and a model file
 * stores. The set does not own the variables (the modules do). */
typedef struct rc_params {
    int n, cap;
    char **names;   /* "embedding.weight", "rnn.weight_ih_l0", ... */
    rc_var **vars;
} rc_params;

void rc_params_init(rc_params *ps);
/* Adds p under prefix + p->name ("rnn." + "weight_ih_l0"); names must be
 * distinct. */
rc_status rc_params_add(rc_params *ps, const char *prefix, rc_var *p);
rc_var *rc_params_find(const rc_params *ps, const char *name);
void rc_params_zero_grad(rc_params *ps);
size_t rc_params_numel(const rc_params *ps);
void rc_params_free(rc_params *ps); /* the lists, not the variables */

/* torch.nn.Linear: y = x W^T + b, W [out x in] and b [out] named
 * "<name>.weight" and "<name>.bias", drawn from U(-1/sqrt(in), 1/sqrt(in)). */
typedef struct rc_linear {
    rc_var *weight, *bias; /* bias NULL without one */
} rc_linear;
rc_status rc_linear_init(rc_linear *l, const char *name, int in, int out, int bias, rc_rng *rng);
void rc_linear_free(rc_linear *l);
/* x [... x in] (the leading dimensions are flattened) -> [... x out]. */
rc_var *rc_linear_forward(rc_tape *t, const rc_linear *l, rc_var *x);

/* torch.nn.Embedding: a table [n x dim] named "<name>.weight", from N(0, 1). */
typedef struct rc_embedding_table {
    rc_var *weight;
} rc_embedding_table;
rc_status rc_embedding_init(rc_embedding_table *e, const char *name, int n, int dim, rc_rng *rng);
void rc_embedding_free(rc_embedding_table *e);

/* --------------------------------------------------------- model files -- */
/* Model files are safetensors (the format of Hugging Face's library):
 *
 *   8 bytes   N, the header's length, unsigned little-endian
 *   N bytes   a JSON object: for each tensor
 *               "name": {"dtype": "F32", "shape": [4, 3], "data_offsets": [b, e]}
 *             with [b, e) its bytes in the data, and optionally
 *               "__metadata__": {"key": "value", ...}   (string values only)
 *   the rest  the data: raw little-endian tensors
 *
 * rc_safetensors_open reads the whole file and checks all of it before
 * returning: the header length against the file, the JSON, every entry's
 * dtype, shape and offsets (in range, not overlapping, dtype size x shape),
 * and the metadata. Errors name the file and, where there is one, the byte
 * offset and the tensor or key. The handle is read-only: several threads
 * may read from one handle at once.
 *
 * A recurrent layer's file (written by scripts/torch2recur.py and by
 * recur) has __metadata__
 *   format "recur", recur_version "0.1.0", kind "recurrent",
 *   mode "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU", input_size, hidden_size,
 *   num_layers, proj_size ("N"), bias, batch_first, bidirectional
 *   ("true" | "false"), dropout ("0.0")
 * and the tensors of the PyTorch module's state_dict, float32, by their
 * names there (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0,
 * weight_hr_l0, ..., weight_ih_l0_reverse, ...). */

typedef struct rc_safetensors rc_safetensors;

rc_status rc_safetensors_open(const char *path, rc_safetensors **out);
void rc_safetensors_close(rc_safetensors *st);
/* The path the file was opened with (for messages). */
const char *rc_safetensors_path(const rc_safetensors *st);

/* Tensors, in the order of their data in the file (for files recur writes,
 * the order they were given in). NULL for an index out of range. */
int rc_safetensors_count(const rc_safetensors *st);
const char *rc_safetensors_name(const rc_safetensors *st, int i);
/* The index of a tensor, or -1 if the file has none of that name. */
int rc_safetensors_find(const rc_safetensors *st, const char *name);
/* "F32", "BF16", "I64", ... or NULL when there is no such tensor. */
const char *rc_safetensors_dtype(const rc_safetensors *st, const char *name);
/* The tensor's shape as stored: *ndim may be 0 (a scalar) or more than
 * RC_MAX_DIMS (then RC_ERR_SHAPE, with the first RC_MAX_DIMS in shape). */
rc_status rc_safetensors_shape(const rc_safetensors *st, const char *name, int *ndim,
                               int shape[RC_MAX_DIMS]);

/* Reads a tensor into out (allocated with rc_tensor_alloc; free it with
 * rc_tensor_free). F32 is read as is; F64, F16 and BF16 are converted to
 * float32 (F64 beyond float's range becomes +-inf); any other dtype, a
 * scalar or more than RC_MAX_DIMS dimensions is an error. */
rc_status rc_safetensors_get(const rc_safetensors *st, const char *name, rc_tensor *out);
/* The same, but the tensor must have exactly this shape (RC_ERR_SHAPE
 * naming both shapes otherwise). */
rc_status rc_safetensors_get_expect(const rc_safetensors *st, const char *name, int ndim,
                                    const int *shape, rc_tensor *out);

/* __metadata__: the value of key, or NULL if absent. */
const char *rc_safetensors_meta(const rc_safetensors *st, const char *key);
int rc_safetensors_meta_count(const rc_safetensors *st);
const char *rc_safetensors_meta_key(const rc_safetensors *st, int i); /* header order */
/* Typed metadata, strictly parsed: a missing key or a malformed value is
 * RC_ERR_FORMAT naming the file, key and value.
 *   int:   decimal digits with an optional '-', within [lo, hi]
 *   bool:  "true" or "false"
 *   float: a decimal number ("0.25", "1e-3"; no inf, nan or hex) */
rc_status rc_safetensors_meta_int(const rc_safetensors *st, const char *key, int lo, int hi,
                                  int *out);
rc_status rc_safetensors_meta_bool(const rc_safetensors *st, const char *key, int *out);
rc_status rc_safetensors_meta_float(const rc_safetensors *st, const char *key, float *out);

/* Writes n float32 tensors (in this order, little-endian) and n_meta
 * metadata strings. Names must be distinct, non-empty UTF-8 and not
 * "__metadata__". The header is padded with spaces to a multiple of 8.
 * Atomic: the file is written to "path.tmp", synced, then renamed over
 * path, so a crash leaves either the old file or the new one. */
rc_status rc_safetensors_write(const char *path, int n, const char *const *names,
                               const rc_tensor *const *tensors, int n_meta,
                               const char *const *meta_keys,
                               const char *const *meta_values);

/* NumPy .npy files (format versions 1, 2 and 3), C order, little-endian,
 * 1 to RC_MAX_DIMS dimensions. Errors name the file and what is wrong.
 * rc_npy_read: float32 as is; float64 and float16 converted to float32.
 * rc_npy_read_int: any integer or bool dtype converted to int32 (a value
 * outside int32 is an error naming its index); *data is malloc'd (free()
 * it), shape gets ndim entries. */
rc_status rc_npy_read(const char *path, rc_tensor *out);
rc_status rc_npy_read_int(const char *path, int32_t **data, int *ndim,
                          int shape[RC_MAX_DIMS]);
/* Write '<f4' / '<i4' arrays (format version 1.0), atomically as above. */
rc_status rc_npy_write(const char *path, const rc_tensor *t);
rc_status rc_npy_write_int(const char *path, const int32_t *data, int ndim, const int *shape);

/* ---- a recurrent layer's model file ---- */

/* The layer's configuration from a file's metadata. Keys are read as
 * prefix + key ("" for a plain model file; "c003/" for one case of a
 * fixture that holds many). Errors name the file and the key. */
rc_status rc_rnn_config_read(const rc_safetensors *st, const char *prefix, rc_rnn_config *cfg);
/* Loads every parameter of m from tensors named prefix + PyTorch's name;
 * each must exist with the layer's shape. */
rc_status rc_rnn_params_read(rc_rnn *m, const rc_safetensors *st, const char *prefix);
/* A layer from a model file written by recur or scripts/torch2recur.py. */
rc_status rc_rnn_load(const char *path, rc_rnn **out);
/* Writes the layer's model file (atomically). */
rc_status rc_rnn_save(const rc_rnn *m, const char *path);

/* ------------------------------------------------------------ training -- */
/* Optimizers, gradient clipping and learning-rate schedules, with PyTorch's
 * semantics (torch 1.13): torch.optim.SGD / Adam (amsgrad off) / AdamW /
 * RMSprop, torch.nn.utils.clip_grad_norm_, StepLR and ReduceLROnPlateau.
 * A typical step:
 *     rc_optim_set_lr(opt, rc_schedule_lr(&sched, rc_optim_step_count(opt)));
 *     if (rc_grads_check_finite(params, n) == RC_OK) {   (NaN guard)
 *         rc_clip_grad_norm(params, n, 1.0, &norm);
 *         rc_optim_step(opt);
 *     }
 *     rc_optim_zero_grad(opt);
 */

typedef enum rc_optim_kind {
    RC_OPTIM_SGD,
    RC_OPTIM_ADAM,
    RC_OPTIM_ADAMW,
    RC_OPTIM_RMSPROP
} rc_optim_kind;

typedef struct rc_optim_config {
    rc_optim_kind kind;
    double lr;           /* >= 0; rc_optim_set_lr changes it between steps */
    double weight_decay; /* >= 0: L2 added to the gradient (SGD, Adam,
                            RMSprop); decoupled, p *= 1 - lr*wd (AdamW) */
    double momentum;     /* SGD, RMSprop: >= 0 */
    double dampening;    /* SGD */
    int nesterov;        /* SGD: needs momentum > 0 and dampening 0 */
    double beta1, beta2; /* Adam, AdamW: each in [0, 1) */
    double eps;          /* Adam, AdamW, RMSprop: >= 0 */
    double alpha;        /* RMSprop smoothing constant: >= 0 */
    int centered;        /* RMSprop */
} rc_optim_config;

/* torch's defaults for the kind: betas (0.9, 0.999), eps 1e-8, alpha 0.99,
 * no momentum, weight decay 0 (1e-2 for AdamW). */
rc_optim_config rc_optim_defaults(rc_optim_kind kind, double lr);
/* "sgd", "adam", "adamw", "rmsprop". */
const char *rc_optim_name(rc_optim_kind kind);

typedef struct rc_optim rc_optim;

/* An optimizer over n_params parameters (made with rc_param_new, each
 * listed once, with unique non-empty names). The list is copied; the
 * parameters must outlive the optimizer. */
rc_status rc_optim_new(const rc_optim_config *cfg, rc_var *const *params, int n_params,
                       rc_optim **out);
void rc_optim_free(rc_optim *o);
/* One update of every parameter from its ->grad, with the current lr. */
rc_status rc_optim_step(rc_optim *o);
/* Zeroes the gradients of the optimizer's parameters. */
void rc_optim_zero_grad(rc_optim *o);
rc_status rc_optim_set_lr(rc_optim *o, double lr);
double rc_optim_lr(const rc_optim *o);
const rc_optim_config *rc_optim_get_config(const rc_optim *o);

/* State, for checkpoints: the step count (steps taken; Adam's bias
 * correction and SGD's first momentum step depend on it) and the state
 * tensors, each of its parameter's shape, named "<kind>.<slot>.<param>":
 *   sgd.momentum.<p>                        (momentum != 0)
 *   adam.m.<p>, adam.v.<p>                  (adamw.m, adamw.v for AdamW)
 *   rmsprop.square_avg.<p>, rmsprop.grad_avg.<p> (centered),
 *   rmsprop.momentum.<p>                    (momentum > 0)
 * Save the step count and every tensor; to resume, make an optimizer with
 * the same config and parameters and load both: the run continues bit for
 * bit as if never interrupted. */
int64_t rc_optim_step_count(const rc_optim *o);
rc_status rc_optim_set_step_count(rc_optim *o, int64_t steps);
int rc_optim_state_count(const rc_optim *o);
/* Name and tensor of state i in [0, count) (NULL outside). The tensor is
 * the optimizer's own buffer: read it to save, write it to restore. */
const char *rc_optim_state_name(const rc_optim *o, int i);
rc_tensor *rc_optim_state_tensor(rc_optim *o, int i);
/* The state tensor of that name, or NULL. */
rc_tensor *rc_optim_state_find(rc_optim *o, const char *name);
/* Copies n floats into the state tensor of that name (RC_ERR_RANGE for an
 * unknown name, RC_ERR_SHAPE when n is not its size). */
rc_status rc_optim_load_state(rc_optim *o, const char *name, const float *data, size_t n);

/* torch.nn.utils.clip_grad_norm_ with the L2 norm: the norm of all the
 * gradients together goes to *total_norm (may be NULL); when
 * c = max_norm / (norm + 1e-6) is below 1 every gradient is multiplied by c.
 * max_norm must be > 0 (INFINITY only measures). A NaN or Inf norm leaves
 * the gradients unchanged (torch would scale them by NaN): check the norm,
 * or call rc_grads_check_finite first. */
rc_status rc_clip_grad_norm(rc_var *const *params, int n_params, double max_norm,
                            double *total_norm);
/* RC_OK when every gradient element is finite, else RC_ERR_NUMERIC with a
 * message naming the first parameter and element that is NaN or Inf. */
rc_status rc_grads_check_finite(rc_var *const *params, int n_params);

/* Learning-rate schedules. rc_schedule_lr(s, t) is the lr after t schedule
 * steps (torch's last_epoch): t counts epochs for step decay and optimizer
 * steps for cosine, as you choose to call it. Plateau changes only through
 * rc_schedule_observe. */
typedef enum rc_sched_kind {
    RC_SCHED_CONSTANT, /* base_lr */
    RC_SCHED_STEP,     /* base_lr * gamma^floor(t / step_size)  (StepLR) */
    RC_SCHED_COSINE,   /* t < warmup: base_lr * (t+1) / warmup; then from
                          base_lr down to min_lr along half a cosine,
                          reaching min_lr at t = total_steps and staying */
    RC_SCHED_PLATEAU   /* ReduceLROnPlateau, fed a validation metric */
} rc_sched_kind;

typedef struct rc_schedule {
    rc_sched_kind kind;
    double base_lr;
    int64_t step_size;           /* step decay */
    double gamma;
    int64_t warmup_steps;        /* cosine */
    int64_t total_steps;
    double min_lr;               /* cosine, plateau */
    double factor;               /* plateau: lr = max(lr * factor, min_lr) */
    int64_t patience, cooldown;
    double threshold;            /* 1e-4 */
    int mode_max;                /* 0: lower metric is better (torch 'min') */
    int threshold_abs;           /* 0: relative threshold (torch 'rel') */
    double eps;                  /* 1e-8: smaller lr changes are skipped */
    /* plateau state (see rc_schedule_get_state) */
    double lr;
    double best;
    int64_t num_bad_epochs, cooldown_counter, last_epoch;
} rc_schedule;

rc_status rc_schedule_constant(rc_schedule *s, double lr);
rc_status rc_schedule_step_decay(rc_schedule *s, double base_lr, int64_t step_size,
                                 double gamma);
rc_status rc_schedule_cosine(rc_schedule *s, double base_lr, double min_lr,
                             int64_t warmup_steps, int64_t total_steps);
/* torch's defaults otherwise: mode min, threshold 1e-4 relative, eps 1e-8
 * (torch's own defaults for the arguments: factor 0.1, patience 10,
 * cooldown 0, min_lr 0). */
rc_status rc_schedule_plateau(rc_schedule *s, double base_lr, double factor, int64_t patience,
                              int64_t cooldown, double min_lr);
/* Plateau's other options, set right after rc_schedule_plateau: mode max
 * (higher is better), the threshold and whether it is absolute. */
rc_status rc_schedule_plateau_mode(rc_schedule *s, int mode_max, double threshold,
                                   int threshold_abs);
double rc_schedule_lr(const rc_schedule *s, int64_t t);
/* Feeds a validation metric (plateau; the other kinds ignore it). Sets
 * *reduced (may be NULL) to 1 when the lr was just lowered. A NaN metric
 * counts as no improvement. */
rc_status rc_schedule_observe(rc_schedule *s, double metric, int *reduced);

/* The plateau state as numbers, for checkpoints, in this order:
 * "lr", "best" (may be +-INFINITY before the first metric),
 * "num_bad_epochs", "cooldown_counter", "last_epoch". */
#define RC_SCHEDULE_STATE_N 5
const char *rc_schedule_state_name(int i);
void rc_schedule_get_state(const rc_schedule *s, double out[RC_SCHEDULE_STATE_N]);
rc_status rc_schedule_set_state(rc_schedule *s, const double in[RC_SCHEDULE_STATE_N]);

/* ---- checkpoints ----
 * A checkpoint is a model file that can also carry the optimizer's state and
 * whatever else a task needs to resume exactly (carried hidden states, the
 * training position, loss history): parameters under their names in ps,
 * optimizer state tensors under "optim/<name>" with its step count in the
 * metadata "optim/step", extra tensors and metadata as given. Written
 * atomically (temporary file, sync, rename). */
rc_status rc_checkpoint_save(const char *path, const rc_params *ps, rc_optim *opt,
                             int n_extra, const char *const *extra_names,
                             const rc_tensor *const *extra, int n_meta,
                             const char *const *meta_keys, const char *const *meta_values);
/* Loads every parameter of ps (each must exist with its shape). */
rc_status rc_checkpoint_load_params(const rc_safetensors *st, rc_params *ps);
/* Loads the optimizer's state saved by rc_checkpoint_save. */
rc_status rc_checkpoint_load_optim(const rc_safetensors *st, rc_optim *opt);

/* ---------------------------------------------- text and vocabularies -- */
/* Corpora for language models: a text file read as UTF-8, and a vocabulary
 * that turns it into token ids and back.
 *
 * Character level: one token per Unicode code point (newline included).
 * Word level: tokens are the runs between ASCII whitespace (space, tab,
 * CR, VT, FF; other Unicode spaces are not separators), and every line
 * ends with the token "<eos>", as in the Penn Treebank files: a blank line
 * gives just "<eos>", and a last line without '\n' gets one if it holds a
 * word. Id 0 is "<unk>" (unseen and rare tokens, and a literal "<unk>" in
 * the text); id 1 is "<eos>" for words; the other tokens follow by
 * descending count, ties in byte order, so the same text always gives the
 * same ids. */

typedef enum rc_text_level { RC_TEXT_CHAR, RC_TEXT_WORD } rc_text_level;

#define RC_VOCAB_UNK 0 /* id of "<unk>" */
#define RC_VOCAB_EOS 1 /* id of "<eos>" (word vocabularies) */

/* Reads a whole UTF-8 text file (a regular file) into *text (malloc'd,
 * NUL-terminated; free it) and its length in bytes into *len. A byte order mark at the start is
 * skipped and CRLF is read as LF. Errors: a file that cannot be opened or
 * read (RC_ERR_IO naming it), an empty file, a NUL byte or invalid UTF-8
 * (RC_ERR_FORMAT "text_read: FILE:LINE:COL: ..." with the column in
 * characters, the byte in hex, its offset in the file and why). */
rc_status rc_text_read(const char *path, char **text, size_t *len);
/* The same checks on text[0..len): no NUL byte and valid UTF-8 (no
 * overlong forms, surrogates or code points past U+10FFFF). `name` stands
 * for the text in messages ("text" if NULL). */
rc_status rc_text_validate(const char *text, size_t len, const char *name);

typedef struct rc_vocab rc_vocab;

/* Builds a vocabulary from text[0..len) (valid UTF-8 without NUL bytes):
 * tokens seen fewer than min_freq times are left out (0 or 1 keeps all);
 * max_size > 0 keeps at most that many ids, "<unk>" (and "<eos>")
 * included; 0 means no limit. The text may be freed afterwards. */
rc_status rc_vocab_build(const char *text, size_t len, rc_text_level level, int min_freq,
                         int max_size, rc_vocab **out);
void rc_vocab_free(rc_vocab *v);
int rc_vocab_size(const rc_vocab *v);
rc_text_level rc_vocab_level(const rc_vocab *v);
/* The token of an id (NUL-terminated, owned by v), NULL if out of range. */
const char *rc_vocab_token(const rc_vocab *v, int id);
/* The id of token[0..len), RC_VOCAB_UNK (0) if absent. */
int rc_vocab_id(const rc_vocab *v, const char *token, size_t len);
/* Text to ids, by characters or words as the vocabulary's level says
 * (words get "<eos>" at line ends). *ids is malloc'd (free it), *n the
 * count. n_unk (may be NULL) gets the number of tokens not in the
 * vocabulary, which became "<unk>" (a literal "<unk>" is not counted).
 * A vocabulary is read-only: several threads may use one at once. */
rc_status rc_vocab_encode(const rc_vocab *v, const char *text, size_t len, int32_t **ids,
                          size_t *n, size_t *n_unk);
/* Ids back to text, into a malloc'd NUL-terminated string: characters are
 * joined as they are; words are joined by one space and "<eos>" becomes a
 * newline. "<unk>" is written as "<unk>". An id out of range is
 * RC_ERR_RANGE naming its index. */
rc_status rc_vocab_decode(const rc_vocab *v, const int32_t *ids, size_t n, char **text);
/* The vocabulary as one JSON document (malloc'd string), for model files:
 *   {"level":"char","tokens":["<unk>","\n"," ","e",...]}
 * tokens in id order, JSON-escaped (quotes, backslashes, control
 * characters; other UTF-8 as is). rc_vocab_from_json reads it back
 * strictly: exactly those two keys, "<unk>" first (and "<eos>" second for
 * words), every token a non-empty string without NUL, a single character
 * for char vocabularies, without whitespace for word ones, none repeated.
 * Errors (RC_ERR_FORMAT) say which key or token is wrong. */
rc_status rc_vocab_to_json(const rc_vocab *v, char **json);
rc_status rc_vocab_from_json(const char *json, rc_vocab **out);

/* ---------------------------------------------------------- CSV series -- */
/* One column of a CSV file read as a series of floats (time series for
 * forecasting). The format is RFC 4180's: comma-separated fields, any of
 * them quoted ("a, b", with "" for a quote inside; line breaks may be
 * quoted too), rows ending in LF or CRLF, the last one with or without a
 * line end. A UTF-8 byte order mark is skipped and blank lines at the start
 * and end are ignored. Every row must have as many fields as the first.
 *
 * `column` is a header name ("Passengers") or a 1-based column number in
 * digits ("2"); a header name that matches exactly wins over the number.
 * header: 1 the first row is a header, 0 there is none (the column must be
 * a number), RC_CSV_HEADER_AUTO: a header when the column is named, or when
 * the first row's field in the numbered column is not a number.
 * Values are decimal numbers with optional spaces around them; an empty
 * field, text, NaN, Inf or hex is an error.
 *
 * Errors: the file cannot be read (RC_ERR_IO naming it); RC_ERR_FORMAT,
 * each "csv_read: FILE:LINE: ..." with the line where the row starts:
 * an empty file, a header without data rows, a column not in the header
 * (the header's names are listed) or past the last one, a row with another
 * number of fields (a ragged row), a value that is not a number (naming
 * the column's number and name and quoting the field), a blank line inside
 * the data, an unclosed quote or text after a closing quote; RC_ERR_ARG
 * for no column, a bad header argument, or a name with header 0. */
#define RC_CSV_HEADER_AUTO (-1)

typedef struct rc_csv_column {
    float *values;     /* n values in file order (malloc'd) */
    size_t n;
    char name[128];    /* the header name, or "column N" without a header */
    int index;         /* 1-based column number */
    int header;        /* 1 if the file had a header row */
    size_t first_line; /* the file line of values[0] */
} rc_csv_column;

rc_status rc_csv_read_column(const char *path, const char *column, int header,
                             rc_csv_column *out);
/* Frees the values and zeroes *c. */
void rc_csv_column_free(rc_csv_column *c);

/* ----------------------------------------------------------------- CTC -- */
/* Connectionist temporal classification (Graves et al. 2006), as
 * torch.nn.CTCLoss: a sequence of T frames of class log-probabilities is
 * scored against a shorter label sequence by summing over every alignment
 * (labels repeated over frames, blanks anywhere, a blank required between
 * two equal labels). See src/ops/ctc.c for the recursions. */

typedef enum rc_ctc_reduction {
    RC_CTC_MEAN, /* torch 'mean': each loss / max(its target length, 1), then
                    the mean over the batch; a scalar [1] */
    RC_CTC_SUM,  /* the sum over the batch; a scalar [1] */
    RC_CTC_NONE  /* one loss per sequence: [B] */
} rc_ctc_reduction;

/* "mean", "sum", "none". */
const char *rc_ctc_reduction_name(rc_ctc_reduction r);

/* The CTC loss (negative log-likelihood) of log_probs [T x B x C]
 * (time-major, log_softmax outputs; -inf allowed, NaN and +inf are errors)
 * against targets: the label ids of all B sequences back to back
 * (target_lengths[b] of them for sequence b; may be NULL when all are 0),
 * each in [0, C) and not the blank. Sequence b reads its first
 * input_lengths[b] frames (0..T). A target that cannot be aligned (longer
 * than its input allows, counting a blank between equal neighbours) has
 * loss +inf and a NaN gradient on its frames, as torch's; with
 * zero_infinity its loss and gradient are 0 instead.
 * The gradient with respect to log_probs is torch's: exp(log_probs) minus
 * the normalised alpha-beta occupancy, which is exact for logits through
 * rc_log_softmax; frames past a sequence's length get 0.
 * Errors (the op fails): a shape that is not 3-D or is empty, blank outside
 * [0, C), lengths out of range or a label that is the blank or outside
 * [0, C) (RC_ERR_RANGE naming the sequence and label), NULL lengths. */
rc_var *rc_ctc_loss(rc_tape *t, rc_var *log_probs, const int32_t *targets,
                    const int32_t *input_lengths, const int32_t *target_lengths, int blank,
                    rc_ctc_reduction reduction, int zero_infinity);

/* Best-path decoding of log_probs [T x B x C] (plain floats, time-major):
 * the most likely class at each of sequence b's first input_lengths[b]
 * frames (input_lengths may be NULL: all T; ties go to the lower id),
 * repeats collapsed and blanks dropped. Sequence b's labels go to
 * labels + b*T (room for T each) and their count to lengths[b]. */
rc_status rc_ctc_greedy_decode(const float *log_probs, int T, int B, int C,
                               const int32_t *input_lengths, int blank, int32_t *labels,
                               int32_t *lengths);

/* Prefix beam search over one sequence of T frames: frame t's C
 * log-probabilities are at log_probs + t*stride (stride 0 means C; for
 * sequence b of a [T x B x C] batch pass log_probs + b*C, stride B*C and its
 * own length as T). Keeps the beam_width most probable label prefixes,
 * each scored by the log of the summed probability of all its alignments
 * seen so far; with a beam as wide as the number of possible prefixes the
 * scores are exact (-ctc_loss of the labelling). Writes the n_best
 * (1..beam_width) best labellings, most probable first: hypothesis j's
 * labels at labels + j*T (room for T each), its length in lengths[j] and
 * log-probability in scores[j]; *n_found gets how many were written (fewer
 * than n_best when fewer labellings have nonzero probability; 1, the
 * empty labelling, when T is 0). */
rc_status rc_ctc_beam_search(const float *log_probs, int T, int C, size_t stride, int blank,
                             int beam_width, int n_best, int32_t *labels, int32_t *lengths,
                             float *scores, int *n_found);

/* ---------------------------------------------------- linear-chain CRF -- */
/* A linear-chain conditional random field over K tags (src/ops/crf.c).
 * A tag path y of a sequence of length L scores
 *   score(y) = start[y_0] + sum_{t<L} emissions[t][y_t]
 *            + sum_{0<t<L} transitions[y_{t-1}][y_t] + end[y_{L-1}]
 * and has probability exp(score(y)) / Z, Z summing over all K^L paths.
 * Layouts: emissions [T x B x K] time-major (element (t, b, k) at
 * (t*B + b)*K + k); transitions [K x K], row i = from tag i, column j = to
 * tag j; start and end [K], or NULL for none (zeros); tags and best paths
 * [T x B] (tags[t*B + b]); lengths B ints in 1..T, or NULL (all T).
 * Transitions, start and end may hold -inf to forbid a move (as I-PER
 * after O); NaN and +inf are errors. */

/* The mean over the batch of log Z_b - score_b(tags) (forward algorithm in
 * log space, in double); backward from the forward-backward marginals.
 * Positions t >= lengths[b] are ignored: any tag and emission there, zero
 * gradient. Errors (the tape's status, the message names them): a tag
 * outside [0, K) or a length outside 1..T (RC_ERR_RANGE, naming the
 * sequence and position), a non-finite emission within a length or a gold
 * path through a -inf score (RC_ERR_NUMERIC), shapes (RC_ERR_SHAPE),
 * NULL tags (RC_ERR_ARG). */
rc_var *rc_crf_nll(rc_tape *t, rc_var *emissions, rc_var *transitions, rc_var *start,
                   rc_var *end, const int32_t *tags, const int32_t *lengths);

/* Viterbi decoding of every sequence, on plain arrays laid out as above.
 * Writes best_tags [T x B] (-1 past each sequence's length) and, when
 * best_scores is not NULL, each best path's score (B floats). Ties go to
 * smaller tag ids, decided from the end: among equally good paths, the one
 * with the smallest last tag, then the smallest tag before it, and so on
 * back to the first (scores summed in double, so integer-valued scores tie
 * exactly). Errors: a NULL array (RC_ERR_ARG), T, B or K below 1
 * (RC_ERR_SHAPE), a length outside 1..T (RC_ERR_RANGE), a non-finite
 * emission within a length, NaN or +inf scores, or a sequence whose every
 * path scores -inf (RC_ERR_NUMERIC); the outputs are then unspecified. */
rc_status rc_crf_viterbi(const float *emissions, const float *transitions, const float *start,
                         const float *end, int T, int B, int K, const int32_t *lengths,
                         int32_t *best_tags, float *best_scores);

/* -------------------------------- tag schemes and chunk F1 (conlleval) -- */
/* Tags are strings: "O", or B-, I-, E- or S- followed by a type ("B-PER";
 * the type is everything after the first '-'). The schemes:
 *   IOB1   I-X inside chunks; B-X only where a chunk directly follows
 *          another X chunk (the original CoNLL-2003 files)
 *   IOB2   (BIO) every chunk B-X I-X ... (the shared NER data)
 *   IOBES  one-token chunks S-X, longer ones B-X I-X ... E-X
 * Chunks are read with the conlleval script's rules, the same for every
 * scheme, so any tag sequence, well-formed or not, has one reading:
 *   a chunk starts at B- and S-, at I- or E- after O, E- or S-, and at any
 *   tag whose type differs from the previous tag's (I-X after O or after
 *   a Y chunk starts an X chunk; B-X I-Y is two chunks);
 *   a chunk ends after E- and S-, before O, B- and S-, and before any
 *   change of type.
 * For tags without E- and S- (IOB1, IOB2) these are exactly conlleval's
 * rules; conlleval has no S- and, being written for IOE, reads E-X B-X as
 * one chunk, where IOBES means two. */

typedef enum rc_tag_scheme { RC_TAGS_IOB1, RC_TAGS_IOB2, RC_TAGS_IOBES } rc_tag_scheme;

/* "iob1", "iob2", "iobes"; parse also takes "bio" for IOB2. */
const char *rc_tag_scheme_name(rc_tag_scheme s);
rc_status rc_tag_scheme_parse(const char *name, rc_tag_scheme *out);

/* RC_OK when the n tags of one sentence are well-formed in the scheme,
 * else RC_ERR_FORMAT naming the first tag (and its position) that is not. */
rc_status rc_tags_check(const char *const *tags, size_t n, rc_tag_scheme scheme);

/* One sentence's tags rewritten in scheme `to`: the chunks read as above,
 * written out again, so the result has the same chunks (and conlleval
 * scores) as the input, whatever its scheme. *out is one malloc'd block
 * of n pointers to the new tags, the strings included: free(*out) frees it
 * all. A tag that is not O or a prefix and a type is RC_ERR_FORMAT. */
rc_status rc_tags_convert(const char *const *tags, size_t n, rc_tag_scheme to,
                          const char ***out);

/* Precision, recall and F1 in percent, as conlleval prints them:
 * 100 correct/predicted, 100 correct/gold, their harmonic mean; 0 where a
 * denominator is 0. */
typedef struct rc_prf {
    double precision, recall, f1;
} rc_prf;
rc_prf rc_prf_from_counts(int64_t gold, int64_t predicted, int64_t correct);

typedef struct rc_chunk_counts {
    char *type;        /* "PER" */
    int64_t gold;      /* chunks in the gold tags */
    int64_t predicted; /* chunks in the predicted tags */
    int64_t correct;   /* predicted chunks with a gold one of the same type,
                          first token and last token */
} rc_chunk_counts;

/* Counts over a corpus, sentence by sentence. */
typedef struct rc_conlleval {
    int64_t sentences, tokens;
    int64_t correct_tags;            /* tokens whose predicted tag is the gold tag */
    int64_t gold, predicted, correct; /* chunks, all types */
    int n_types, cap_types;
    rc_chunk_counts *types;          /* sorted by type (byte order), as conlleval lists them */
} rc_conlleval;

void rc_conlleval_init(rc_conlleval *ev);
void rc_conlleval_free(rc_conlleval *ev);
/* Adds one sentence of n tokens (a sentence boundary closes every chunk).
 * A bad tag is RC_ERR_FORMAT naming the sentence, side and position, and
 * leaves the counts as they were. */
rc_status rc_conlleval_add(rc_conlleval *ev, const char *const *gold,
                           const char *const *predicted, size_t n);
rc_prf rc_conlleval_overall(const rc_conlleval *ev);
/* Token accuracy in percent (0 with no tokens). */
double rc_conlleval_accuracy(const rc_conlleval *ev);
/* conlleval's report (malloc'd; free it):
 *   processed 12 tokens with 3 phrases; found: 3 phrases; correct: 2.
 *   accuracy:  83.33%; precision:  66.67%; recall:  66.67%; FB1:  66.67
 *                 LOC: precision: 100.00%; recall: 100.00%; FB1: 100.00  1
 * one line per type: its scores and its number of predicted chunks. */
rc_status rc_conlleval_report(const rc_conlleval *ev, char **text);

/* ----------------------------------------------------------- attention -- */
/* Attention of a decoder query over a batch of padded source sequences
 * (src/ops/attention.c has the equations). One fused op per score:
 *   dot      (Luong)    e_bs = q_b . k_sb
 *   general  (Luong)    e_bs = q_b . (W k_sb)
 *   additive (Bahdanau) e_bs = v . tanh(W_q q_b + W_k k_sb (+ b))
 * then a softmax over each row's valid positions s < lengths[b] (positions
 * past the length get weight exactly 0, and their keys and values exactly
 * no gradient, whatever they hold) and the context c_b = sum_s a_bs val_sb.
 *
 * Shapes: query [B x Dq]; keys, keys_proj and values [S x B x .]
 * time-major, as the recurrent layer's outputs; lengths B ints in 1..S, or
 * NULL (all S). Sets *context [B x Dv] and *weights [B x S] (either may be
 * NULL if unwanted): both are variables, views of one node, so a decoder
 * can keep each step's weights for the alignment picture or put a loss on
 * them. The projections W k_sb (+ b) do not change from one decoder step
 * to the next: make them once per source batch with rc_attention_project
 * and pass them as keys_proj.
 * Errors (the tape fails): shapes that do not fit (RC_ERR_SHAPE naming
 * them), a length outside 1..S (RC_ERR_RANGE naming the row), a score that
 * is NaN or infinite (RC_ERR_NUMERIC). */

/* keys [S x B x Dk], w [A x Dk], b [A] or NULL -> keys w^T + b [S x B x A]:
 * one matrix multiply over all positions. */
rc_var *rc_attention_project(rc_tape *t, rc_var *keys, rc_var *w, rc_var *b);
/* keys [S x B x Dq]; values [S x B x Dv], or NULL to use the keys. */
rc_status rc_attention_dot(rc_tape *t, rc_var *query, rc_var *keys, rc_var *values,
                           const int32_t *lengths, rc_var **context, rc_var **weights);
/* keys_proj = rc_attention_project(t, keys, W, NULL) [S x B x Dq], W
 * [Dq x Dk]; values [S x B x Dv] (usually the keys themselves). */
rc_status rc_attention_general(rc_tape *t, rc_var *query, rc_var *keys_proj, rc_var *values,
                               const int32_t *lengths, rc_var **context, rc_var **weights);
/* w_q [A x Dq] (or NULL when the query is already projected: Dq = A);
 * keys_proj = rc_attention_project(t, keys, W_k, b) [S x B x A]; v [A];
 * values [S x B x Dv]. */
rc_status rc_attention_additive(rc_tape *t, rc_var *query, rc_var *w_q, rc_var *keys_proj,
                                rc_var *v, rc_var *values, const int32_t *lengths,
                                rc_var **context, rc_var **weights);

/* ---------------------------------------------------------------- BLEU -- */
/* Corpus BLEU as sacreBLEU 2.x computes it (BLEU().corpus_score with its
 * defaults: 13a tokenization, 4-grams, clipped counts against the largest
 * count in any one reference, the closest reference length for the
 * brevity penalty, 'exp' smoothing, case-sensitive), scores on 0..100.
 * src/io/bleu.c has the formulas and the tokenizer's rules. Mixed case
 * only: for case-insensitive BLEU lower-case both sides first. */

#define RC_BLEU_MAX_ORDER 4

typedef enum rc_bleu_tokenizer {
    RC_BLEU_TOK_13A, /* mteval-v13a, sacreBLEU's default */
    RC_BLEU_TOK_NONE /* whitespace only, for text that is already tokenized */
} rc_bleu_tokenizer;

typedef enum rc_bleu_smooth {
    RC_BLEU_SMOOTH_EXP,  /* sacreBLEU's default: the k-th order without a
                            match gets precision 100 / (2^k * its n-grams) */
    RC_BLEU_SMOOTH_NONE, /* an order without a match makes BLEU 0 */
    RC_BLEU_SMOOTH_FLOOR,/* 100 * smooth_value / its n-grams (0.1) */
    RC_BLEU_SMOOTH_ADD_K /* orders >= 2 get smooth_value (1) added to both */
} rc_bleu_smooth;

typedef struct rc_bleu_config {
    rc_bleu_tokenizer tokenize;
    rc_bleu_smooth smooth;
    double smooth_value; /* floor, add-k; <= 0: sacreBLEU's default (0.1, 1) */
    int max_order;       /* 1..RC_BLEU_MAX_ORDER (4) */
    int effective_order; /* average only over orders that have n-grams
                            (sacreBLEU's sentence-level setting) */
} rc_bleu_config;

/* The score and what sacreBLEU prints with it. */
typedef struct rc_bleu_score {
    double score;                         /* 0..100 */
    double precisions[RC_BLEU_MAX_ORDER]; /* percent, after smoothing */
    double bp;                            /* brevity penalty */
    double ratio;                         /* hyp_len / ref_len (0 if ref_len is 0) */
    int64_t hyp_len, ref_len;             /* tokens */
    int64_t counts[RC_BLEU_MAX_ORDER];    /* clipped matches of each order */
    int64_t totals[RC_BLEU_MAX_ORDER];    /* hypothesis n-grams of each order */
    int max_order;
    int n_refs;                           /* references per segment; -1 if it varies */
} rc_bleu_score;

/* sacreBLEU's defaults: 13a, exp smoothing, max_order 4, no effective order. */
rc_bleu_config rc_bleu_defaults(void);

/* BLEU of n hypotheses (UTF-8 strings) against n_refs reference streams:
 * refs[r][i] is reference r of segment i; a NULL or "" reference is
 * skipped (segments may have different numbers), but each segment needs
 * one. cfg NULL: the defaults. Errors: RC_ERR_ARG for NULL arguments, no
 * hypotheses, a segment without a reference or a bad config;
 * RC_ERR_FORMAT for invalid UTF-8 (naming the string). */
rc_status rc_bleu_corpus(const char *const *hyps, size_t n, const char *const *const *refs,
                         int n_refs, const rc_bleu_config *cfg, rc_bleu_score *out);
/* The score from summed statistics (max_order entries of counts and
 * totals), e.g. gathered elsewhere. */
rc_status rc_bleu_from_stats(const int64_t *counts, const int64_t *totals, int64_t hyp_len,
                             int64_t ref_len, const rc_bleu_config *cfg, rc_bleu_score *out);
/* The text as the tokenizer sees it: trailing whitespace stripped,
 * tokenized, tokens joined by single spaces (malloc'd; free it). */
rc_status rc_bleu_tokenize(const char *text, rc_bleu_tokenizer kind, char **out);
/* sacreBLEU's score line into buf (n bytes); returns buf:
 *   BLEU = 35.12 66.7/41.2/29.1/20.5 (BP = 1.000 ratio = 1.012 hyp_len = 12345 ref_len = 12198) */
char *rc_bleu_format(const rc_bleu_score *s, char *buf, size_t n);
/* sacreBLEU's signature for the score and config; the version names recur:
 *   nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:recur-0.1.0 */
char *rc_bleu_signature(const rc_bleu_score *s, const rc_bleu_config *cfg, char *buf, size_t n);

/* --------------------------------------------------------------- trees -- */
/* Labelled bracketed trees, as the Stanford Sentiment Treebank ships them:
 * one tree per line, PTB style, every node labelled 0-4:
 *     (3 (2 (2 The) (2 Rock)) (4 (2 is) (4 great)))
 * A leaf is "(LABEL WORD)"; an inner node is "(LABEL CHILD CHILD ...)" with
 * one or more children (unary chains and any arity are accepted). A word
 * is a run of bytes other than ASCII whitespace and parentheses (SST
 * writes literal brackets as -LRB- / -RRB-; words are kept as written).
 *
 * Storage is flat: within a tree the nodes are numbered bottom-up in
 * post-order, so every child comes before its parent and the root is the
 * last node (n_nodes - 1); the leaves come in sentence order. A tree with
 * n nodes has n - 1 child entries. */

typedef struct rc_treebank rc_treebank;

/* One tree, a view into its treebank (valid while the treebank lives and
 * until the next rc_treebank_index for word_id). Node indices are local to
 * the tree (0 .. n_nodes-1); every array below has n_nodes entries except
 * children (n_nodes - 1) and leaves (n_leaves). */
typedef struct rc_tree {
    int n_nodes, n_leaves;
    int line;                   /* line of the tree in its file (1-based) */
    const int32_t *label;       /* 0..4 */
    const int32_t *n_children;  /* 0 for leaves */
    const int32_t *first_child; /* node i's children: children[first_child[i] ..
                                   first_child[i] + n_children[i]), left to right */
    const int32_t *children;
    const int32_t *parent;      /* -1 for the root */
    const int32_t *leaf_pos;    /* position of a leaf in the sentence, -1 for inner nodes */
    const int32_t *word_id;     /* after rc_treebank_index: a leaf's id (RC_VOCAB_UNK if
                                   unknown); -1 for inner nodes and before indexing */
    const char *const *word;    /* a leaf's word (NUL-terminated), NULL for inner nodes */
    const int32_t *leaves;      /* the leaves' node indices, left to right */
} rc_tree;

/* Reads a file of trees, one per line (blank lines are skipped). Errors:
 * the file cannot be read (RC_ERR_IO); RC_ERR_FORMAT "trees_read:
 * FILE:LINE:COL: ..." (column in characters) for an empty file or one
 * without trees, invalid UTF-8 or a NUL byte, unbalanced parentheses
 * (a tree must end on its line), a missing, non-numeric or out-of-range
 * label, an empty node "()", a node without a word or children, a word
 * beside subtrees or a second word in a leaf, text after the tree. */
rc_status rc_trees_read(const char *path, rc_treebank **out);
/* One tree from text[0..len) (which may span lines, e.g. stdin): the same
 * rules, messages "tree_parse: text:LINE:COL: ...", and nothing but
 * whitespace may follow the tree. The result holds exactly one tree. */
rc_status rc_tree_parse(const char *text, size_t len, rc_treebank **out);
void rc_treebank_free(rc_treebank *tb);
int rc_treebank_count(const rc_treebank *tb);
/* Nodes over all trees (for sizing batches). */
size_t rc_treebank_total_nodes(const rc_treebank *tb);
/* Tree i (0-based) into *out; RC_ERR_RANGE when i is out of range. */
rc_status rc_treebank_tree(const rc_treebank *tb, int i, rc_tree *out);
/* Tree i's words left to right joined by single spaces (malloc'd). */
rc_status rc_treebank_sentence(const rc_treebank *tb, int i, char **out);
/* A word vocabulary over all the leaves (rc_vocab_build's rules with each
 * tree's sentence as a line: id 0 "<unk>", 1 "<eos>", then by count). */
rc_status rc_treebank_build_vocab(const rc_treebank *tb, int min_freq, int max_size,
                                  rc_vocab **out);
/* Sets every leaf's word_id from the vocabulary (which must be a word
 * vocabulary); n_unk (may be NULL) gets the leaves that became "<unk>". */
rc_status rc_treebank_index(rc_treebank *tb, const rc_vocab *v, size_t *n_unk);

/* --------------------------------------------------------- music files -- */
/* Piano rolls: each time step is a frame of 88 keys, column k = MIDI note
 * 21 + k (A0 .. C8), 1 while the note sounds, 0 otherwise. A set of pieces
 * shares one array: piece i has n_steps[i] frames starting at frame
 * start[i], i.e. at frames + start[i] * RC_PIANO_KEYS. */
#define RC_PIANO_KEYS 88
#define RC_PIANO_LOW 21 /* MIDI note of column 0; the highest is 108 */

typedef struct rc_pianorolls {
    int n_pieces;
    int32_t *n_steps;   /* per piece */
    size_t *start;      /* per piece: its first frame */
    size_t total_steps; /* frames over all pieces */
    uint8_t *frames;    /* total_steps x RC_PIANO_KEYS, 0 or 1 */
} rc_pianorolls;

/* Reads the piano-roll JSON of the Boulanger-Lewandowski benchmarks:
 * {"train":[piece,...],"valid":[...],"test":[...]}, a piece a list of
 * time steps, a step the list of sounding MIDI notes (integers 21-108, []
 * for silence). `split` names the key to read; with split NULL the
 * document must itself be the list of pieces. A note repeated within a
 * step counts once. Errors: the file cannot be read (RC_ERR_IO);
 * RC_ERR_FORMAT "pianoroll_read: PATH: ..." for malformed JSON (with the
 * byte offset), a missing split, wrong nesting, a non-integer note, a note
 * out of 21-108 or a piece without steps (with piece, step and byte
 * offset). out is zeroed on error. */
rc_status rc_pianoroll_read(const char *path, const char *split, rc_pianorolls *out);
/* The same from text[0..len); messages name "text" instead of a path. */
rc_status rc_pianoroll_parse(const char *text, size_t len, const char *split,
                             rc_pianorolls *out);
void rc_pianorolls_free(rc_pianorolls *r);

/* Writes a piano roll (n_steps x RC_PIANO_KEYS, nonzero = sounding) as a
 * format-0 Standard MIDI File, atomically: one track on channel 1, a tempo
 * event for `bpm` (beats = quarter notes, 4-1000), steps_per_beat steps to
 * the beat (1-64), velocity 80, n_steps 1-2000000. A key that stays on over consecutive steps
 * is one held note (a piano roll cannot tell a held note from a repeated
 * one). */
rc_status rc_midi_write(const char *path, const uint8_t *frames, int n_steps, double bpm,
                        int steps_per_beat);

/* Reads a Standard MIDI File (format 0 or 1; tracks merged, every channel)
 * into a one-piece piano roll at steps_per_beat steps to the quarter note
 * (1-64). Quantisation is by beats (MIDI ticks), so tempo changes do not
 * move notes; *bpm (may be NULL) gets the first tempo (120 without one).
 * A note starts at the step nearest its note-on and ends at the step
 * nearest its note-off (at least one step); the roll ends with the last
 * note. Note-on with velocity 0 is a note-off; running status is honoured.
 * Notes outside 21-108 are dropped and counted in *n_dropped (may be NULL).
 * Errors (RC_ERR_FORMAT "midi_read: PATH: byte N: ..."): a bad header
 * chunk, format 2, SMPTE time division, a truncated file, a track length
 * past the end, a variable-length quantity over 4 bytes, a data byte
 * without running status, a piece of over 10 million steps, and a file
 * without a note in 21-108. */
rc_status rc_midi_read(const char *path, int steps_per_beat, rc_pianorolls *out,
                       double *bpm, size_t *n_dropped);

/* ------------------------------------------------------------ datasets -- */
/* Readers for the labelled sequence data sets (src/io/conll.c, splice.c,
 * skeleton.c). Errors are RC_ERR_FORMAT "FN: FILE:LINE[:COL]: ..." for
 * malformed contents, RC_ERR_IO naming the file when it cannot be read. */

/* CoNLL column files (CoNLL-2003: "word POS chunk NER"): one token a line,
 * whitespace-separated columns (spaces or tabs), blank lines between
 * sentences; "-DOCSTART-" lines are counted (n_docs) and end a sentence
 * but hold no token. The file is read as UTF-8 (rc_text_read: a byte order
 * mark skipped, CRLF read as LF). Every token line must have as many
 * columns as the file's first non-blank line. */
typedef struct rc_conll {
    int n_sentences;
    size_t n_tokens;
    int n_columns;       /* columns per line in the file */
    int n_docs;          /* -DOCSTART- lines */
    size_t *start;       /* sentence i is tokens [start[i], start[i+1]) */
    size_t *line;        /* file line of each sentence's first token */
    const char **tokens; /* n_tokens, NUL-terminated, into one pool */
    const char **tags;
    char *pool_;         /* private */
} rc_conll;

/* Reads the token column and the tag column (0-based; negative counts from
 * the end: -1 is the last column, the NER tag of CoNLL-2003). When scheme
 * is not NULL each sentence's tags must be well-formed in it
 * (rc_tags_check), else the error names the line of the first bad tag.
 * Errors (RC_ERR_FORMAT, "conll_read: FILE:LINE: ..."): an empty file (or
 * one with no token), invalid UTF-8 or a NUL byte (with the column), a
 * ragged row (its count and the first line's), a column past the last. */
rc_status rc_conll_read(const char *path, int token_col, int tag_col,
                        const rc_tag_scheme *scheme, rc_conll *out);
/* Frees everything and zeroes *c. */
void rc_conll_free(rc_conll *c);

/* UCI primate splice-junction sequences: lines "CLASS, NAME, SEQUENCE"
 * (spaces around fields allowed, blank lines skipped) with the class EI
 * (exon->intron, donor), IE (intron->exon, acceptor) or N (neither) and
 * exactly 60 nucleotides. Token ids: A 0, C 1, G 2, T 3 and the ambiguity
 * codes of the data (splice.names): D 4 (A/G/T), N 5 (any), S 6 (C/G),
 * R 7 (A/G); lower case is accepted. */
#define RC_SPLICE_LEN 60
#define RC_SPLICE_TOKENS 8
enum { RC_SPLICE_EI, RC_SPLICE_IE, RC_SPLICE_N, RC_SPLICE_CLASSES };

typedef struct rc_splice {
    int n;
    int32_t *label;     /* n class ids (RC_SPLICE_EI ...) */
    int32_t *seq;       /* n x RC_SPLICE_LEN token ids, row-major */
    const char **name;  /* n instance names ("ATRINS-DONOR-521") */
    char *pool_;        /* private */
} rc_splice;

/* Errors (RC_ERR_FORMAT "splice_read: FILE:LINE:COL: ..."): not three
 * fields, an unknown class, a sequence not 60 long, a character that is not
 * a nucleotide code (quoted, its column in the line), an empty file. */
rc_status rc_splice_read(const char *path, rc_splice *out);
void rc_splice_free(rc_splice *s);
/* "EI", "IE", "N" (NULL out of range). */
const char *rc_splice_class_name(int id);
/* The letter of a token id ('A' ...; 0 out of range). */
char rc_splice_token_char(int id);
/* The token as a distribution over A, C, G, T (a one-hot row for a base,
 * the possible bases sharing 1 equally for a code): soft one-hot inputs.
 * RC_ERR_RANGE for an id outside 0..7. */
rc_status rc_splice_token_probs(int id, float out[4]);

/* MSR Action3D skeletons (MSRAction3DSkeletonReal3D): one file a sequence,
 * "aAA_sSS_eEE_skeleton3D.txt" (action 1..20, subject 1..10, repetition
 * 1..3), 4 numbers a line "x y z confidence", 20 lines (joints) a frame.
 * The confidence is dropped: a frame is 60 floats, joint j's x, y, z at
 * 3j. Cross-subject split: odd subjects train, even subjects test. */
#define RC_SKEL_JOINTS 20
#define RC_SKEL_DIM (3 * RC_SKEL_JOINTS)

typedef struct rc_skeleton {
    int frames;
    float *xyz; /* frames x RC_SKEL_DIM */
    int action, subject, instance; /* from the name; 0 when it has none */
} rc_skeleton;

/* Errors (RC_ERR_FORMAT "skeleton_read: FILE:LINE: ..."): a line without
 * exactly 4 numbers, a value that is not a finite number (quoted), a line
 * count that is 0 or not a multiple of 20. A name not in the pattern is no
 * error (the labels stay 0). */
rc_status rc_skeleton_read(const char *path, rc_skeleton *out);
void rc_skeleton_free(rc_skeleton *s);
/* Action, subject and instance from a file name (any directory part is
 * ignored); RC_ERR_FORMAT when it is not "aAA_sSS_eEE_skeleton3D.txt"
 * with values in range. */
rc_status rc_skeleton_parse_name(const char *path, int *action, int *subject,
                                 int *instance);

typedef struct rc_skeleton_entry {
    char *path; /* dir/name */
    int action, subject, instance;
    int train;  /* 1: odd subject (train), 0: even (test) */
} rc_skeleton_entry;

/* The data set's files in dir (names in the pattern; others ignored),
 * sorted by name. With drop_bad, the files SOURCE.txt lists as defective
 * (a13_s09_e02, all zeros) are left out and counted in *n_dropped (may be
 * NULL). *out is malloc'd: free it with rc_skeleton_list_free. RC_ERR_IO
 * when dir cannot be read, RC_ERR_FORMAT when it holds no such file. */
rc_status rc_skeleton_list(const char *dir, int drop_bad, rc_skeleton_entry **out, int *n,
                           int *n_dropped);
void rc_skeleton_list_free(rc_skeleton_entry *e, int n);

/* Per-joint normalisation, in place, of frames x RC_SKEL_DIM: every
 * frame is moved so that joint `center` (0-based; 6, the hip centre, in
 * the MSR Action3D joint order, -1 for the mean of the 20 joints) is at the
 * origin, then every coordinate of the sequence is divided by one body
 * size: the mean over frames of the root-mean-square distance of the 20
 * joints from that centre. So each joint's features are its position
 * relative to the body's centre in body-size units, invariant to where the
 * subject stands and how tall they are. RC_ERR_NUMERIC when the body size
 * is 0 or not finite (an all-zero file), leaving xyz unchanged. */
rc_status rc_skeleton_normalize(float *xyz, int frames, int center);


/* ------------------------------------------------------- tree networks -- */
/* Recursive networks compose child vectors bottom-up along a tree
 * (docs/recursive.md). A batch of trees is laid out by level, so that all
 * the nodes that are ready at the same time are computed with one matrix
 * multiply: a node's level is 0 for a leaf and 1 + the highest level of
 * its children otherwise, and the batch's rows are the nodes of level 0
 * (the leaves), then level 1, ... Within a level, rows follow the trees'
 * order and each tree's post-order. Every child's row is below its
 * parent's, and a level's rows are contiguous, so a level's output is one
 * block of the state matrix [n_nodes x H]. */
typedef struct rc_tree_batch {
    int n_trees, n_nodes, n_leaves, n_levels, n_edges;
    int max_children;
    int32_t *level_start; /* n_levels + 1: level k is rows [level_start[k], level_start[k+1]) */
    int32_t *child_start; /* n_nodes + 1: row r's children (left to right) are */
    int32_t *child_row;   /*   child_row[child_start[r] .. child_start[r+1]) (n_edges) */
    int32_t *tree_of;     /* n_nodes: the tree (0-based, in the order given) */
    int32_t *node_of;     /* n_nodes: the node's index within its tree */
    int32_t *tree_row0;   /* n_trees + 1: offsets into row_of */
    int32_t *row_of;      /* tree i's node j is row row_of[tree_row0[i] + j] */
    int32_t *root_row;    /* n_trees */
    int32_t *label;       /* n_nodes: the node's label from the tree */
    int32_t *word_id;     /* n_leaves: the leaf rows' word ids (-1 before indexing) */
} rc_tree_batch;

/* Lays out n trees (views from rc_treebank_tree) as one batch; free it with
 * rc_tree_batch_free. RC_ERR_ARG for no trees or a tree without nodes. */
rc_status rc_tree_batch_build(const rc_tree *trees, int n, rc_tree_batch *out);
void rc_tree_batch_free(rc_tree_batch *b);

/* The composition ops. Each computes the states of every node of the batch
 * in one tape node, a level at a time (gather the children's states, one
 * matrix multiply for the level, the nonlinearity written into the level's
 * block), and its backward walks the levels top-down (one multiply each
 * for the weight gradient and for the children's gradients, scattered back
 * to the children's rows). The batch must stay alive until backward ran.
 * Every node but a leaf needs exactly 2 children for rc_tree_rnn and
 * rc_tree_lstm (RC_ERR_ARG naming the tree and node otherwise); child-sum
 * takes any number.
 *
 * Recursive neural network (Socher et al. 2011) and RNTN (Socher et al.
 * 2013), H = D:
 *   leaf:   h = x (leaves [n_leaves x D], the word vectors)
 *   inner:  v = [h_left; h_right] (2D),  h = tanh(W v + b + q),
 *           q_k = sum_ij v_i V[i,k,j] v_j (RNTN only; 0 when v is NULL)
 * w [D x 2D], b [D], v NULL or [2D x D x 2D]. Returns H [n_nodes x D]. */
rc_var *rc_tree_rnn(rc_tape *t, const rc_tree_batch *b, rc_var *leaves, rc_var *w,
                    rc_var *bias, rc_var *v);

/* Tree-LSTMs (Tai et al. 2015) over constituency trees: words enter at
 * the leaves only. leaf_gates [n_leaves x 3H] are the leaves' gate
 * pre-activations (i, o, u: W x + b, e.g. from rc_linear):
 *   leaf:   c = sigma(i) tanh(u),  h = sigma(o) tanh(c)
 * Binary (N-ary with N = 2), w [5H x 2H], b [5H], gates i, o, u, f_l, f_r:
 *   inner:  [i o u f_l f_r] = W [h_l; h_r] + b
 *           c = sigma(i) tanh(u) + sigma(f_l) c_l + sigma(f_r) c_r
 *           h = sigma(o) tanh(c)
 * Returns H [n_nodes x H]. */
rc_var *rc_tree_lstm(rc_tape *t, const rc_tree_batch *b, rc_var *leaf_gates, rc_var *w,
                     rc_var *bias);
/* Child-sum: any number of children k, w_iou [3H x H], b_iou [3H],
 * w_f [H x H], b_f [H]:
 *   inner:  s = sum_k h_k,  [i o u] = W_iou s + b_iou,
 *           f_k = sigma(W_f h_k + b_f)   (a forget gate per child)
 *           c = sigma(i) tanh(u) + sum_k f_k c_k,  h = sigma(o) tanh(c) */
rc_var *rc_tree_childsum(rc_tape *t, const rc_tree_batch *b, rc_var *leaf_gates,
                         rc_var *w_iou, rc_var *b_iou, rc_var *w_f, rc_var *b_f);

/* ASCII lower-casing of every word of the treebank, in place (for a
 * vocabulary that ignores case; call it before building or indexing). */
void rc_treebank_lowercase(rc_treebank *tb);

/* ------------------------------------------------- pooling over time -- */
/* One vector per sequence from a padded time-major batch (src/ops/pool.c):
 * x [T x B x D] -> [B x D], reading only positions t < lengths[b]
 * (lengths B ints in 1..T, or NULL: all T):
 *   RC_POOL_MEAN  the mean over the valid steps
 *   RC_POOL_MAX   the maximum of each feature over the valid steps; the
 *                 gradient goes to the first step that reaches it
 * Padded positions are never read and get exactly no gradient. Errors:
 * x not 3-D or empty (RC_ERR_SHAPE), a length out of range (RC_ERR_RANGE
 * naming the row), an unknown kind (RC_ERR_ARG). */
typedef enum rc_pool_kind { RC_POOL_MEAN, RC_POOL_MAX } rc_pool_kind;
rc_var *rc_pool_time(rc_tape *t, rc_var *x, const int32_t *lengths, rc_pool_kind kind);

/* ----------------------------------------------------- encoder-decoder -- */
/* A recurrent encoder-decoder with attention (src/nn/seq2seq.c holds the
 * equations; docs/encoder-decoder.md and docs/attention.md the pictures):
 *
 *   encoder   source ids -> embedding -> recurrent layers (any cell,
 *             stacked, one or two directions) -> outputs H [S x B x De]
 *   bridge    the top layer's final states (both directions joined)
 *             seed every decoder layer: h0_l = tanh(W_b [h_fwd; h_bwd] + b_b)
 *             (LSTM decoders start from c0 = 0)
 *   decoder   per step t, from the previous target word y_{t-1}:
 *               x_t = [E y_{t-1}; ~h_{t-1}]   (input feeding; E y_{t-1} without)
 *               h_t = cell(x_t, h_{t-1})      (stacked)
 *               c_t, a_t = attention(h_t, H)  (dot, general or additive)
 *               ~h_t = tanh(W_c [c_t; h_t])   (Luong et al. 2015; ~h_t = h_t
 *                                               without attention)
 *               p(y_t | y_<t, x) = softmax(W_o ~h_t + b_o)
 *
 * Token ids: the target's <eos> id both starts the decoder (as y_0) and
 * ends every target sentence. Sequences are time-major: src [S x B] with
 * src_len B ints in 1..S; targets likewise [T x B] with tgt_len in 1..T,
 * the <eos> counted. */

typedef enum rc_attn_kind {
    RC_ATTN_NONE,    /* a plain encoder-decoder: the bridge is all it sees */
    RC_ATTN_DOT,     /* Luong dot: h_t . H_s (needs De = decoder hidden) */
    RC_ATTN_GENERAL, /* Luong general: h_t . W_a H_s */
    RC_ATTN_ADDITIVE /* Bahdanau: v . tanh(W_q h_t + W_k H_s + b) */
} rc_attn_kind;

/* "none", "dot", "general", "additive"; parse: 0, or -1 for another name. */
const char *rc_attn_name(rc_attn_kind k);
int rc_attn_parse(const char *name, rc_attn_kind *k);

#define RC_S2S_MAX_LAYERS 8

typedef struct rc_seq2seq_config {
    int src_vocab, tgt_vocab;
    int embed;                   /* embedding size, both sides */
    rc_cell_kind enc_cell;
    int enc_hidden, enc_layers, bidirectional;
    rc_cell_kind dec_cell;
    int dec_hidden, dec_layers;  /* dec_layers <= RC_S2S_MAX_LAYERS */
    rc_attn_kind attention;
    int attn_size;               /* additive: the size A of the score layer */
    int input_feeding;           /* with attention only */
    float dropout;               /* embeddings, between layers, before the output */
    int eos;                     /* target <eos> id (also the start symbol) */
} rc_seq2seq_config;

typedef struct rc_seq2seq {
    rc_seq2seq_config cfg;
    rc_embedding_table src_emb, tgt_emb;
    rc_rnn *encoder;
    rc_rnn *decoder;        /* its weights drive the decoder's step-by-step loop */
    rc_linear bridge;       /* [dec_layers*dec_hidden x De] */
    rc_var *attn_w;         /* general: [dec_hidden x De]; additive: W_k [A x De] */
    rc_var *attn_b;         /* additive: b [A] */
    rc_var *attn_wq;        /* additive: W_q [A x dec_hidden] */
    rc_var *attn_v;         /* additive: v [A] */
    rc_linear combine;      /* W_c [dec_hidden x (De + dec_hidden)], no bias */
    rc_linear out;          /* [tgt_vocab x dec_hidden] */
    rc_params params;       /* every parameter by name */
    rc_rng dropout_rng;     /* the task sets it per step for reproducible masks */
} rc_seq2seq;

/* A config with the given vocabularies and sizes and the defaults: GRU
 * both sides, one layer each, bidirectional encoder, general attention
 * with input feeding, no dropout, eos id 1. */
rc_seq2seq_config rc_seq2seq_defaults(int src_vocab, int tgt_vocab, int embed, int hidden);
/* Checks the config (RC_ERR_ARG naming the field) and makes the model,
 * parameters drawn as PyTorch's layers draw them. */
rc_status rc_seq2seq_new(const rc_seq2seq_config *cfg, uint64_t seed, rc_seq2seq **out);
void rc_seq2seq_free(rc_seq2seq *m);
/* Size of each encoder output: directions * enc_hidden. */
int rc_seq2seq_memory_size(const rc_seq2seq *m);

/* What the decoder attends to, made once per source batch. */
typedef struct rc_seq2seq_memory {
    int S, B;
    rc_var *keys;       /* encoder outputs [S x B x De] */
    rc_var *keys_proj;  /* general: W_a H; additive: W_k H + b; else NULL */
    const int32_t *len; /* B source lengths (the caller's array) */
} rc_seq2seq_memory;

/* The decoder's state between steps. */
typedef struct rc_seq2seq_state {
    rc_var *h[RC_S2S_MAX_LAYERS], *c[RC_S2S_MAX_LAYERS]; /* [B x dec_hidden]; c LSTM only */
    rc_var *feed; /* ~h_{t-1} [B x dec_hidden] (input feeding), or NULL */
} rc_seq2seq_state;

/* Runs the encoder over src [S x B] (ids checked against the vocabulary)
 * and sets the memory and the decoder's first state. drop: dropout's rng
 * (NULL when the tape is not training or dropout is 0). */
rc_status rc_seq2seq_encode(rc_tape *t, rc_seq2seq *m, const int32_t *src,
                            const int32_t *src_len, int S, int B, rc_rng *drop,
                            rc_seq2seq_memory *mem, rc_seq2seq_state *st);
/* One decoder step from the previous words prev [B] (ids): updates *st
 * and sets *out = ~h_t [B x dec_hidden] (before the output layer and its
 * dropout) and, with attention, *weights = a_t [B x S] (may be NULL). */
rc_status rc_seq2seq_step(rc_tape *t, rc_seq2seq *m, const rc_seq2seq_memory *mem,
                          rc_seq2seq_state *st, const int32_t *prev, rc_rng *drop,
                          rc_var **out, rc_var **weights);
/* Teacher forcing: the mean cross-entropy per target word of tgt [T x B]
 * (each column ends with <eos> at tgt_len[b]-1; positions past it are
 * masked out and may hold anything). The decoder reads <eos>, tgt[0], ...
 * tgt[T-2]. */
rc_var *rc_seq2seq_loss(rc_tape *t, rc_seq2seq *m, const int32_t *src, const int32_t *src_len,
                        int S, const int32_t *tgt, const int32_t *tgt_len, int T, int B,
                        rc_rng *drop);

/* Decoding, batched, without gradients (dropout off). Every output is at
 * most max_len words, and at most 2 * src_len[b] + 10 for sentence b; the
 * ids exclude <eos>. out [B x max_len] (row b: sentence b), out_len [B].
 * Greedy takes the most probable word at each step (ties: the lower id). */
rc_status rc_seq2seq_greedy(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                            int B, int max_len, int32_t *out, int32_t *out_len);
/* Draws each word from softmax(logits / temperature); the same seed gives
 * the same words. */
rc_status rc_seq2seq_sample(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                            int B, int max_len, float temperature, uint64_t seed, int32_t *out,
                            int32_t *out_len);
/* Beam search of the given width: each sentence keeps the `beam` most
 * probable partial translations; one ending in <eos> is finished, and a
 * sentence stops when `beam` are finished (or at its length limit, where
 * the live ones are finished too). Finished hypotheses are ranked by
 * log p(y|x) / lp(y), with GNMT's length penalty
 *   lp(y) = ((5 + |y|) / 6)^alpha   (|y| counts the <eos>; alpha 0: none).
 * Writes the n_best (1..beam) best of sentence b, best first, as rows
 * b*n_best + j of out [B*n_best x max_len], out_len and scores (the
 * normalized score; may be NULL). With beam 1 it is the greedy search. */
rc_status rc_seq2seq_beam(rc_seq2seq *m, const int32_t *src, const int32_t *src_len, int S,
                          int B, int max_len, int beam, int n_best, float alpha, int32_t *out,
                          int32_t *out_len, float *scores);
/* The attention weights [T x S] of one sentence (src: S ids) while the
 * decoder reads the translation tgt (T ids, the last one usually <eos>):
 * row t is where it looked when it produced tgt[t]. RC_ERR_ARG without
 * attention. */
rc_status rc_seq2seq_align(rc_seq2seq *m, const int32_t *src, int S, const int32_t *tgt, int T,
                           float *weights);

#ifdef __cplusplus
}
#endif

#endif /* RECUR_H */
