/* Exact nearest-neighbour searches over one block of squared distances, for prov's
 * detectors (provenance/features/neighbors.py): two passes over the block where numpy
 * makes about nine (norms added, clip, per-label minima, the k-smallest bound and its
 * candidates, counts within radii).
 *
 * The matrix product stays numpy's (the same BLAS call on the same block, so the same
 * bits); these functions only add, compare and copy doubles, so every index, distance and
 * count is numpy's: tests compare both paths on random blocks with ties, floods of copies,
 * exclusions and inf, and every detector's findings on real data. select expects blocks
 * without NaN (provenance.fastknn uses it only on finite inputs too small to overflow; a
 * NaN it reads makes it return 0, and numpy answers). Built as the optional extension
 * provenance._fastknn by setup.py (setuptools optional=True); without it prov runs the
 * numpy path.
 *
 * Each function takes numpy arrays through the buffer protocol, checks every length
 * before touching memory, and releases the GIL while it works. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* finish(d2, query_norms, point_norms): in place, each entry of the (rows x m) block
 * becomes (d2 + query_norms[row]) + point_norms[col], then 0.0 where it is below zero (NaN
 * stays NaN): numpy's ``d2 += qn[:, None]; d2 += pn[None, :]; copyto(d2, 0, where=d2 < 0)``. */
static PyObject *finish(PyObject *self, PyObject *args) {
    Py_buffer d2, qn, pn;
    if (!PyArg_ParseTuple(args, "w*y*y*", &d2, &qn, &pn)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t rows = qn.len / (Py_ssize_t)sizeof(double), m = pn.len / (Py_ssize_t)sizeof(double);
    if (d2.len != rows * m * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "finish: the block is not rows x points doubles");
        goto done;
    }
    double *d = d2.buf;
    const double *q = qn.buf, *p = pn.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < rows; i++) {
        double *row = d + i * m;
        const double a = q[i];
        for (Py_ssize_t j = 0; j < m; j++) {
            double v = row[j] + a;
            v = v + p[j];
            row[j] = v < 0.0 ? 0.0 : v;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&d2);
    PyBuffer_Release(&qn);
    PyBuffer_Release(&pn);
    return result;
}

/* Whether (v, j) comes before (w, i) in the order (value, column). */
static inline int before(double v, int64_t j, double w, int64_t i) { return v < w || (v == w && j < i); }

/* Insert (v, j) into a row's k smallest so far, ordered by (value, column); called with
 * (v, j) before the k-th held. */
static inline void insert(double *val, int64_t *idx, Py_ssize_t k, double v, int64_t j) {
    Py_ssize_t pos = k - 1;
    while (pos > 0 && before(v, j, val[pos - 1], idx[pos - 1])) {
        val[pos] = val[pos - 1];
        idx[pos] = idx[pos - 1];
        pos--;
    }
    val[pos] = v;
    idx[pos] = j;
}

/* Read row[a:b) into the k smallest (ti, tv) and, for entries under rmax, the counts; 0 when
 * it meets a NaN. Runs of eight entries all above both the k-th held and rmax are skipped
 * after one comparison each (SSE2), the rest read one by one. */
static inline int scan(const double *row, Py_ssize_t a, Py_ssize_t b, Py_ssize_t k, int64_t *ti, double *tv,
                       double rmax, const double *r2, Py_ssize_t r, int64_t *ci) {
    int clean = 1;
    Py_ssize_t j = a;
    while (j < b) {
        Py_ssize_t end = j + 8 < b ? j + 8 : b;
#ifdef __SSE2__
        if (end - j == 8) {
            __m128d limit = _mm_set1_pd(tv[k - 1] > rmax ? tv[k - 1] : rmax), x;
            int hit = 0;
            for (int u = 0; u < 8; u += 2) {
                x = _mm_loadu_pd(row + j + u);
                hit |= _mm_movemask_pd(_mm_or_pd(_mm_cmple_pd(x, limit), _mm_cmpunord_pd(x, x)));
            }
            if (!hit) {
                j = end;
                continue;
            }
        }
#endif
        for (; j < end; j++) {
            double v = row[j];
            clean &= v == v;
            if (before(v, j, tv[k - 1], ti[k - 1])) insert(tv, ti, k, v, j);
            if (v < rmax)
                for (Py_ssize_t t = 0; t < r; t++) ci[t] += v < r2[t];
        }
    }
    return clean;
}

/* The smaller of a and b: b < a ? b : a (one minpd: exact, whatever the order of a
 * reduction, on values that are never NaN nor -0.0, as a finished block's are). */
static inline double smaller(double a, double b) { return b < a ? b : a; }

#define LANES 64 /* columns per chunk: a chunk's minimum is one pass of eight running minima */

/* The smallest of row[a:b). Eight running minima over whole runs of eight (minpd where
 * SSE2 is there: on values that are never NaN nor -0.0 the same as smaller), then combined. */
