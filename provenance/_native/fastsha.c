/* Batch SHA-256 for prov: one call hashes many short messages, so the per-message cost
 * is OpenSSL's compression function (SHA-NI where the CPU has it), not a Python call.
 * Every function here has a pure-Python reference in provenance/hashing.py; tests
 * compare the two byte for byte. Built as an optional extension (provenance._fastsha);
 * loaded through ctypes, so the module init below only makes it importable. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

/* out[32*i..] = SHA-256(prefix || data[offsets[i] .. offsets[i+1]]) for i < n */
void prov_sha256_rows(const uint8_t *prefix, size_t prefix_len, const uint8_t *data,
                      const int64_t *offsets, size_t n, uint8_t *out) {
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    if (prefix_len) SHA256_Update(&base, prefix, prefix_len);
    for (size_t i = 0; i < n; i++) {
        memcpy(&ctx, &base, sizeof ctx);
        SHA256_Update(&ctx, data + offsets[i], (size_t)(offsets[i + 1] - offsets[i]));
        SHA256_Final(out + 32 * i, &ctx);
    }
}

/* The same for n rows of ``width`` bytes each, back to back. */
void prov_sha256_fixed(const uint8_t *prefix, size_t prefix_len, const uint8_t *data,
                       size_t width, size_t n, uint8_t *out) {
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    if (prefix_len) SHA256_Update(&base, prefix, prefix_len);
    for (size_t i = 0; i < n; i++) {
        memcpy(&ctx, &base, sizeof ctx);
        SHA256_Update(&ctx, data + width * i, width);
        SHA256_Final(out + 32 * i, &ctx);
    }
}

/* RFC 6962 MTH over n leaf hashes, bottom-up (an odd last node is promoted), using
 * ``scratch`` (32*n bytes) for the levels. Writes the root to out. n >= 1. */
void prov_merkle_root(const uint8_t *leaves, size_t n, uint8_t *scratch, uint8_t *out) {
    /* The low-level SHA256_* calls, not one-shot SHA256(): in OpenSSL 3 the one-shot
     * goes through an EVP fetch per call, several times slower for 65-byte messages. */
    static const uint8_t node = 0x01;
    SHA256_CTX base, ctx;
    SHA256_Init(&base);
    SHA256_Update(&base, &node, 1);
    memcpy(scratch, leaves, 32 * n);
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i + 1 < n; i += 2) {
            memcpy(&ctx, &base, sizeof ctx);
            SHA256_Update(&ctx, scratch + 32 * i, 64);
            SHA256_Final(scratch + 32 * m, &ctx);
            m++;
        }
        if (n & 1) {
            memmove(scratch + 32 * m, scratch + 32 * (n - 1), 32);
            m++;
        }
        n = m;
    }
    memcpy(out, scratch, 32);
}

static struct PyModuleDef fastsha_module = {PyModuleDef_HEAD_INIT, "_fastsha", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__fastsha(void) { return PyModule_Create(&fastsha_module); }
