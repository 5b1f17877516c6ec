/* The bag's literal scan, compiled (daskburst.workloads.bag uses it when it was built).
 *
 * The same answers as the numpy scan in bag.py (title_lines, _newlines, isascii and the
 * '\r' test of translate_newlines), which stays as the fallback: numpy needs a pass, and
 * a temporary as large as the chunk, for each question asked of every byte, and those
 * passes alone took more than the bag's budget against ISA-L's inflate
 * (docs/bench/measurements.md). Here the line count, the ASCII check and the '\r' test are
 * one SSE2 loop (plain C elsewhere), the pattern is found by memchr on its rarest byte,
 * and only the lines holding it are looked at; both run without the GIL. bag.scan_bytes
 * calls title_lines only for a needle and code without space or newline.
 */
#define _GNU_SOURCE /* memrchr */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_WANT 64

/* The '\n' bytes of p[0:n], the OR of all bytes (bit 7 set: not all ASCII), and whether
 * a '\r' is among them. */
static void
line_stats_of(const unsigned char *p, Py_ssize_t n, Py_ssize_t *lines, int *ascii, int *cr)
{
    Py_ssize_t i = 0, count = 0;
    unsigned char or = 0, crs = 0;
#ifdef __SSE2__
    const __m128i nl = _mm_set1_epi8('\n'), ret = _mm_set1_epi8('\r');
    const __m128i zero = _mm_setzero_si128();
    __m128i any = zero, anycr = zero;
    while (i + 16 <= n) {
        /* Up to 255 blocks of 16 bytes: each lane counts its newlines in a byte. */
        Py_ssize_t blocks = (n - i) / 16 < 255 ? (n - i) / 16 : 255;
        __m128i acc = zero;
        for (Py_ssize_t k = 0; k < blocks; k++, i += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
            acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl)); /* a match is -1 */
            anycr = _mm_or_si128(anycr, _mm_cmpeq_epi8(v, ret));
            any = _mm_or_si128(any, v);
        }
        __m128i sums = _mm_sad_epu8(acc, zero); /* two 64-bit sums of the byte counts */
        count += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
    }
    or = _mm_movemask_epi8(any) ? 0x80 : 0;
    crs = _mm_movemask_epi8(anycr) != 0;
#endif
    for (; i < n; i++) {
        count += p[i] == '\n';
        crs |= p[i] == '\r';
        or |= p[i];
    }
    *lines = count;
    *ascii = !(or & 0x80);
    *cr = crs != 0;
}

/* (newlines, all ASCII, holds a '\r') of a bytes-like: one pass for the three questions. */
static PyObject *
line_stats(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_buffer view;
    Py_ssize_t lines;
    int ascii, cr;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    line_stats_of(view.buf, view.len, &lines, &ascii, &cr);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(nNN)", lines, PyBool_FromLong(ascii), PyBool_FromLong(cr));
}

/* The first place in b[pos:stop] holding the needle nd[0:size], or NULL: memchr (SIMD in
 * glibc) for its byte `rare`, the one least common in the text, then memcmp. */
static const char *
find_needle(const char *b, Py_ssize_t pos, Py_ssize_t stop, const char *nd, Py_ssize_t size,
            Py_ssize_t rare)
{
    const char *at = b + pos + rare, *last = b + stop - size + rare;
    while (at <= last) {
        at = memchr(at, (unsigned char)nd[rare], (size_t)(last - at + 1));
        if (at == NULL)
            return NULL;
        if (memcmp(at - rare, nd, (size_t)size) == 0)
            return at - rare;
        at++;
    }
    return NULL;
}

/* Which byte of nd[0:size] is least common in the first 64 KiB of b[start:stop]. */
static Py_ssize_t
rarest(const unsigned char *b, Py_ssize_t start, Py_ssize_t stop, const unsigned char *nd,
       Py_ssize_t size)
{
    Py_ssize_t seen[256] = {0}, end = stop - start > 65536 ? start + 65536 : stop, best = 0;
    for (Py_ssize_t i = start; i < end; i++)
        seen[b[i]]++;
    for (Py_ssize_t i = 1; i < size; i++)
        if (seen[nd[i]] < seen[nd[best]])
            best = i;
    return best;
}

