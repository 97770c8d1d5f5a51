/* Fused CPU loops of scatnet's fast Morlet scattering (loaded by native.py; the eager PyTorch steps they
 * replace are in ops.py, with the same arithmetic, sums in the same order, maybe fused multiply-adds).
 *
 * Complex values are interleaved (re, im) pairs, as torch lays out complex tensors. A filter bank is kept
 * as its k x k alias blocks (ops.filter_blocks): real psi[b, l, i, t], each value times both parts of a
 * complex one.
 * Each eager step reads and writes the spectra 3-4 times (a product, then one in-place pass per alias
 * block or per real part); these do it once, and where MKL's FFTs are handed in (set_dfti) the wavelets'
 * loops take each map's filtering, FFTs and modulus (or its adjoint) together in a buffer in the thread's
 * cache. Threads: the caller's count, over independent outputs. */
#include <math.h>
#include <stdlib.h>

#define STRIP 64  /* columns summed in registers by lowpass_band */
/* What every loop returns (native.py raises a Python error for the others; nothing here aborts the process). */
enum { DONE = 0, NO_FFT_DESCRIPTOR = 1, NO_MEMORY = 2 };

/* MKL's DFT interface (mkl_dfti.h: its enum values, and the entry points DftiCreateDescriptor expands to),
 * from the MKL that PyTorch links and runs torch.fft with on a CPU; native.py passes the functions in where
 * they are there (set_dfti), else the fused steps below are not called. Why call it here: an inverse FFT
 * inside a loop reads and writes a map in the thread's cache, where torch.fft needs the batch's spectra
 * written out first and its results read back (three passes over memory a map, the second order's largest). */
typedef void *dfti_handle;
enum { DFTI_BACKWARD_SCALE = 5, DFTI_THREAD_LIMIT = 27, DFTI_COMPLEX = 32 };
static long (*dfti_create[2])(dfti_handle *, int, long, ...);  /* single, double: DftiCreateDescriptor_?_md */
static long (*dfti_set)(dfti_handle, int, ...);
static long (*dfti_commit)(dfti_handle);
static long (*dfti_forward)(dfti_handle, void *, ...);
static long (*dfti_backward)(dfti_handle, void *, ...);
static long (*dfti_free)(dfti_handle *);

void set_dfti(void *create_s, void *create_d, void *set, void *commit, void *forward, void *backward,
              void *free_) {
    dfti_create[0] = create_s, dfti_create[1] = create_d, dfti_set = set, dfti_commit = commit;
    dfti_forward = forward, dfti_backward = backward, dfti_free = free_;
}

/* This thread's committed descriptor for m x n complex 2-D transforms (the backward one scaled by 1/(m n),
 * as torch.fft.ifft2), run on this thread alone; kept per thread for the last few sizes (one transform uses
 * two or three), since committing one costs about as much as a few transforms. NULL where MKL refuses one. */
#define DFTI_PLANS 8
static __thread struct { long m, n, dbl; dfti_handle h; } dfti_plans[DFTI_PLANS];
static __thread int dfti_next;  /* the slot a new size takes, its old descriptor freed: the oldest */
static dfti_handle dfti_plan(long m, long n, long dbl) {
    for (int i = 0; i < DFTI_PLANS; i++)
        if (dfti_plans[i].h != NULL && dfti_plans[i].m == m && dfti_plans[i].n == n && dfti_plans[i].dbl == dbl)
            return dfti_plans[i].h;
    dfti_handle h = NULL;
    long sizes[2] = {m, n};
    const double scale = dbl ? 1.0 / (double)(m * n) : (double)(1.0f / (float)(m * n));
    if (dfti_create[dbl](&h, DFTI_COMPLEX, 2, sizes) || dfti_set(h, DFTI_BACKWARD_SCALE, scale)
            || dfti_set(h, DFTI_THREAD_LIMIT, 1) || dfti_commit(h)) {
        if (h != NULL) dfti_free(&h);
        return NULL;
    }
    if (dfti_plans[dfti_next].h != NULL) dfti_free(&dfti_plans[dfti_next].h);
    dfti_plans[dfti_next].m = m, dfti_plans[dfti_next].n = n, dfti_plans[dfti_next].dbl = dbl;
    dfti_plans[dfti_next].h = h;
    dfti_next = (dfti_next + 1) % DFTI_PLANS;
    return h;
}

