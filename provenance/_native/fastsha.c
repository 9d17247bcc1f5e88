/* Batch SHA-256 for prov: one call hashes many short messages, so the per-message cost
 * is OpenSSL's compression function (SHA-NI where the CPU has it), not a Python call.
 *
 * Every function has a pure-Python twin in provenance/fastsha.py that gives the same
 * bytes; tests compare the two, and the golden vectors run on both. Built as the
 * optional extension provenance._fastsha by setup.py (setuptools optional=True), so an
 * install without a C compiler or OpenSSL headers still works, on hashlib.
 *
 * Each function takes buffers (bytes, numpy arrays), checks every length and offset
 * before touching memory, and releases the GIL while it hashes, so threads can share
 * the work. */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <Python.h>
#include <openssl/sha.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The low-level SHA256_* calls, not one-shot SHA256() or EVP: in OpenSSL 3 those fetch
 * an implementation per call, several times slower for messages of under a kilobyte. */

static PyObject *new_digest_bytes(Py_ssize_t n, uint8_t **out) {
    PyObject *result = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (result) *out = (uint8_t *)PyBytes_AS_STRING(result);
    return result;
}

/* Offsets must start at or after 0, never decrease and end inside ``len`` bytes. */
static int check_offsets(const int64_t *offsets, Py_ssize_t count, Py_ssize_t len) {
    if (count < 1) return 0;
    if (offsets[0] < 0) return 0;
    for (Py_ssize_t i = 1; i < count; i++)
        if (offsets[i] < offsets[i - 1]) return 0;
    return offsets[count - 1] <= len;
}

/* sha256_rows(prefix, data, offsets) -> bytes
 * SHA-256(prefix || data[offsets[i]:offsets[i+1]]) for each i, concatenated. ``offsets``
 * holds n+1 native int64 values. */
static PyObject *sha256_rows(PyObject *self, PyObject *args) {
    Py_buffer prefix, data, offs;
    if (!PyArg_ParseTuple(args, "y*y*y*", &prefix, &data, &offs)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t count = offs.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *offsets = offs.buf;
    if (offs.len % (Py_ssize_t)sizeof(int64_t) || count < 1 || !check_offsets(offsets, count, data.len)) {
        PyErr_SetString(PyExc_ValueError, "offsets must be n+1 non-decreasing int64 values inside the data");
        goto done;
    }
    Py_ssize_t n = count - 1;
    uint8_t *out;
    result = new_digest_bytes(n, &out);
    if (!result) goto done;
    const uint8_t *bytes = data.buf;
    Py_BEGIN_ALLOW_THREADS
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&ctx, &base, sizeof ctx);
        SHA256_Update(&ctx, bytes + offsets[i], (size_t)(offsets[i + 1] - offsets[i]));
        SHA256_Final(out + 32 * i, &ctx);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    PyBuffer_Release(&offs);
    return result;
}

/* sha256_keyed(prefix, digests, codes, suffixes, suffix_offsets) -> bytes
 * SHA-256(prefix || digests[32i:32i+32] || suffixes[suffix_offsets[c]:suffix_offsets[c+1]])
 * with c = codes[i] (native int64): a Merkle leaf per manifest row, where the row's
 * (label, source) encoding is looked up by code instead of copied per row. */
static PyObject *sha256_keyed(PyObject *self, PyObject *args) {
    Py_buffer prefix, digests, codes_buf, suffixes, soffs;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &prefix, &digests, &codes_buf, &suffixes, &soffs)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = digests.len / 32;
    Py_ssize_t n_suffix = soffs.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t *codes = codes_buf.buf, *suffix_offsets = soffs.buf;
    if (digests.len % 32 || codes_buf.len != n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "need one int64 code per 32-byte digest");
        goto done;
    }
    if (soffs.len % (Py_ssize_t)sizeof(int64_t) || n_suffix < 0 ||
        !check_offsets(suffix_offsets, n_suffix + 1, suffixes.len)) {
        PyErr_SetString(PyExc_ValueError, "suffix offsets must be non-decreasing int64 values inside the suffixes");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (codes[i] < 0 || codes[i] >= n_suffix) {
            PyErr_SetString(PyExc_ValueError, "a code names no suffix");
            goto done;
        }
    }
    uint8_t *out;
    result = new_digest_bytes(n, &out);
    if (!result) goto done;
    const uint8_t *dig = digests.buf, *suf = suffixes.buf;
    Py_BEGIN_ALLOW_THREADS
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t c = codes[i];
        memcpy(&ctx, &base, sizeof ctx);
        SHA256_Update(&ctx, dig + 32 * i, 32);
        SHA256_Update(&ctx, suf + suffix_offsets[c], (size_t)(suffix_offsets[c + 1] - suffix_offsets[c]));
        SHA256_Final(out + 32 * i, &ctx);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&digests);
    PyBuffer_Release(&codes_buf);
    PyBuffer_Release(&suffixes);
    PyBuffer_Release(&soffs);
    return result;
}