static inline double chunk_min(const double *row, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t j = a;
    double m = INFINITY;
#ifdef __SSE2__
    __m128d l0 = _mm_set1_pd(INFINITY), l1 = l0, l2 = l0, l3 = l0;
    for (; j + 8 <= b; j += 8) {
        l0 = _mm_min_pd(l0, _mm_loadu_pd(row + j));
        l1 = _mm_min_pd(l1, _mm_loadu_pd(row + j + 2));
        l2 = _mm_min_pd(l2, _mm_loadu_pd(row + j + 4));
        l3 = _mm_min_pd(l3, _mm_loadu_pd(row + j + 6));
    }
    double lanes[2];
    _mm_storeu_pd(lanes, _mm_min_pd(_mm_min_pd(l0, l1), _mm_min_pd(l2, l3)));
    m = smaller(lanes[0], lanes[1]);
#endif
    for (; j < b; j++) m = smaller(m, row[j]);
    return m;
}

/* The lowest column of row[a:b) holding value v (-1 if none). */
static inline int64_t first_equal(const double *row, Py_ssize_t a, Py_ssize_t b, double v) {
    for (Py_ssize_t j = a; j < b; j++)
        if (row[j] == v) return j;
    return -1;
}

/* select(d2, m, k, idx, val, starts, own, span_idx, span_val, radii2, counts) -> 1, or 0
 * when the block holds a NaN (the outputs are then incomplete: the caller runs numpy's
 * path on that block instead).
 *
 * d2 (rows x m doubles, as finish leaves them: never -0.0). idx / val (rows x k, int64 /
 * double): each row's k smallest entries by (value, column), -1 / inf past the last finite
 * one (numpy's k_smallest, with its -1 for entries that are not finite). starts (L int64,
 * ascending, starts[0] == 0): the points' label spans, each from its start to the next (the
 * last to m). With L > 0, own (rows int64) is each row's span or -1, and span_idx /
 * span_val (rows x 2, int64 / double) receive the lowest column holding the row's smallest
 * entry in its own span and that entry, then the same over every other span (the lowest
 * span holding the minimum), -1 / inf when it is not finite. radii2 (r doubles), counts
 * (rows x r int64): how many entries of each row lie strictly below each radius.
 *
 * Per row, as numpy's k_smallest: the minima of disjoint groups of columns bound the k-th
 * smallest entry from above (k of them are k distinct entries), so only entries up to that
 * bound are inserted. One pass takes the minimum of each chunk of LANES columns (inside a
 * label span, so the spans' minima come with them); the second reads only the chunks whose
 * minimum reaches the bound or a radius. */