/* Count the lines of buf[start:stop] that the one-line test accepts: six space-separated
 * fields (split at most five times), field 2 equal to `code` (when given), and `needle`
 * (no space, no newline) in field 3. Return (count, the first `want` lines' starts). */
static PyObject *
title_lines(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    Py_buffer data, needle, code;
    Py_ssize_t start, stop, want;
    int has_code;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "title_lines(data, start, stop, needle, code, want)");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    stop = PyLong_AsSsize_t(args[2]);
    want = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred())
        return NULL;
    has_code = args[4] != Py_None;
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(args[3], &needle, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    if (has_code && PyObject_GetBuffer(args[4], &code, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&needle);
        PyBuffer_Release(&data);
        return NULL;
    }
    if (start < 0 || stop > data.len || start > stop || needle.len == 0 || want < 0) {
        PyErr_SetString(PyExc_ValueError, "title_lines: bad range or empty needle");
        goto fail;
    }
    if (want > MAX_WANT)
        want = MAX_WANT;
    Py_ssize_t starts[MAX_WANT], kept = 0, matched = 0;
    const char *b = data.buf, *nd = needle.buf, *cd = has_code ? code.buf : NULL;
    Py_ssize_t size = needle.len, clen = has_code ? code.len : 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t rare = rarest(data.buf, start, stop, needle.buf, size);
    Py_ssize_t pos = start;
    while (pos + size <= stop) {
        const char *hit = find_needle(b, pos, stop, nd, size, rare);
        if (hit == NULL)
            break;
        Py_ssize_t h = hit - b;
        /* The hit's line: from the newline before it (or start) to the one after. */
        const char *nl = memrchr(b + start, '\n', (size_t)(h - start));
        Py_ssize_t line = nl ? nl - b + 1 : start;
        const char *e = memchr(b + h + size, '\n', (size_t)(stop - h - size));
        Py_ssize_t end = e ? e - b : stop;
        /* Spaces before the hit in its line: exactly three put it in field 3. */
        Py_ssize_t spaces = 0, sp2 = -1, sp3 = -1;
        for (Py_ssize_t i = line; i < h && spaces <= 3; i++) {
            if (b[i] == ' ') {
                spaces++;
                if (spaces == 2)
                    sp2 = i;
                else if (spaces == 3)
                    sp3 = i;
            }
        }
        int ok = spaces == 3;
        if (ok && has_code)
            ok = sp3 - sp2 - 1 == clen && memcmp(b + sp2 + 1, cd, (size_t)clen) == 0;
        if (ok) { /* two more spaces after it: six fields */
            Py_ssize_t more = 0;
            for (Py_ssize_t i = h + size; i < end && more < 2; i++)
                more += b[i] == ' ';
            ok = more == 2;
        }
        if (ok) {
            if (kept < want)
                starts[kept++] = line;
            matched++;
        }
        /* From field 3 on, the line's answer is this one: each line counts once. */
        pos = spaces >= 3 ? end + 1 : h + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&needle);
    if (has_code)
        PyBuffer_Release(&code);
    PyObject *found = PyList_New(kept);
    if (found == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < kept; i++) {
        PyObject *at = PyLong_FromSsize_t(starts[i]);
        if (at == NULL) {
            Py_DECREF(found);
            return NULL;
        }
        PyList_SET_ITEM(found, i, at);
    }
    return Py_BuildValue("(nN)", matched, found);
fail:
    PyBuffer_Release(&data);
    PyBuffer_Release(&needle);
    if (has_code)
        PyBuffer_Release(&code);
    return NULL;
}

static PyMethodDef methods[] = {
    {"line_stats", line_stats, METH_O, "(newlines, all ASCII, holds a CR) of a bytes-like"},
    {"title_lines", (PyCFunction)(void (*)(void))title_lines, METH_FASTCALL,
     "(count, first starts) of the lines whose title holds needle"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}