/* SHA-256(0x01 || left || right) of the 64 bytes at ``pair`` into ``out`` (which may overlap ``pair``):
 * a node's 65-byte message is always two blocks, so they are laid out once with their fixed padding
 * (0x80, zeros, the bit length 520) and compressed with SHA256_Transform from the initial state,
 * sparing SHA256_Update's buffering and SHA256_Final's padding on every node. ``blocks`` holds the
 * padding already (``node_blocks``); the same bytes as SHA256_Init/Update/Final. */
static void node_blocks(uint8_t blocks[128]) {
    memset(blocks, 0, 128);
    blocks[0] = 0x01;
    blocks[65] = 0x80;
    blocks[126] = (65 * 8) >> 8;
    blocks[127] = (65 * 8) & 0xff;
}

/* The digest (big-endian bytes) of a state's eight words. */
static void store_words(const SHA_LONG h[8], uint8_t *out) {
    for (int w = 0; w < 8; w++) {
        out[4 * w] = (uint8_t)(h[w] >> 24);
        out[4 * w + 1] = (uint8_t)(h[w] >> 16);
        out[4 * w + 2] = (uint8_t)(h[w] >> 8);
        out[4 * w + 3] = (uint8_t)h[w];
    }
}

static inline void hash_node(uint8_t blocks[128], const SHA256_CTX *initial, const uint8_t *pair, uint8_t *out) {
    SHA256_CTX ctx;
    memcpy(blocks + 1, pair, 64);
    memcpy(ctx.h, initial->h, sizeof ctx.h);
    SHA256_Transform(&ctx, blocks);
    SHA256_Transform(&ctx, blocks + 64);
    store_words(ctx.h, out);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* Two nodes at a time on the x86 SHA extensions (SHA-NI). One SHA-256 block is a chain of 32
 * sha256rnds2 instructions, each waiting for the one before (~4 cycles of latency where one can
 * issue every 2), so a single message leaves the unit half idle: two independent nodes, their
 * rounds interleaved, take little longer than one. OpenSSL hashes one message at a time.
 * Compiled for these instructions only (target attribute) and used only where CPUID reports
 * them; the same bytes as hash_node (tests compare with hashlib on both paths). */
#include <cpuid.h>
#include <immintrin.h>
#define PROV_SHANI 1

static const uint32_t ROUND_K[64] = {
    0x428a2f98U, 0x71374491U, 0xb5c0fbcfU, 0xe9b5dba5U, 0x3956c25bU, 0x59f111f1U, 0x923f82a4U, 0xab1c5ed5U,
    0xd807aa98U, 0x12835b01U, 0x243185beU, 0x550c7dc3U, 0x72be5d74U, 0x80deb1feU, 0x9bdc06a7U, 0xc19bf174U,
    0xe49b69c1U, 0xefbe4786U, 0x0fc19dc6U, 0x240ca1ccU, 0x2de92c6fU, 0x4a7484aaU, 0x5cb0a9dcU, 0x76f988daU,
    0x983e5152U, 0xa831c66dU, 0xb00327c8U, 0xbf597fc7U, 0xc6e00bf3U, 0xd5a79147U, 0x06ca6351U, 0x14292967U,
    0x27b70a85U, 0x2e1b2138U, 0x4d2c6dfcU, 0x53380d13U, 0x650a7354U, 0x766a0abbU, 0x81c2c92eU, 0x92722c85U,
    0xa2bfe8a1U, 0xa81a664bU, 0xc24b8b70U, 0xc76c51a3U, 0xd192e819U, 0xd6990624U, 0xf40e3585U, 0x106aa070U,
    0x19a4c116U, 0x1e376c08U, 0x2748774cU, 0x34b0bcb5U, 0x391c0cb3U, 0x4ed8aa4aU, 0x5b9cca4fU, 0x682e6ff3U,
    0x748f82eeU, 0x78a5636fU, 0x84c87814U, 0x8cc70208U, 0x90befffaU, 0xa4506cebU, 0xbef9a3f7U, 0xc67178f2U
};

static int have_shani(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_SHA) != 0;
}