#define SCATNET_KERNELS(T, S, SQRT)                                                                        \
/* |z| of the complex value at z, as kymatio computes it: sqrt(re^2 + im^2). */                            \
static inline T modulus_of_##S(const T *z) {                                                               \
    return SQRT(z[0] * z[0] + z[1] * z[1]);                                                                \
}                                                                                                          \
                                                                                                           \
/* Row `row` of one real map of a pair's spectrum u = fft2(a + i b) (m rows of n values), into d: side 0 a's, \
 * (u(w) + conj u(-w)) / 2, side 1 b's, (u(w) - conj u(-w)) / 2i; column c's mirror is n - c, column 0's 0. */ \
static inline void separated_row_##S(const T *restrict u, long m, long n, long row, long side, T *restrict d) { \
    const T *restrict p = u + 2 * row * n, *restrict q = u + 2 * ((m - row) % m) * n;                      \
    if (side == 0) {                                                                                       \
        d[0] = (p[0] + q[0]) / 2, d[1] = (p[1] - q[1]) / 2;                                                \
        for (long c = 1; c < n; c++)                                                                       \
            d[2 * c] = (p[2 * c] + q[2 * (n - c)]) / 2, d[2 * c + 1] = (p[2 * c + 1] - q[2 * (n - c) + 1]) / 2; \
    } else {                                                                                               \
        d[0] = (p[1] + q[1]) / 2, d[1] = (q[0] - p[0]) / 2;                                                \
        for (long c = 1; c < n; c++)                                                                       \
            d[2 * c] = (p[2 * c + 1] + q[2 * (n - c) + 1]) / 2, d[2 * c + 1] = (q[2 * (n - c)] - p[2 * c]) / 2; \
    }                                                                                                      \
}                                                                                                          \
/* o = s * p over a row of nk complex values (each real filter value p[t] times both parts of s's t-th     \
 * value), or o += s * p: a product that the first term of a sum writes and the others add to. */          \
static inline void row_product_##S(T *restrict o, const T *restrict s, const T *restrict p, long nk,       \
                                   int add) {                                                              \
    if (add)                                                                                               \
        for (long t = 0; t < nk; t++) {                                                                    \
            o[2 * t] += s[2 * t] * p[t];                                                                   \
            o[2 * t + 1] += s[2 * t + 1] * p[t];                                                           \
        }                                                                                                  \
    else                                                                                                   \
        for (long t = 0; t < nk; t++) {                                                                    \
            o[2 * t] = s[2 * t] * p[t];                                                                    \
            o[2 * t + 1] = s[2 * t + 1] * p[t];                                                            \
        }                                                                                                  \
}                                                                                                          \
                                                                                                           \
/* Rows i0..i1 of one filter's output o (rows of w = 2 nk reals): the sum over the k x k alias blocks b    \
 * of a spectrum's block b times psi_l's block b (psi_l: the filter's block 0; block b is b L dp further). \
 * The spectrum's rows are n complex values; block b's row i is row (b / k) block_rows + i - ibase, from   \
 * column (b % k) nk. k = 2 (the second order) sums its four blocks in registers and stores once (one pass \
 * over the output, not four); otherwise each output row is written by the first block, added to by others.*/\
