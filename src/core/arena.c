/* arena.c - a bump allocator for the activations of one batch.
 *
 * Memory comes in chunks. When a batch needs more than the current chunk
 * holds, a new chunk is added; at reset, if more than one chunk was used,
 * they are replaced by one chunk of the total size, so from the second batch
 * on a batch of the same size never calls malloc. */
#include "../internal.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK ((size_t)1 << 20)

struct rc_arena_chunk {
    rc_arena_chunk *prev;
    size_t size; /* usable bytes after the header */
    size_t used;
    unsigned char *base;
};

static rc_arena_chunk *chunk_new(size_t size)
{
    rc_arena_chunk *c = malloc(sizeof *c);
    if (!c) return NULL;
    void *mem = NULL;
    if (posix_memalign(&mem, ARENA_ALIGN, size) != 0) {
        free(c);
        return NULL;
    }
    c->prev = NULL;
    c->size = size;
    c->used = 0;
    c->base = mem;
    return c;
}

static void chunks_free(rc_arena_chunk *c)
{
    while (c) {
        rc_arena_chunk *p = c->prev;
        free(c->base);
        free(c);
        c = p;
    }
}

void rc_arena_init(rc_arena *a)
{
    memset(a, 0, sizeof *a);
}

void *rc_arena_alloc(rc_arena *a, size_t bytes)
{
    size_t need = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) need = ARENA_ALIGN;
    rc_arena_chunk *c = a->head;
    if (!c || c->size - c->used < need) {
        size_t size = ARENA_MIN_CHUNK;
        if (c && c->size * 2 > size) size = c->size * 2;
        if (size < need) size = need;
        rc_arena_chunk *n = chunk_new(size);
        if (!n) {
            rc_error(RC_ERR_NOMEM, "arena: cannot allocate %zu bytes", size);
            return NULL;
        }
        n->prev = c;
        a->head = c = n;
        a->capacity += size;
    }
    void *p = c->base + c->used;
    c->used += need;
    a->used_total += need;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

void *rc_arena_calloc(rc_arena *a, size_t bytes)
{
    void *p = rc_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void rc_arena_reset(rc_arena *a)
{
    if (a->head && a->head->prev) {
        /* Several chunks were needed: keep one big enough for all of them. */
        size_t total = a->capacity;
        chunks_free(a->head);
        a->head = chunk_new(total);
        a->capacity = a->head ? total : 0;
    }
    if (a->head) a->head->used = 0;
    a->used_total = 0;
}

void rc_arena_free(rc_arena *a)
{
    chunks_free(a->head);
    memset(a, 0, sizeof *a);
}