#define SHANI_TARGET __attribute__((target("sha,sse4.1,ssse3")))

/* Compress one 64-byte block into each of two states, kept as (ABEF, CDGH) pairs. */
SHANI_TARGET static inline void compress2(__m128i st[4], const uint8_t *a, const uint8_t *b) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i wa[4], wb[4];
    __m128i a0 = st[0], a1 = st[1], b0 = st[2], b1 = st[3];
    for (int i = 0; i < 16; i++) {
        __m128i ma, mb;
        if (i < 4) {
            ma = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(a + 16 * i)), bswap);
            mb = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(b + 16 * i)), bswap);
        } else {
            /* W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]), four words at a time */
            ma = _mm_sha256msg1_epu32(wa[i & 3], wa[(i + 1) & 3]);
            mb = _mm_sha256msg1_epu32(wb[i & 3], wb[(i + 1) & 3]);
            ma = _mm_add_epi32(ma, _mm_alignr_epi8(wa[(i + 3) & 3], wa[(i + 2) & 3], 4));
            mb = _mm_add_epi32(mb, _mm_alignr_epi8(wb[(i + 3) & 3], wb[(i + 2) & 3], 4));
            ma = _mm_sha256msg2_epu32(ma, wa[(i + 3) & 3]);
            mb = _mm_sha256msg2_epu32(mb, wb[(i + 3) & 3]);
        }
        wa[i & 3] = ma;
        wb[i & 3] = mb;
        __m128i k = _mm_loadu_si128((const __m128i *)(ROUND_K + 4 * i));
        __m128i ka = _mm_add_epi32(ma, k), kb = _mm_add_epi32(mb, k);
        a1 = _mm_sha256rnds2_epu32(a1, a0, ka);
        b1 = _mm_sha256rnds2_epu32(b1, b0, kb);
        a0 = _mm_sha256rnds2_epu32(a0, a1, _mm_shuffle_epi32(ka, 0x0E));
        b0 = _mm_sha256rnds2_epu32(b0, b1, _mm_shuffle_epi32(kb, 0x0E));
    }
    st[0] = _mm_add_epi32(st[0], a0);
    st[1] = _mm_add_epi32(st[1], a1);
    st[2] = _mm_add_epi32(st[2], b0);
    st[3] = _mm_add_epi32(st[3], b1);
}

/* The SHA-256 digest (big-endian bytes) of a state kept as (ABEF, CDGH). */
SHANI_TARGET static inline void store_digest(__m128i abef, __m128i cdgh, uint8_t *out) {
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
    __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
    __m128i dcba = _mm_blend_epi16(feba, dchg, 0xF0);
    __m128i hgfe = _mm_alignr_epi8(dchg, feba, 8);
    _mm_storeu_si128((__m128i *)out, _mm_shuffle_epi8(dcba, bswap));
    _mm_storeu_si128((__m128i *)(out + 16), _mm_shuffle_epi8(hgfe, bswap));
}

/* Nodes of the pairs at ``pa`` and ``pb`` into ``oa`` and ``ob`` (each may overlap its pair, as in
 * hash_node); ``blocks`` is 256 bytes: two node_blocks layouts. */
SHANI_TARGET static void hash_two_nodes(uint8_t *blocks, const uint8_t *pa, const uint8_t *pb, uint8_t *oa, uint8_t *ob) {
    /* SHA-256's initial state as (ABEF, CDGH) */
    const __m128i abef = _mm_set_epi32(0x6a09e667, 0xbb67ae85, 0x510e527f, 0x9b05688c);
    const __m128i cdgh = _mm_set_epi32(0x3c6ef372, 0xa54ff53a, 0x1f83d9ab, 0x5be0cd19);
    __m128i st[4] = {abef, cdgh, abef, cdgh};
    memcpy(blocks + 1, pa, 64);
    memcpy(blocks + 129, pb, 64);
    compress2(st, blocks, blocks + 128);
    compress2(st, blocks + 64, blocks + 192);
    store_digest(st[0], st[1], oa);
    store_digest(st[2], st[3], ob);
}
#endif

/* Messages of one length: sha256_fixed's rows and sha256_columns'. Each is laid out whole with its SHA-256
 * padding (the prefix's bytes past its last full 64-byte block in front, the row, 0x80, zeros, the bit length;
 * the parts that never change written once per slot) and compressed from the state the prefix's full blocks
 * leave: where the CPU has the SHA extensions two at a time, their rounds interleaved (``compress2``: a row
 * costs about half as much), else one at a time through OpenSSL's SHA256_Transform (``portable`` takes that
 * path there too; tests compare them). The same bytes as SHA256_Init/Update/Final per row. */