static void filter_rows_##S(const T *restrict src, long block_rows, long ibase, const T *restrict psi_l,   \
                            long L, long dp, T *restrict o, long k, long n, long nk, long i0, long i1) {   \
    if (k == 2) {                                                                                          \
        for (long i = i0; i < i1; i++) {                                                                   \
            const T *restrict s0 = src + 2 * (i - ibase) * n, *restrict s1 = s0 + 2 * nk;                  \
            const T *restrict s2 = s0 + 2 * block_rows * n, *restrict s3 = s2 + 2 * nk;                    \
            const T *restrict p0 = psi_l + i * nk, *restrict p1 = p0 + L * dp;                             \
            const T *restrict p2 = p1 + L * dp, *restrict p3 = p2 + L * dp;                                \
            T *restrict oi = o + 2 * i * nk;                                                               \
            for (long t = 0; t < nk; t++) {                                                                \
                oi[2 * t] = s0[2 * t] * p0[t] + s1[2 * t] * p1[t] + s2[2 * t] * p2[t] + s3[2 * t] * p3[t]; \
                oi[2 * t + 1] = s0[2 * t + 1] * p0[t] + s1[2 * t + 1] * p1[t] + s2[2 * t + 1] * p2[t]      \
                              + s3[2 * t + 1] * p3[t];                                                     \
            }                                                                                              \
        }                                                                                                  \
        return;                                                                                            \
    }                                                                                                      \
    for (long b = 0; b < k * k; b++) {                                                                     \
        const T *p = psi_l + b * L * dp, *sb = src + 2 * ((b / k) * block_rows * n + (b % k) * nk);        \
        for (long i = i0; i < i1; i++)                                                                     \
            row_product_##S(o + 2 * i * nk, sb + 2 * (i - ibase) * n, p + i * nk, nk, b > 0);              \
    }                                                                                                      \
}                                                                                                          \
                                                                                                           \
/* out[r, l] = sum over the k x k alias blocks b of u[r]'s block b times psi[b, l]: every filter applied   \
 * to every spectrum, then periodised by k. u: (rows, m, n) complex, out: (rows, L, m/k, n/k) complex.     \
 * A band of `tile` output rows at a time, every spectrum and filter for it: the band's filter rows stay   \
 * in cache across spectra (the whole bank is 2.2 MB at 256 x 256, over a core's cache). */                \
int filtered_##S(const T *u, const T *psi, T *out, long rows, long L, long k, long m, long n,              \
                 long tile, int threads) {                                                                 \
    const long mk = m / k, nk = n / k, dp = mk * nk, bands = (mk + tile - 1) / tile;                       \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(threads)")                          \
    for (long band = 0; band < bands; band++)                                                              \
        for (long r = 0; r < rows; r++) {                                                                  \
            const long i0 = band * tile, i1 = i0 + tile < mk ? i0 + tile : mk;                             \
            for (long l = 0; l < L; l++)                                                                   \
                filter_rows_##S(u + 2 * r * m * n, mk, 0, psi + l * dp, L, dp, out + 2 * (r * L + l) * dp, \
                                k, n, nk, i0, i1);                                                         \
        }                                                                                                  \
    return DONE;                                                                                           \
}                                                                                                          \
                                                                                                           \
/* filtered for two real maps a, b per spectrum u = fft2(a + i b) (ops.filtered_pairs): a's spectrum is    \
 * (u(w) + conj u(-w)) / 2, b's (u(w) - conj u(-w)) / 2i; a band's rows of both are made first, in a       \
 * buffer, then filtered as filtered does. out: (2 rows, L, m/k, n/k), a's outputs then b's. */            \
int filtered_pairs_##S(const T *u, const T *psi, T *out, long rows, long L, long k, long m, long n,        \
                       long tile, int threads) {                                                           \
    const long mk = m / k, nk = n / k, dp = mk * nk, bands = (mk + tile - 1) / tile;                       \
    int failed = DONE;                                                                                     \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(threads) reduction(|: failed)")     \
    for (long band = 0; band < bands; band++)                                                              \
        for (long r = 0; r < rows; r++) {                                                                  \
            const long i0 = band * tile, i1 = i0 + tile < mk ? i0 + tile : mk, h = i1 - i0;                \
            T *a = malloc(sizeof(T) * 4 * k * h * n), *b;                                                  \
            if (a == NULL) {  /* a few tens of kB */                                                       \
                failed |= NO_MEMORY;                                                                       \
                continue;                                                                                  \
            }                                                                                              \
            b = a + 2 * k * h * n;                                                                         \
            for (long bi = 0; bi < k; bi++)                                                                \
                for (long i = i0; i < i1; i++) {                                                           \
                    const long row = bi * mk + i, at = 2 * (bi * h + i - i0) * n;                          \
                    separated_row_##S(u + 2 * r * m * n, m, n, row, 0, a + at);                            \
                    separated_row_##S(u + 2 * r * m * n, m, n, row, 1, b + at);                            \
                }                                                                                          \
            for (long l = 0; l < L; l++) {                                                                 \
                filter_rows_##S(a, h, i0, psi + l * dp, L, dp, out + 2 * (2 * r * L + l) * dp, k, n, nk,   \
                                i0, i1);                                                                   \
                filter_rows_##S(b, h, i0, psi + l * dp, L, dp, out + 2 * ((2 * r + 1) * L + l) * dp, k, n, \
                                nk, i0, i1);                                                               \
            }                                                                                              \
            free(a);                                                                                       \
        }                                                                                                  \
    return failed;                                                                                         \
}                                                                                                          \
                                                                                                           \
