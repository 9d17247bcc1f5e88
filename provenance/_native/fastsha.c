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
#include <stdint.h>
#include <string.h>

/* The low-level SHA256_* calls, not one-shot SHA256() or EVP: in OpenSSL 3 those fetch
 * an implementation per call, several times slower for messages of under a kilobyte. */

static PyObject *new_digest_bytes(Py_ssize_t n, uint8_t **out) {
    PyObject *result = PyBytes_FromStringAndSize(NULL, 32 * n);
    if (result) *out = (uint8_t *)PyBytes_AS_STRING(result);
    return result;
}

/* sha256_fixed(prefix, data, width) -> bytes
 * SHA-256(prefix || row) of each ``width``-byte row of ``data``, concatenated. */
static PyObject *sha256_fixed(PyObject *self, PyObject *args) {
    Py_buffer prefix, data;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "y*y*n", &prefix, &data, &width)) return NULL;
    PyObject *result = NULL;
    if (width <= 0 || data.len % width) {
        PyErr_SetString(PyExc_ValueError, "data is not a whole number of rows of the given width");
        goto done;
    }
    Py_ssize_t n = data.len / width;
    uint8_t *out;
    result = new_digest_bytes(n, &out);
    if (!result) goto done;
    const uint8_t *rows = data.buf;
    Py_BEGIN_ALLOW_THREADS
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    for (Py_ssize_t i = 0; i < n; i++) {
        memcpy(&ctx, &base, sizeof ctx);
        SHA256_Update(&ctx, rows + width * i, (size_t)width);
        SHA256_Final(out + 32 * i, &ctx);
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&data);
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

/* sha256_columns(prefix, heads, columns) -> bytes
 * Rows made of fixed-width fields: row i is, for each field f in order, heads[f] followed
 * by the f-th column's i-th value written big-endian (itemsize 1, 2, 4 or 8), and the
 * digest is SHA-256(prefix || row). The columns are native-order arrays of one length;
 * normalising values (floats, widths) is the caller's: this only lays bytes out and
 * hashes. Rows are assembled a block at a time, column by column, so every column is
 * read in order and the block stays in cache. */
#define COLUMNS_BLOCK 128
static void put_big_endian(uint8_t *dst, const uint8_t *src, Py_ssize_t size) {
    for (Py_ssize_t k = 0; k < size; k++) dst[k] = src[size - 1 - k];
}

static PyObject *sha256_columns(PyObject *self, PyObject *args) {
    Py_buffer prefix;
    PyObject *heads, *columns;
    if (!PyArg_ParseTuple(args, "y*O!O!", &prefix, &PyList_Type, &heads, &PyList_Type, &columns)) return NULL;
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
    uint8_t *out;
    result = new_digest_bytes(n, &out);
    if (!result) goto done;
    scratch = PyMem_RawMalloc((size_t)(COLUMNS_BLOCK * row_width));
    if (!scratch) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    SHA256_Update(&base, prefix.buf, (size_t)prefix.len);
    for (Py_ssize_t f = 0; f < k; f++) /* the heads never change: write them once */
        for (Py_ssize_t r = 0; r < COLUMNS_BLOCK; r++)
            memcpy(scratch + r * row_width + at[f] - head_len[f], bufs[2 * f].buf, (size_t)head_len[f]);
    for (Py_ssize_t start = 0; start < n; start += COLUMNS_BLOCK) {
        Py_ssize_t rows = n - start < COLUMNS_BLOCK ? n - start : COLUMNS_BLOCK;
        for (Py_ssize_t f = 0; f < k; f++) {
            const uint8_t *src = (const uint8_t *)bufs[2 * f + 1].buf + start * item[f];
            uint8_t *dst = scratch + at[f];
            Py_ssize_t size = item[f];
            if (size == 8) {
                for (Py_ssize_t r = 0; r < rows; r++) {
                    uint64_t v;
                    memcpy(&v, src + 8 * r, 8);
                    v = __builtin_bswap64(v);
                    memcpy(dst + r * row_width, &v, 8);
                }
            } else {
                for (Py_ssize_t r = 0; r < rows; r++) put_big_endian(dst + r * row_width, src + size * r, size);
            }
        }
        for (Py_ssize_t r = 0; r < rows; r++) {
            memcpy(&ctx, &base, sizeof ctx);
            SHA256_Update(&ctx, scratch + r * row_width, (size_t)row_width);
            SHA256_Final(out + 32 * (start + r), &ctx);
        }
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

static inline void hash_node(uint8_t blocks[128], const SHA256_CTX *initial, const uint8_t *pair, uint8_t *out) {
    SHA256_CTX ctx;
    memcpy(blocks + 1, pair, 64);
    memcpy(ctx.h, initial->h, sizeof ctx.h);
    SHA256_Transform(&ctx, blocks);
    SHA256_Transform(&ctx, blocks + 64);
    for (int w = 0; w < 8; w++) {
        out[4 * w] = (uint8_t)(ctx.h[w] >> 24);
        out[4 * w + 1] = (uint8_t)(ctx.h[w] >> 16);
        out[4 * w + 2] = (uint8_t)(ctx.h[w] >> 8);
        out[4 * w + 3] = (uint8_t)ctx.h[w];
    }
}

/* merkle_root(leaves) -> bytes
 * RFC 6962 MTH over concatenated 32-byte leaf hashes (at least one), bottom-up: an odd
 * last node is promoted, which is the same tree as the RFC's split at the largest power
 * of two below n. */
static PyObject *merkle_root(PyObject *self, PyObject *args) {
    Py_buffer leaves;
    if (!PyArg_ParseTuple(args, "y*", &leaves)) return NULL;
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
    uint8_t blocks[128];
    SHA256_Init(&initial);
    node_blocks(blocks);
    while (n > 1) {
        Py_ssize_t m = 0;
        for (Py_ssize_t i = 0; i + 1 < n; i += 2) {
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

static PyMethodDef methods[] = {
    {"sha256_fixed", sha256_fixed, METH_VARARGS, "SHA-256(prefix || row) per fixed-width row, concatenated."},
    {"sha256_rows", sha256_rows, METH_VARARGS, "SHA-256(prefix || data[o[i]:o[i+1]]) per row, concatenated."},
    {"sha256_keyed", sha256_keyed, METH_VARARGS, "SHA-256(prefix || digest_i || suffix[code_i]) per row."},
    {"sha256_columns", sha256_columns, METH_VARARGS, "SHA-256(prefix || head_1 || value_1 || ...) per row of columns."},
    {"merkle_root", merkle_root, METH_VARARGS, "RFC 6962 root over concatenated 32-byte leaf hashes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastsha_module = {
    PyModuleDef_HEAD_INIT, "_fastsha", "Batch SHA-256 over OpenSSL (see provenance/fastsha.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastsha(void) { return PyModule_Create(&fastsha_module); }