#define COLUMNS_BLOCK 128 /* rows laid out at a time, fewer when rows are long (``padded_geometry``) */

typedef struct {
    SHA_LONG h[8];         /* the state after the prefix's full blocks */
    Py_ssize_t full, tail; /* the prefix's bytes in full blocks, and past them */
    Py_ssize_t width;      /* a row's bytes */
    Py_ssize_t blocks;     /* 64-byte blocks of a padded message */
    Py_ssize_t stride;     /* bytes from one laid-out message to the next */
    Py_ssize_t per_block;  /* messages laid out at a time */
    int shani;
} Padded;

static void padded_geometry(Padded *p, Py_ssize_t prefix_len, Py_ssize_t width, int portable) {
    p->full = prefix_len / 64 * 64;
    p->tail = prefix_len - p->full;
    p->width = width;
    p->blocks = (p->tail + width + 9 + 63) / 64;
    p->stride = 64 * p->blocks;
    p->per_block = (1 << 20) / p->stride; /* about a megabyte of messages at a time */
    p->per_block = p->per_block > COLUMNS_BLOCK ? COLUMNS_BLOCK : p->per_block < 2 ? 2 : p->per_block;
    p->shani = 0;
#ifdef PROV_SHANI
    static int cpu_has_shani = -1;
    if (cpu_has_shani < 0) cpu_has_shani = have_shani();
    p->shani = cpu_has_shani && !portable;
#else
    (void)portable;
#endif
}

/* The geometry of ``n`` rows of ``width`` bytes after a prefix of ``prefix_len``, the result's bytes (``out``:
 * where the digests go) and zeroed scratch for a block of laid-out messages; NULL with an error set if out of
 * memory. Called with the GIL held. */
static PyObject *padded_alloc(Padded *p, Py_ssize_t prefix_len, Py_ssize_t width, int portable, Py_ssize_t n,
                              uint8_t **out, uint8_t **scratch) {
    padded_geometry(p, prefix_len, width, portable);
    PyObject *result = new_digest_bytes(n, out);
    if (!result) return NULL;
    *scratch = PyMem_RawCalloc((size_t)p->per_block, (size_t)p->stride);
    if (!*scratch) {
        Py_DECREF(result);
        return PyErr_NoMemory();
    }
    return result;
}

/* The prefix's state, and in each of ``scratch``'s zeroed slots the prefix's tail, 0x80 and the bit length. */
static void padded_start(Padded *p, const uint8_t *prefix, uint8_t *scratch) {
    SHA256_CTX base;
    SHA256_Init(&base);
    SHA256_Update(&base, prefix, (size_t)p->full);
    memcpy(p->h, base.h, sizeof p->h);
    uint64_t bits = (uint64_t)(p->full + p->tail + p->width) * 8;
    for (Py_ssize_t r = 0; r < p->per_block; r++) {
        uint8_t *msg = scratch + r * p->stride;
        memcpy(msg, prefix + p->full, (size_t)p->tail);
        msg[p->tail + p->width] = 0x80;
        for (int b = 0; b < 8; b++) msg[p->stride - 1 - b] = (uint8_t)(bits >> (8 * b));
    }
}

#ifdef PROV_SHANI
/* SHA-256 of two padded messages of ``blocks`` 64-byte blocks each, from the state ``h`` (eight words). */
SHANI_TARGET static void hash_two_padded(const SHA_LONG h[8], const uint8_t *a, const uint8_t *b, Py_ssize_t blocks,
                                         uint8_t *oa, uint8_t *ob) {
    const __m128i abef = _mm_set_epi32((int)h[0], (int)h[1], (int)h[4], (int)h[5]);
    const __m128i cdgh = _mm_set_epi32((int)h[2], (int)h[3], (int)h[6], (int)h[7]);
    __m128i st[4] = {abef, cdgh, abef, cdgh};
    for (Py_ssize_t j = 0; j < blocks; j++) compress2(st, a + 64 * j, b + 64 * j);
    store_digest(st[0], st[1], oa);
    store_digest(st[2], st[3], ob);
}
#endif