static PyObject *select_block(PyObject *self, PyObject *args) {
    Py_buffer d2, idx, val, starts, own, span_idx, span_val, radii, counts;
    Py_ssize_t m, k;
    if (!PyArg_ParseTuple(args, "y*nnw*w*y*y*w*w*y*w*", &d2, &m, &k, &idx, &val, &starts, &own, &span_idx, &span_val,
                          &radii, &counts))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t L = starts.len / (Py_ssize_t)sizeof(int64_t), r = radii.len / (Py_ssize_t)sizeof(double);
    Py_ssize_t rows = k > 0 ? idx.len / (k * (Py_ssize_t)sizeof(int64_t)) : 0;
    const int64_t *st = starts.buf, *ow = own.buf;
    int ok = k > 0 && rows > 0 && m >= k && d2.len == rows * m * (Py_ssize_t)sizeof(double) && val.len == idx.len &&
             counts.len == rows * r * (Py_ssize_t)sizeof(int64_t) && (L == 0 || st[0] == 0);
    if (ok && L > 0) {
        ok = own.len == rows * (Py_ssize_t)sizeof(int64_t) && span_idx.len == rows * 2 * (Py_ssize_t)sizeof(int64_t) &&
             span_val.len == rows * 2 * (Py_ssize_t)sizeof(double);
        for (Py_ssize_t l = 1; ok && l < L; l++) ok = st[l] > st[l - 1] && st[l] < m;
        for (Py_ssize_t i = 0; ok && i < rows; i++) ok = ow[i] >= -1 && ow[i] < L;
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "select: arguments of inconsistent sizes");
        goto done;
    }
    int clean = 1;
    const double *d = d2.buf, *r2 = radii.buf;
    int64_t *ix = idx.buf, *cn = counts.buf, *si = span_idx.buf;
    double *vl = val.buf, *sv = span_val.buf;
    double rmax = -INFINITY;
    for (Py_ssize_t t = 0; t < r; t++) rmax = r2[t] > rmax ? r2[t] : rmax;
    /* chunk minima and starts: at most m / LANES + 1 per span */
    Py_ssize_t most = m / LANES + (L > 0 ? L : 1) + 1;
    double *cmin = PyMem_RawMalloc(sizeof(double) * (size_t)most), *kept = PyMem_RawMalloc(sizeof(double) * (size_t)k);
    Py_ssize_t *cstart = PyMem_RawMalloc(sizeof(Py_ssize_t) * (size_t)(most + 1));
    int64_t *unused = PyMem_RawMalloc(sizeof(int64_t) * (size_t)k);
    if (!cmin || !kept || !cstart || !unused) {
        PyMem_RawFree(cmin);
        PyMem_RawFree(kept);
        PyMem_RawFree(cstart);
        PyMem_RawFree(unused);
        PyErr_NoMemory();
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < rows && clean; i++) {
        const double *row = d + i * m;
        int64_t *ti = ix + i * k, *ci = cn + i * r;
        double *tv = vl + i * k;
        for (Py_ssize_t t = 0; t < k; t++) {
            ti[t] = -1;
            tv[t] = INFINITY;
        }
        for (Py_ssize_t t = 0; t < r; t++) ci[t] = 0;
        /* pass 1: each chunk's minimum (chunks of LANES columns inside a span), each span's */
        double own_v = INFINITY, other_v = INFINITY;
        Py_ssize_t own_l = -1, other_l = -1, chunks = 0;
        Py_ssize_t spans_n = L > 0 ? L : 1;
        for (Py_ssize_t l = 0; l < spans_n; l++) {
            Py_ssize_t a = L > 0 ? st[l] : 0, b = (L > 0 && l + 1 < L) ? st[l + 1] : m;
            double low = INFINITY;
            for (Py_ssize_t j = a; j < b; j += LANES, chunks++) {
                cmin[chunks] = chunk_min(row, j, j + LANES < b ? j + LANES : b);
                cstart[chunks] = j;
                low = smaller(low, cmin[chunks]);
            }
            cstart[chunks] = b; /* where the span's last chunk ends */
            if (L > 0 && l == ow[i]) {
                own_v = low;
                own_l = l;
            } else if (low < other_v) {
                other_v = low;
                other_l = l;
            }
        }
        /* the bound: the k-th smallest chunk minimum (k distinct entries lie at or below it) */
        for (Py_ssize_t t = 0; t < k; t++) kept[t] = INFINITY;
        for (Py_ssize_t c = 0; c < chunks; c++)
            if (cmin[c] < kept[k - 1]) insert(kept, unused, k, cmin[c], c);
        double bound = kept[k - 1], wide = bound > rmax ? bound : rmax;
        /* pass 2: the chunks reaching the bound (or a radius), the lowest first so that the
         * k-th held drops at once and most of the others need no reading */
        Py_ssize_t first = 0;
        for (Py_ssize_t c = 1; c < chunks; c++)
            if (cmin[c] < cmin[first]) first = c;
        for (Py_ssize_t n = -1; n < chunks; n++) {
            Py_ssize_t c = n < 0 ? first : n;
            if ((n >= 0 && c == first) || !(cmin[c] <= wide)) continue;
            if (!(cmin[c] <= tv[k - 1] || cmin[c] < rmax)) continue;
            Py_ssize_t end = cstart[c] + LANES;
            if (c + 1 < chunks && cstart[c + 1] < end) end = cstart[c + 1];
            if (end > m) end = m;
            clean &= scan(row, cstart[c], end, k, ti, tv, rmax, r2, r, ci);
        }
        if (L > 0) {
            Py_ssize_t a = own_l >= 0 ? st[own_l] : 0, b = own_l >= 0 && own_l + 1 < L ? st[own_l + 1] : m;
            si[2 * i] = isfinite(own_v) ? first_equal(row, a, b, own_v) : -1;
            sv[2 * i] = own_v;
            a = other_l >= 0 ? st[other_l] : 0, b = other_l >= 0 && other_l + 1 < L ? st[other_l + 1] : m;
            si[2 * i + 1] = isfinite(other_v) ? first_equal(row, a, b, other_v) : -1;
            sv[2 * i + 1] = other_v;
        }
        for (Py_ssize_t t = 0; t < k; t++)
            if (!isfinite(tv[t])) ti[t] = -1;
    }
    Py_END_ALLOW_THREADS
    PyMem_RawFree(cmin);
    PyMem_RawFree(kept);
    PyMem_RawFree(cstart);
    PyMem_RawFree(unused);
    result = PyLong_FromLong(clean);
done:
    PyBuffer_Release(&d2);
    PyBuffer_Release(&idx);
    PyBuffer_Release(&val);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&own);
    PyBuffer_Release(&span_idx);
    PyBuffer_Release(&span_val);
    PyBuffer_Release(&radii);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"finish", finish, METH_VARARGS, "Add the norms to a block of products and clip it at zero, in place."},
    {"select", select_block, METH_VARARGS, "Each row's k smallest, per-label nearest and counts within radii."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastknn", NULL, -1, methods};

PyMODINIT_FUNC PyInit__fastknn(void) { return PyModule_Create(&module); }