/* The adjoint of filtered: u's block b = sum over the filters l of g[r, l] times psi[b, l].               \
 * g: (rows, L, mk, nk) complex, out: (rows, mk k, nk k) complex. Banded as filtered. */                   \
int filtered_adjoint_##S(const T *g, const T *psi, T *out, long rows, long L, long k, long mk, long nk,    \
                         long tile, int threads) {                                                         \
    const long n = nk * k, w = 2 * nk, d = mk * w, dp = mk * nk, bands = (mk + tile - 1) / tile;           \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(threads)")                          \
    for (long band = 0; band < bands; band++)                                                              \
        for (long r = 0; r < rows; r++) {                                                                  \
            const long i0 = band * tile, i1 = i0 + tile < mk ? i0 + tile : mk;                             \
            for (long b = 0; b < k * k; b++) {                                                             \
                T *dst = out + 2 * (r * mk * k * n + (b / k) * mk * n + (b % k) * nk);                     \
                for (long l = 0; l < L; l++) {                                                             \
                    const T *gl = g + (r * L + l) * d, *p = psi + (b * L + l) * dp;                        \
                    for (long i = i0; i < i1; i++)                                                         \
                        row_product_##S(dst + 2 * i * n, gl + i * w, p + i * nk, nk, l > 0);               \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    return DONE;                                                                                           \
}                                                                                                          \
                                                                                                           \
/* The averaging of real maps where its kernel fits a band (ops.lowpass_band): out[c, p, q] = the sum over \
 * |s|, |t| <= R of a[s] b[t] x[c, k(p+1) - s, k(q+1) - t], indices modulo the sides m, n; a, b hold taps  \
 * -R..R (R < m, n). Per output row: the column taps over whole input rows, a strip of STRIP columns at a  \
 * time summed in registers (2-4x the speed of a pass per tap, measured; an integer modulo per tap had     \
 * cost as much again); per map in the row, a row with R wrapped values each side, split into its k        \
 * phases; then each row tap over one phase, contiguous. x: (count / ch, m, n, ch), ch maps interleaved    \
 * (ch = 2: a pair as modulus_pairs lays it out, map 2i the real parts), out: (count, P, Q). */            \
int lowpass_band_##S(const T *x, const T *a, const T *b, T *out, long count, long m, long n, long k,       \
                     long R, long P, long Q, long ch, int threads) {                                       \
    const long ext = n + 2 * R, plen = (ext + k - 1) / k, w = ch * n;                                      \
    int failed = DONE;                                                                                     \
    _Pragma("omp parallel num_threads(threads) reduction(|: failed)")                                      \
    {                                                                                                      \
        T *full = malloc(sizeof(T) * (w + ext + k * plen)), *row = full + w, *phases = row + ext;          \
        if (full == NULL) failed = NO_MEMORY;  /* a few kB; the thread still meets the omp for */          \
        _Pragma("omp for collapse(2) schedule(static)")                                                    \
        for (long c = 0; c < count / ch; c++)                                                              \
            for (long p = 0; p < P; p++) {                                                                 \
                if (full == NULL) continue;                                                                \
                for (long j0 = 0; j0 < w; j0 += STRIP) {                                                   \
                    const long width = w - j0 < STRIP ? w - j0 : STRIP;                                    \
                    T acc[STRIP] = {0};                                                                    \
                    for (long s = -R, i = k * (p + 1) + R; s <= R; s++, i--) {                             \
                        const T *restrict xi = x + (c * m + (i < 0 ? i + m : i >= m ? i - m : i)) * w + j0; \
                        const T as = a[s + R];                                                             \
                        if (width == STRIP)  /* a constant trip count keeps acc in registers */            \
                            for (long j = 0; j < STRIP; j++) acc[j] += as * xi[j];                         \
                        else                                                                               \
                            for (long j = 0; j < width; j++) acc[j] += as * xi[j];                         \
                    }                                                                                      \
                    for (long j = 0; j < width; j++) full[j0 + j] = acc[j];                                \
                }                                                                                          \
                for (long h = 0; h < ch; h++) {                                                            \
                    T *restrict r = row + R;  /* r[j], j in [-R, n + R) */                                 \
                    for (long j = 0; j < n; j++) r[j] = full[j * ch + h];                                  \
                    for (long j = 1; j <= R; j++) r[-j] = r[n - j], r[n - 1 + j] = r[j - 1];               \
                    for (long u = 0; u < plen; u++)                                                        \
                        for (long ph = 0; ph < k; ph++)                                                    \
                            phases[ph * plen + u] = k * u + ph < ext ? row[k * u + ph] : 0;                \
                    T *restrict o = out + ((c * ch + h) * P + p) * Q;                                      \
                    for (long q = 0; q < Q; q++) o[q] = 0;                                                 \
                    for (long t = -R; t <= R; t++) {                                                       \
                        const long base = k - t + R;  /* column k(q+1) - t is row[k q + base] */           \
                        const T bt = b[t + R], *restrict src = phases + (base % k) * plen + base / k;      \
                        for (long q = 0; q < Q; q++) o[q] += bt * src[q];                                  \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
        free(full);                                                                                        \
    }                                                                                                      \
    return failed;                                                                                         \
}                                                                                                          \
                                                                                                           \