/* The digests of the first ``rows`` laid-out messages of ``scratch`` into ``out``. */
static void padded_hash(const Padded *p, const uint8_t *scratch, Py_ssize_t rows, uint8_t *out) {
    Py_ssize_t r = 0;
#ifdef PROV_SHANI
    if (p->shani)
        for (; r + 1 < rows; r += 2)
            hash_two_padded(p->h, scratch + r * p->stride, scratch + (r + 1) * p->stride, p->blocks, out + 32 * r,
                            out + 32 * (r + 1));
#endif
    for (; r < rows; r++) {
        SHA256_CTX ctx;
        memcpy(ctx.h, p->h, sizeof ctx.h);
        for (Py_ssize_t j = 0; j < p->blocks; j++) SHA256_Transform(&ctx, scratch + r * p->stride + 64 * j);
        store_words(ctx.h, out + 32 * r);
    }
}

/* sha256_fixed(prefix, data, width, portable=False) -> bytes
 * SHA-256(prefix || row) of each ``width``-byte row of ``data``, concatenated. */
static PyObject *sha256_fixed(PyObject *self, PyObject *args) {
    Py_buffer prefix, data;
    Py_ssize_t width;
    int portable = 0;
    if (!PyArg_ParseTuple(args, "y*y*n|p", &prefix, &data, &width, &portable)) return NULL;
    PyObject *result = NULL;
    uint8_t *scratch = NULL;
    if (width <= 0 || data.len % width) {
        PyErr_SetString(PyExc_ValueError, "data is not a whole number of rows of the given width");
        goto done;
    }
    Py_ssize_t n = data.len / width;
    Padded p;
    uint8_t *out;
    result = padded_alloc(&p, prefix.len, width, portable, n, &out, &scratch);
    if (!result) goto done;
    const uint8_t *rows = data.buf;
    Py_BEGIN_ALLOW_THREADS
    padded_start(&p, prefix.buf, scratch);
    for (Py_ssize_t start = 0; start < n; start += p.per_block) {
        Py_ssize_t count = n - start < p.per_block ? n - start : p.per_block;
        for (Py_ssize_t r = 0; r < count; r++)
            memcpy(scratch + r * p.stride + p.tail, rows + width * (start + r), (size_t)width);
        padded_hash(&p, scratch, count, out + 32 * start);
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_RawFree(scratch);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
    return result;
}

/* sha256_columns(prefix, heads, columns, portable=False) -> bytes
 * Rows made of fixed-width fields: row i is, for each field f in order, heads[f] followed
 * by the f-th column's i-th value written big-endian (itemsize 1, 2, 4 or 8), and the
 * digest is SHA-256(prefix || row). The columns are native-order arrays of one length;
 * normalising values (floats, widths) is the caller's: this only lays bytes out and
 * hashes. Rows are laid out a block at a time, column by column, so every column is
 * read in order and the block stays in cache; then hashed as sha256_fixed's. */
static void put_big_endian(uint8_t *dst, const uint8_t *src, Py_ssize_t size) {
    for (Py_ssize_t k = 0; k < size; k++) dst[k] = src[size - 1 - k];
}

static PyObject *sha256_columns(PyObject *self, PyObject *args) {
    Py_buffer prefix;
    PyObject *heads, *columns;
    int portable = 0; /* 1: OpenSSL's one-message path even where the SHA extensions are there (tests) */
    if (!PyArg_ParseTuple(args, "y*O!O!|p", &prefix, &PyList_Type, &heads, &PyList_Type, &columns, &portable))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t k = PyList_GET_SIZE(heads), n = -1, row_width = 0;
    Py_buffer *bufs = NULL;
    Py_ssize_t *head_len = NULL, *item = NULL, *at = NULL, taken = 0;
    uint8_t *scratch = NULL;
    if (k != PyList_GET_SIZE(columns) || k == 0) {
        PyErr_SetString(PyExc_ValueError, "need one head per column, and at least one column");
        goto done;
    }
    bufs = PyMem_Calloc((size_t)(2 * k), sizeof(Py_buffer));
    head_len = PyMem_Calloc((size_t)k, sizeof(Py_ssize_t));
    item = PyMem_Calloc((size_t)k, sizeof(Py_ssize_t));
    at = PyMem_Calloc((size_t)k, sizeof(Py_ssize_t));
    if (!bufs || !head_len || !item || !at) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t f = 0; f < k; f++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(heads, f), &bufs[2 * f], PyBUF_SIMPLE) < 0) goto done;
        taken++;
        if (PyObject_GetBuffer(PyList_GET_ITEM(columns, f), &bufs[2 * f + 1], PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
            PyBuffer_Release(&bufs[2 * f]);
            taken--;
            goto done;
        }
        Py_buffer *col = &bufs[2 * f + 1];
        Py_ssize_t size = col->itemsize, len = size ? col->len / size : 0;
        if (!(size == 1 || size == 2 || size == 4 || size == 8) || col->ndim > 1 || (n >= 0 && len != n)) {
            PyBuffer_Release(&bufs[2 * f]);
            PyBuffer_Release(col);
            taken--;
            PyErr_SetString(PyExc_ValueError, "columns must be one-dimensional, of one length, items of 1, 2, 4 or 8 bytes");
            goto done;
        }
        n = len;
        head_len[f] = bufs[2 * f].len;
        item[f] = size;
        at[f] = row_width + head_len[f];
        row_width += head_len[f] + size;
    }
    Padded p;
    uint8_t *out;
    result = padded_alloc(&p, prefix.len, row_width, portable, n, &out, &scratch);
    if (!result) goto done;
    Py_BEGIN_ALLOW_THREADS
    padded_start(&p, prefix.buf, scratch);
    for (Py_ssize_t r = 0; r < p.per_block; r++) /* the heads never change: written once */
        for (Py_ssize_t f = 0; f < k; f++)
            memcpy(scratch + r * p.stride + p.tail + at[f] - head_len[f], bufs[2 * f].buf, (size_t)head_len[f]);
    for (Py_ssize_t start = 0; start < n; start += p.per_block) {
        Py_ssize_t rows = n - start < p.per_block ? n - start : p.per_block;
        for (Py_ssize_t f = 0; f < k; f++) {
            const uint8_t *src = (const uint8_t *)bufs[2 * f + 1].buf + start * item[f];
            uint8_t *dst = scratch + p.tail + at[f];
            Py_ssize_t size = item[f], stride = p.stride;
            if (size == 8) {
                for (Py_ssize_t r = 0; r < rows; r++) {
                    uint64_t v;
                    memcpy(&v, src + 8 * r, 8);
                    v = __builtin_bswap64(v);
                    memcpy(dst + r * stride, &v, 8);
                }
            } else {
                for (Py_ssize_t r = 0; r < rows; r++) put_big_endian(dst + r * stride, src + size * r, size);
            }
        }
        padded_hash(&p, scratch, rows, out + 32 * start);
    }
    Py_END_ALLOW_THREADS
done:
    PyMem_RawFree(scratch);
    for (Py_ssize_t f = 0; f < taken; f++) {
        PyBuffer_Release(&bufs[2 * f]);
        PyBuffer_Release(&bufs[2 * f + 1]);
    }
    PyMem_Free(bufs);
    PyMem_Free(head_len);
    PyMem_Free(item);
    PyMem_Free(at);
    PyBuffer_Release(&prefix);
    return result;
}

/* merkle_root(leaves) -> bytes
 * RFC 6962 MTH over concatenated 32-byte leaf hashes (at least one), bottom-up: an odd
 * last node is promoted, which is the same tree as the RFC's split at the largest power
 * of two below n. */
static PyObject *merkle_root(PyObject *self, PyObject *args) {
    Py_buffer leaves;
    int portable = 0; /* 1: OpenSSL's one-message path even where the SHA extensions are there (tests) */
    if (!PyArg_ParseTuple(args, "y*|p", &leaves, &portable)) return NULL;
#ifdef PROV_SHANI
    static int cpu_has_shani = -1;
    if (cpu_has_shani < 0) cpu_has_shani = have_shani();
    int shani = cpu_has_shani && !portable;
#endif
    PyObject *result = NULL;
    Py_ssize_t n = leaves.len / 32;
    if (leaves.len % 32 || n < 1) {
        PyErr_SetString(PyExc_ValueError, "need one or more 32-byte leaf hashes");
        goto done;
    }
    uint8_t *scratch = PyMem_RawMalloc((size_t)(32 * n));
    if (!scratch) {
        PyErr_NoMemory();
        goto done;
    }
    const uint8_t *level = leaves.buf; /* the first level is read where it lies, not copied */
    Py_BEGIN_ALLOW_THREADS
    SHA256_CTX initial;
    uint8_t blocks[256];
    SHA256_Init(&initial);
    node_blocks(blocks);
    node_blocks(blocks + 128);
    while (n > 1) {
        Py_ssize_t m = 0, i = 0;
#ifdef PROV_SHANI
        if (shani) {
            /* node m+1 is written after node m's pair and node m+1's pair are read: its pair starts at
             * 64(m+1) >= 32(m+2), past where it is written, so the level can be hashed in place */
            for (; i + 3 < n; i += 4, m += 2)
                hash_two_nodes(blocks, level + 32 * i, level + 32 * (i + 2), scratch + 32 * m, scratch + 32 * (m + 1));
        }
#endif
        for (; i + 1 < n; i += 2) {
            hash_node(blocks, &initial, level + 32 * i, scratch + 32 * m);
            m++;
        }
        if (n & 1) {
            memmove(scratch + 32 * m, level + 32 * (n - 1), 32);
            m++;
        }
        level = scratch;
        n = m;
    }
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize((const char *)level, 32);
    PyMem_RawFree(scratch);
done:
    PyBuffer_Release(&leaves);
    return result;
}