/* z = the inverse FFT of filter l of psi (k x k alias blocks of L filters, each mk x nk) applied to the whole \
 * spectrum src (mk k rows of n values), periodised by k: one wavelet, with this thread's descriptor h. */ \
static inline void wavelet_##S(dfti_handle h, const T *src, const T *psi, long l, long L, long k, long mk, long n, \
                               T *z) {                                                                     \
    const long nk = n / k;                                                                                 \
    filter_rows_##S(src, mk, 0, psi + l * mk * nk, L, mk * nk, z, k, n, nk, 0, mk);                        \
    dfti_backward(h, z);                                                                                   \
}                                                                                                          \
                                                                                                           \
/* Map `map`'s spectrum: u's own, or with pairs one of its pair's two maps, separated into sep, once for as many \
 * of that map's filters as the thread takes in a row (*held: which map sep holds). */                     \
static inline const T *map_spectrum_##S(const T *u, long map, long m, long n, long pairs, T *sep, long *held) { \
    if (!pairs) return u + 2 * map * m * n;                                                                \
    if (*held != map)                                                                                      \
        for (long row = 0; row < m; row++)                                                                 \
            separated_row_##S(u + 2 * (map / 2) * m * n, m, n, row, map % 2, sep + 2 * row * n);           \
    *held = map;                                                                                           \
    return sep;                                                                                            \
}                                                                                                          \
                                                                                                           \
/* |ifft2(filtered(u, psi, k))| (g NULL), or its adjoint at u for the gradient g of that: per map, each    \
 * filter's filtering and inverse FFT in one buffer in the thread's cache (ops.filtered and torch.fft write and \
 * read the whole batch's spectra between steps), then either its modulus, written out, or it times g / |z| \
 * (the modulus' adjoint, as times_phase), its FFT, and the filtering's adjoint summed into the map's gradient \
 * (as filtered_adjoint, the filters in order). pairs: u holds two real maps a spectrum (filtered_pairs),  \
 * separated first. u: (rows, m, n) complex; out: (maps, L, m/k, n/k) real, or with g (the same shape) the \
 * gradient w.r.t. each map's own spectrum, (maps, m, n) complex; maps = rows, or with pairs 2 rows.       \
 * 0, or 1 where MKL made no descriptor. */                                                                \