/* sha256_files(files, limit, magics) -> (digests, done)
 * The small files a local tree listing admitted, hashed without a Python call per file (tree_hashing.py's
 * hash_files; its Python loop, the reference, was ~2/3 of hashing a tree of 20,000 PNGs beside the system
 * calls). ``files`` is a list whose items are listing.Seen tuples (path str, device, inode, size) or None;
 * ``magics`` None or a tuple of bytes of at most 16 each. A file is hashed here only on the reference path's
 * plainest way through it: opened with O_NOFOLLOW (as tree_hashing._OPEN_FLAGS), a regular file with the
 * Seen's device, inode and size, of at most ``limit`` bytes, one read of size + 1 bytes giving exactly size,
 * and (``magics``) starting with one of them. Its SHA-256 goes to digests[32i:32i+32] and done[i] is 1.
 * Anything else (None, a larger file, an error of any kind, a changed file, another start) leaves done[i] 0
 * and 32 zero bytes: the caller's reference path then hashes or refuses that file, so every error message
 * is the reference's. Path strings are encoded as os.open encodes them (the file system encoding). So this never
 * hashes a file the reference refuses: tests/unit/sources/test_tree_hashing_parity.py replays each hostile change
 * (links, a parent folder swapped, replaced or hard-linked files, a FIFO or device, a kernel file whose size lies,
 * NUL, "..", undecodable names) on both paths and compares digests or errors. Like the reference, O_NOFOLLOW
 * guards the last component; a swapped parent folder shows as another device/inode, the check both rely on. */
static PyObject *sha256_files(PyObject *self, PyObject *args) {
    PyObject *files, *magics;
    Py_ssize_t limit;
    if (!PyArg_ParseTuple(args, "O!nO", &PyList_Type, &files, &limit, &magics)) return NULL;
    if (limit < 0 || limit > (1 << 30)) {
        PyErr_SetString(PyExc_ValueError, "limit must be 0 to 2**30 bytes");
        return NULL;
    }
    Py_ssize_t n_magics = 0;
    if (magics != Py_None) {
        if (!PyTuple_Check(magics)) {
            PyErr_SetString(PyExc_TypeError, "magics must be None or a tuple of bytes");
            return NULL;
        }
        n_magics = PyTuple_GET_SIZE(magics);
        for (Py_ssize_t k = 0; k < n_magics; k++) {
            PyObject *m = PyTuple_GET_ITEM(magics, k);
            if (!PyBytes_Check(m) || PyBytes_GET_SIZE(m) > 16) {
                PyErr_SetString(PyExc_ValueError, "each magic must be bytes of at most 16");
                return NULL;
            }
        }
    }
    Py_ssize_t n = PyList_GET_SIZE(files);
    uint8_t *out;
    PyObject *digests = PyBytes_FromStringAndSize(NULL, 32 * n);
    PyObject *done = PyBytes_FromStringAndSize(NULL, n);
    PyObject **encoded = PyMem_Calloc((size_t)(n ? n : 1), sizeof(PyObject *));
    unsigned long long *device = PyMem_Calloc((size_t)(n ? n : 1), sizeof(unsigned long long));
    unsigned long long *inode = PyMem_Calloc((size_t)(n ? n : 1), sizeof(unsigned long long));
    Py_ssize_t *size = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_ssize_t));
    uint8_t *buffer = PyMem_RawMalloc((size_t)limit + 1);
    const char **magic = PyMem_Calloc((size_t)(n_magics ? n_magics : 1), sizeof(char *));
    Py_ssize_t *magic_len = PyMem_Calloc((size_t)(n_magics ? n_magics : 1), sizeof(Py_ssize_t));
    PyObject *result = NULL;
    if (!digests || !done || !encoded || !device || !inode || !size || !buffer || !magic || !magic_len) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto cleanup;
    }
    out = (uint8_t *)PyBytes_AS_STRING(digests);
    memset(out, 0, (size_t)(32 * n));
    uint8_t *flags = (uint8_t *)PyBytes_AS_STRING(done);
    memset(flags, 0, (size_t)n);
    for (Py_ssize_t k = 0; k < n_magics; k++) {
        magic[k] = PyBytes_AS_STRING(PyTuple_GET_ITEM(magics, k));
        magic_len[k] = PyBytes_GET_SIZE(PyTuple_GET_ITEM(magics, k));
    }
    /* with the GIL: each Seen's fields as C values; an item this cannot read is left to the caller */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(files, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 4 || !PyUnicode_Check(PyTuple_GET_ITEM(item, 0)))
            continue;
        device[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(item, 1));
        inode[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(item, 2));
        size[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 3));
        if (PyErr_Occurred()) { /* not an int, negative or too large: the reference path says what */
            PyErr_Clear();
            continue;
        }
        if (size[i] < 0 || size[i] > limit) continue;
        PyObject *path = PyUnicode_EncodeFSDefault(PyTuple_GET_ITEM(item, 0));
        if (!path) {
            PyErr_Clear();
            continue;
        }
        if ((Py_ssize_t)strlen(PyBytes_AS_STRING(path)) != PyBytes_GET_SIZE(path)) { /* a NUL: os.open refuses it */
            Py_DECREF(path);
            continue;
        }
        encoded[i] = path;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!encoded[i]) continue;
        int fd = open(PyBytes_AS_STRING(encoded[i]), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        int same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_ino == inode[i] &&
                   (unsigned long long)st.st_dev == device[i] && (Py_ssize_t)st.st_size == size[i];
        ssize_t got = same ? read(fd, buffer, (size_t)size[i] + 1) : -1;
        close(fd);
        if (got != size[i]) continue;
        if (n_magics) {
            int known = 0;
            for (Py_ssize_t k = 0; k < n_magics && !known; k++)
                known = magic_len[k] <= got && memcmp(buffer, magic[k], (size_t)magic_len[k]) == 0;
            if (!known) continue;
        }
        SHA256_CTX ctx;
        SHA256_Init(&ctx);
        SHA256_Update(&ctx, buffer, (size_t)got);
        SHA256_Final(out + 32 * i, &ctx);
        flags[i] = 1;
    }
    Py_END_ALLOW_THREADS
    result = PyTuple_Pack(2, digests, done);
cleanup:
    if (encoded)
        for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(encoded[i]);
    PyMem_Free(encoded);
    PyMem_Free(device);
    PyMem_Free(inode);
    PyMem_Free(size);
    PyMem_RawFree(buffer);
    PyMem_Free(magic);
    PyMem_Free(magic_len);
    Py_XDECREF(digests);
    Py_XDECREF(done);
    return result;
}

static PyMethodDef methods[] = {
    {"sha256_fixed", sha256_fixed, METH_VARARGS, "SHA-256(prefix || row) per fixed-width row, concatenated."},
    {"sha256_rows", sha256_rows, METH_VARARGS, "SHA-256(prefix || data[o[i]:o[i+1]]) per row, concatenated."},
    {"sha256_keyed", sha256_keyed, METH_VARARGS, "SHA-256(prefix || digest_i || suffix[code_i]) per row."},
    {"sha256_columns", sha256_columns, METH_VARARGS, "SHA-256(prefix || head_1 || value_1 || ...) per row of columns."},
    {"merkle_root", merkle_root, METH_VARARGS, "RFC 6962 root over concatenated 32-byte leaf hashes."},
    {"sha256_files", sha256_files, METH_VARARGS, "SHA-256 of each small listed file that is as listed; done flags."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastsha_module = {
    PyModuleDef_HEAD_INIT, "_fastsha", "Batch SHA-256 over OpenSSL (see provenance/fastsha.py).", -1, methods,
};

/* The calling convention's version: provenance/fastsha.py uses an extension only when it says the one that module
   expects (a build from an older source, an editable install not rebuilt after a pull, is stale, never half-used:
   merkle_root took one argument before session 27, sha256_fixed and sha256_columns three before session 28, and a build of perf28's first commit says 3 with three: 4 since). Raise it whenever a
   function's arguments change. */
#define FASTSHA_API 4

PyMODINIT_FUNC PyInit__fastsha(void) {
    PyObject *m = PyModule_Create(&fastsha_module);
    if (m != NULL && PyModule_AddIntConstant(m, "API", FASTSHA_API) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