int wavelet_modulus_##S(const T *u, const T *psi, const T *g, T *out, long rows, long L, long k, long m, long n, \
                        long pairs, int threads) {                                                         \
    const long mk = m / k, nk = n / k, dp = mk * nk, maps = pairs ? 2 * rows : rows;                       \
    int failed = DONE;                                                                                     \
    _Pragma("omp parallel num_threads(threads) reduction(|: failed)")                                      \
    {                                                                                                      \
        T *z = malloc(sizeof(T) * 2 * dp), *sep = pairs ? malloc(sizeof(T) * 2 * m * n) : NULL;            \
        const int no_memory = z == NULL || (pairs && sep == NULL);  /* a map or two */                     \
        const dfti_handle h = no_memory ? NULL : dfti_plan(mk, nk, sizeof(T) == sizeof(double));           \
        failed = no_memory ? NO_MEMORY : h == NULL ? NO_FFT_DESCRIPTOR : DONE;                             \
        long held = -1;  /* the map whose spectrum sep holds */                                            \
        if (g == NULL) {  /* every (map, filter) a task of its own: work for many threads */               \
            _Pragma("omp for collapse(2) schedule(static)")                                                \
            for (long map = 0; map < maps; map++)                                                          \
                for (long l = 0; l < L; l++) {                                                             \
                    if (h == NULL) continue;                                                               \
                    wavelet_##S(h, map_spectrum_##S(u, map, m, n, pairs, sep, &held), psi, l, L, k, mk, n, z); \
                    T *restrict o = out + (map * L + l) * dp;                                              \
                    for (long i = 0; i < dp; i++) o[i] = modulus_of_##S(z + 2 * i);                        \
                }                                                                                          \
        } else {  /* a map a task: its filters' adjoints sum into its gradient */                          \
            _Pragma("omp for schedule(static)")                                                            \
            for (long map = 0; map < maps; map++) {                                                        \
                if (h == NULL) continue;                                                                   \
                const T *src = map_spectrum_##S(u, map, m, n, pairs, sep, &held);                          \
                for (long l = 0; l < L; l++) {                                                             \
                    const T *restrict gl = g + (map * L + l) * dp;                                         \
                    wavelet_##S(h, src, psi, l, L, k, mk, n, z);                                           \
                    for (long i = 0; i < dp; i++) {                                                        \
                        const T q = gl[i] / modulus_of_##S(z + 2 * i);                                     \
                        z[2 * i] *= q;                                                                     \
                        z[2 * i + 1] *= q;                                                                 \
                    }                                                                                      \
                    dfti_forward(h, z);                                                                    \
                    for (long b = 0; b < k * k; b++) {                                                     \
                        T *dst = out + 2 * (map * m * n + (b / k) * mk * n + (b % k) * nk);                \
                        const T *p = psi + (b * L + l) * dp;                                               \
                        for (long i = 0; i < mk; i++)                                                      \
                            row_product_##S(dst + 2 * i * n, z + 2 * i * nk, p + i * nk, nk, l > 0);       \
                    }                                                                                      \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
        free(z), free(sep);                                                                                \
    }                                                                                                      \
    return failed;                                                                                         \
}                                                                                                          \
                                                                                                           \
/* ops.first_order of u's wavelets: per map and pair of filters (2q, 2q + 1), both filterings and inverse  \
 * FFTs in the thread's cache, their moduli written as one complex map (as modulus_pairs lays it out) into \
 * maps and into spectra, whose FFT it then takes in place. u: (rows, m, n) complex, maps and spectra:     \
 * (rows, L / 2, m/k, n/k) complex. 0, or 1 where MKL made no descriptor. */                               \
int first_order_##S(const T *u, const T *psi, T *maps, T *spectra, long rows, long L, long k, long m,      \
                    long n, int threads) {                                                                 \
    const long mk = m / k, nk = n / k, dp = mk * nk, pairs = rows * (L / 2);                               \
    int failed = DONE;                                                                                     \
    _Pragma("omp parallel num_threads(threads) reduction(|: failed)")                                      \
    {                                                                                                      \
        T *za = malloc(sizeof(T) * 4 * dp), *zb = za + 2 * dp;                                             \
        const dfti_handle h = za == NULL ? NULL : dfti_plan(mk, nk, sizeof(T) == sizeof(double));          \
        failed = za == NULL ? NO_MEMORY : h == NULL ? NO_FFT_DESCRIPTOR : DONE;                            \
        _Pragma("omp for schedule(static)")                                                                \
        for (long pair = 0; pair < pairs; pair++) {                                                        \
            if (h == NULL) continue;                                                                       \
            const long l = 2 * (pair % (L / 2));                                                           \
            const T *src = u + 2 * (pair / (L / 2)) * m * n;                                               \
            T *restrict mo = maps + 2 * pair * dp, *restrict so = spectra + 2 * pair * dp;                 \
            wavelet_##S(h, src, psi, l, L, k, mk, n, za);                                                  \
            wavelet_##S(h, src, psi, l + 1, L, k, mk, n, zb);                                              \
            for (long i = 0; i < dp; i++) {                                                                \
                mo[2 * i] = so[2 * i] = modulus_of_##S(za + 2 * i);                                        \
                mo[2 * i + 1] = so[2 * i + 1] = modulus_of_##S(zb + 2 * i);                                \
            }                                                                                              \
            dfti_forward(h, so);                                                                           \
        }                                                                                                  \
        free(za);                                                                                          \
    }                                                                                                      \
    return failed;                                                                                         \
}                                                                                                          \
                                                                                                           \
/* out[i] = |z[i]| = sqrt(re^2 + im^2) (kymatio's modulus). */                                             \
int modulus_##S(const T *z, T *out, long count, int threads) {                                             \
    _Pragma("omp parallel for schedule(static) num_threads(threads)")                                      \
    for (long i = 0; i < count; i++) out[i] = modulus_of_##S(z + 2 * i);                                   \
    return DONE;                                                                                           \
}                                                                                                          \
                                                                                                           \
/* The modulus of maps 2q and 2q + 1 of z (each `size` complex values) as one map of pairs: out[q, i] =    \
 * (|z[2q, i]|, |z[2q + 1, i]|), the layout whose complex view is the pair's a + i b (ops.pair_spectra),   \
 * without a copy after the modulus. */                                                                    \
int modulus_pairs_##S(const T *z, T *out, long pairs, long size, int threads) {                            \
    _Pragma("omp parallel for collapse(2) schedule(static) num_threads(threads)")                          \
    for (long q = 0; q < pairs; q++)                                                                       \
        for (long i = 0; i < size; i++) {                                                                  \
            const T *za = z + 2 * (2 * q * size + i), *zb = za + 2 * size;                                 \
            out[2 * (q * size + i)] = modulus_of_##S(za);                                                  \
            out[2 * (q * size + i) + 1] = modulus_of_##S(zb);                                              \
        }                                                                                                  \
    return DONE;                                                                                           \
}                                                                                                          \
                                                                                                           \
/* z[i] *= g[i] / |z[i]| in place: the modulus' adjoint (g z / |z|), z complex, g real; |z| recomputed as  \
 * modulus does it (cheaper than reading it back). */                                                      \
int times_phase_##S(T *z, const T *g, long count, int threads) {                                           \
    _Pragma("omp parallel for schedule(static) num_threads(threads)")                                      \
    for (long i = 0; i < count; i++) {                                                                     \
        const T q = g[i] / modulus_of_##S(z + 2 * i);                                                      \
        z[2 * i] *= q;                                                                                     \
        z[2 * i + 1] *= q;                                                                                 \
    }                                                                                                      \
    return DONE;                                                                                           \
}

SCATNET_KERNELS(float, f32, sqrtf)
SCATNET_KERNELS(double, f64, sqrt)
