package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.concurrent.ForkJoinPool;

/**
 * DoRA norms of {@code V = W + dW} computed from the factors, without building {@code dW} or any
 * {@code out x in} temporary. On the output axis one pass over the frozen {@code W} in forward serves
 * both the norms and their gradient; on the input axis the gradient through the norm takes one more
 * pass in backward (none when the norm is detached).
 *
 * <p>With {@code dW[(p,q),(k,l)] = s * M[p,q] * w1[p,k] * w2[q,l]} ({@code M} the rank-dropout row
 * mask, 1 without dropout), the pass sums the squares of {@code V = W + dW} as it reads {@code W}, each value
 * formed on the fly from {@code W}'s and the factors' (no {@code dW} is stored). It does not expand
 * {@code ||V||^2 = ||W||^2 + 2 <W, dW> + ||dW||^2}: where {@code dW} nearly cancels {@code W} that sum loses
 * {@code (||W|| / ||V||)^2} relative digits (in float lanes, a norm 1000 times below {@code ||W||} came out 10%
 * off). The gradient needs these sums of the pass:
 * <ul>
 *   <li>output axis, row {@code i = (p, q)}: {@code <W_i, dW_i> = s M_i sum_k A[p,q,k] w1[p,k]},
 *       {@code ||dW_i||^2 = s^2 M_i^2 ||w1[p]||^2 ||w2[q]||^2}, {@code A[p,q,k] = sum_l W[(p,q),(k,l)] w2[q,l]};</li>
 *   <li>input axis, column {@code j = (k, l)}: {@code <W_j, dW_j> = s sum_q C[q,k,l] w2[q,l]},
 *       {@code ||dW_j||^2 = s^2 sum_{p,q} M^2 w1[p,k]^2 w2[q,l]^2}, {@code C[q,k,l] = sum_p M[p,q] W[(p,q),(k,l)] w1[p,k]}.</li>
 * </ul>
 * Given {@code g_u = (dL/dn_u) / n_u}, the gradient through the norms is
 * {@code dw1[p,k] = s sum_q g M A + s^2 w1[p,k] sum_q g M^2 ||w2[q]||^2},
 * {@code dw2[q,l] = s H[q,l] + s^2 w2[q,l] sum_p g M^2 ||w1[p]||^2} with
 * {@code H[q,l] = sum_{p,k} g_pq M_pq w1[p,k] W[(p,q),(k,l)] = sum_p g_pq M_pq V[(p,q),l]} (output
 * axis), where the forward pass also keeps {@code V[(p,q),l] = sum_k w1[p,k] W[(p,q),(k,l)]}
 * ({@code out x d} values) because {@code g} is only known in backward; symmetrically on the input
 * axis. The passes over {@code W} run in chunks of rows on the calling thread, helped by idle threads of
 * the common fork-join pool ({@link CallerRuns}: a busy pool slows a pass down but never holds it up). Dense
 * weights only ({@code kh = kw = 1}).
 *
 * <p>On the output axis, a FLOAT weight with contiguous rows and FLOAT factors goes through the SIMD row
 * kernel {@link VectorRows} when {@link SimdSupport#ENABLED}, which reads each row in place from the
 * weight's buffer; everything else through the scalar {@code outputRow} loops on a heap copy of each row,
 * which sum in double; the two agree to float precision. A row whose float squares overflow (values beyond
 * about 1.8e19, where the norm is still finite) is summed again by the scalar loops. At 4096x4096 float32 on one AVX-512 core the SIMD
 * pass took about 7 ms, about what reading the 64 MB of {@code W} takes there ({@code DoraPassBenchmark}
 * times it on two).
 */
final class DoraNorms {

    private final LokrLayout layout;
    private final boolean outAxis;
    private final double[] w1;
    private final double[] w2;
    private final double[] mask;
    private final double s;
    /** Float copies of w1 and w2 for the SIMD row kernel, or null when it is not used. */
    private final float[] w1f;
    private final float[] w2f;
    private final double[] first;   // A [a*b*c] (out) or C [b*c*d] (in)
    private final double[] inner;   // <W, kron> per unit, with mask
    private final double[] kk;      // ||kron||^2 per unit, with mask^2
    private final double[] norm;
    /** Output axis with a gradient: {@code V[i, l] = sum_k w1[p,k] W[(p,q),(k,l)]} ({@code [out*d]}), else null. */
    private double[] rowProducts;

    private DoraNorms(LokrLayout layout, double[] w1, double[] w2, double[] mask, double s, boolean simd) {
        this.layout = layout;
        this.w1f = simd ? narrow(w1) : null;
        this.w2f = simd ? narrow(w2) : null;
        this.outAxis = layout.doraAxis() == DoraAxis.OUTPUT;
        this.w1 = w1;
        this.w2 = w2;
        this.mask = mask;
        this.s = s;
        int units = outAxis ? layout.outDim() : layout.inDim();
        this.first = new double[outAxis ? layout.outDim() * layout.c() : layout.b() * layout.inDim()];
        this.inner = new double[units];
        this.kk = new double[units];
        this.norm = new double[units];
    }

    /**
     * One pass over {@code weight}: the norms and, when {@code withGradient}, everything their gradient
     * needs, so that on the output axis {@link #backward} reads {@code W} no more.
     *
     * @param layout       dense layout with DoRA
     * @param weight       {@code [out, in]}, any strides (a transposed view is fine), not modified
     * @param w1           full {@code w1 [a, c]}, not modified
     * @param w2           full {@code w2 [b, d]}, not modified
     * @param rowMask      {@code [out]} or null, not modified
     * @param s            the coefficient of {@code kron} in {@code dW}
     * @param withGradient whether {@link #backward} will be called
     * @return the norms and what their gradient needs
     */
    static DoraNorms compute(LokrLayout layout, INDArray weight, INDArray w1, INDArray w2, INDArray rowMask, double s,
                             boolean withGradient) {
        return compute(layout, weight, w1, w2, rowMask, s, withGradient, SimdSupport.ENABLED);
    }

    /** {@link #compute} with the SIMD row kernel allowed or not ({@code simd}); for tests of both. */
    static DoraNorms compute(LokrLayout layout, INDArray weight, INDArray w1, INDArray w2, INDArray rowMask, double s,
                             boolean withGradient, boolean simd) {
        return prepare(layout, weight, w1, w2, rowMask, s, simd).pass(weight, withGradient);
    }

    /**
     * The ND4J part of {@link #compute}: checks the weight and copies the small factors to the heap. Call it
     * on the thread that owns the arrays; {@link #pass} then reads only {@code weight}'s buffer, from any
     * thread.
     */
    static DoraNorms prepare(LokrLayout layout, INDArray weight, INDArray w1, INDArray w2, INDArray rowMask,
                             double s) {
        return prepare(layout, weight, w1, w2, rowMask, s, SimdSupport.ENABLED);
    }

    /**
     * {@link #prepare} with the SIMD row kernel allowed or not. It runs only where this JVM can
     * ({@link SimdSupport#ENABLED}), on the output axis, for a FLOAT weight with contiguous rows and FLOAT
     * factors: a float model gets float-precision norms, a double model keeps the double loops.
     */
    static DoraNorms prepare(LokrLayout layout, INDArray weight, INDArray w1, INDArray w2, INDArray rowMask,
                             double s, boolean simd) {
        if (weight.dataType() != DataType.FLOAT && weight.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException("base weight must be FLOAT or DOUBLE, got " + weight.dataType());
        }
        double[] m = rowMask == null ? null : HostArrays.toDoubles(rowMask);
        boolean useSimd = simd && SimdSupport.ENABLED && layout.doraAxis() == DoraAxis.OUTPUT
                && weight.dataType() == DataType.FLOAT && weight.stride(1) == 1
                && w1.dataType() == DataType.FLOAT && w2.dataType() == DataType.FLOAT;
        return new DoraNorms(layout, HostArrays.toDoubles(w1), HostArrays.toDoubles(w2), m, s, useSimd);
    }

    /**
     * The pass over {@code weight} of {@link #compute}, after {@link #prepare}; call it once.
     *
     * @return this
     */
    DoraNorms pass(INDArray weight, boolean withGradient) {
        if (outAxis) {
            outputPass(weight, withGradient);
        } else {
            inputPass(weight);
        }
        finish();
        return this;
    }

    /** @return the norms {@code ||V||} per unit ({@code [out]} or {@code [in]}); the live array */
    double[] norms() {
        return norm;
    }

    private double maskAt(int i) {
        return mask == null ? 1.0 : mask[i];
    }

    /**
     * Visits one row {@code (p, q)} of W (values in {@code w}) and adds into {@code acc}, the calling worker's
     * accumulator (a caller that ignores {@link #rowPass}'s sum may use it as per-worker scratch).
     */
    private interface RowTask {
        void row(int p, int q, double[] w, double[] acc);

        /**
         * The same row of a FLOAT weight read without widening ({@code w}); {@code wide} is scratch of the
         * same length. By default widens into {@code wide} and calls {@link #row(int, int, double[], double[])}.
         */
        default void row(int p, int q, float[] w, double[] wide, double[] acc) {
            for (int j = 0; j < w.length; j++) {
                wide[j] = w[j];
            }
            row(p, q, wide, acc);
        }

        /**
         * The same row of a FLOAT weight left in its buffer for the SIMD kernel: {@code bytes} in native order,
         * the row's values contiguous from byte {@code from}; {@code narrow} is float scratch of {@code d}
         * values. Called only when the SIMD kernel runs ({@code w1f != null}), which is on the output axis.
         */
        default void row(int p, int q, ByteBuffer bytes, int from, float[] narrow, double[] acc) {
            throw new IllegalStateException("this pass has no in-place SIMD row");
        }
    }

    /**
     * Runs {@code task} over every row of {@code weight} in parallel chunks and sums the per-chunk
     * accumulators of {@code accSize} doubles; with {@code accSize == 0} the task gets a null
     * accumulator, must write only its own row's slots, and null is returned.
     */
    private double[] rowPass(INDArray weight, int accSize, RowTask task) {
        int out = layout.outDim();
        int in = layout.inDim();
        int b = layout.b();
        long s0 = weight.stride(0);
        long s1 = weight.stride(1);
        boolean isFloat = weight.dataType() == DataType.FLOAT;
        // the SIMD kernel reads rows in place; the scalar loops read a heap copy of each row
        ByteBuffer bytes = w1f != null && isFloat && s1 == 1 ? HostArrays.bytes(weight) : null;
        FloatBuffer fb = isFloat && bytes == null ? HostArrays.floats(weight) : null;
        DoubleBuffer db = isFloat ? null : HostArrays.doubles(weight);
        // floats()/doubles() slice at the array's offset: indices below are relative to it
        int chunks = Math.max(1, Math.min(Math.min(out, 8), ForkJoinPool.getCommonPoolParallelism() + 1));
        double[][] partial = new double[chunks][];
        CallerRuns.chunks(chunks, t -> {
            double[] acc = accSize == 0 ? null : new double[accSize];
            double[] w = bytes != null ? null : new double[in];   // the SIMD kernel reads the buffer itself
            float[] fl = fb != null && s1 == 1 ? new float[in] : null;
            float[] narrow = bytes == null ? null : new float[layout.d()];
            int from = (int) ((long) out * t / chunks);
            int to = (int) ((long) out * (t + 1) / chunks);
            for (int i = from; i < to; i++) {
                long rowBase = i * s0;
                if (bytes != null) {
                    task.row(i / b, i % b, bytes, Math.toIntExact(rowBase * Float.BYTES), narrow, acc);
                    continue;
                }
                if (fl != null) {
                    fb.get((int) rowBase, fl);
                    task.row(i / b, i % b, fl, w, acc);
                    continue;
                }
                if (!isFloat && s1 == 1) {
                    db.get((int) rowBase, w);
                } else {
                    for (int j = 0; j < in; j++) {
                        long idx = rowBase + j * s1;
                        w[j] = isFloat ? fb.get((int) idx) : db.get((int) idx);
                    }
                }
                task.row(i / b, i % b, w, acc);
            }
            partial[t] = acc;
        });
        double[] sum = partial[0];
        for (int t = 1; t < partial.length && sum != null; t++) {
            for (int k = 0; k < accSize; k++) {
                sum[k] += partial[t][k];
            }
        }
        return sum;
    }

    /** Output axis: the fused row kernel over every row; rows are disjoint between workers. */
    private void outputPass(INDArray weight, boolean withGradient) {
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        // V comes out of the fused loop anyway; without a gradient it goes to the worker's accumulator,
        // used as scratch and discarded
        double[] v = withGradient ? new double[layout.outDim() * d] : null;
        this.rowProducts = v;
        rowPass(weight, withGradient ? 0 : d, new RowTask() {
            @Override
            public void row(int p, int q, double[] w, double[] scratch) {
                int i = p * b + q;
                norm[i] = outputRow(w, c, d, w1, p * c, w2, q * d, first, i * c, v == null ? scratch : v,
                        v == null ? 0 : i * d, s * maskAt(i));
            }

            @Override
            public void row(int p, int q, float[] w, double[] wide, double[] scratch) {
                int i = p * b + q;
                norm[i] = outputRow(w, c, d, w1, p * c, w2, q * d, first, i * c, v == null ? scratch : v,
                        v == null ? 0 : i * d, s * maskAt(i));
            }

            @Override
            public void row(int p, int q, ByteBuffer bytes, int from, float[] narrow, double[] scratch) {
                int i = p * b + q;
                norm[i] = VectorRows.outputRow(bytes, from, c, d, w1f, p * c, w2f, q * d, first, i * c,
                        v == null ? scratch : v, v == null ? 0 : i * d, narrow, s * maskAt(i));
                if (Double.isInfinite(norm[i])) {
                    // float squares overflow beyond |W + dW| of about 1.8e19 where the norm is finite: this row
                    // again through the double loops of the float row (they overwrite what the kernel wrote)
                    float[] row = new float[c * d];
                    bytes.duplicate().order(bytes.order()).position(from).slice().order(bytes.order())
                            .asFloatBuffer().get(row);
                    row(p, q, row, null, scratch);
                }
            }
        });
    }

    private void inputPass(INDArray weight) {
        int in = layout.inDim();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        double[] acc = rowPass(weight, in + b * in, (p, q, w, a) -> {
            double mi = maskAt(p * b + q);
            if (mi == 0) {
                for (int j = 0; j < in; j++) {
                    a[j] += w[j] * w[j];
                }
                return;
            }
            for (int k = 0; k < c; k++) {
                double coef = w1[p * c + k] * mi;
                double e = s * coef;   // dW[(p,q),(k,l)] = e * w2[q,l]
                int base = in + (q * c + k) * d;
                int col = k * d;
                for (int l = 0; l < d; l++) {
                    double m = w[col + l];
                    double t = m + e * w2[q * d + l];
                    a[col + l] += t * t;
                    a[base + l] += m * coef;
                }
            }
        });
        System.arraycopy(acc, 0, norm, 0, in);
        System.arraycopy(acc, in, first, 0, first.length);
    }

    /** norm currently holds ||W + dW||^2 per unit; computes the sums the gradient needs and takes the root. */
    private void finish() {
        int a = layout.a();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        if (outAxis) {
            double[] w1sq = rowSquares(w1, a, c);
            double[] w2sq = rowSquares(w2, b, d);
            for (int p = 0; p < a; p++) {
                for (int q = 0; q < b; q++) {
                    int i = p * b + q;
                    double mi = maskAt(i);
                    double sum = 0;
                    for (int k = 0; k < c; k++) {
                        sum += first[i * c + k] * w1[p * c + k];
                    }
                    inner[i] = mi * sum;
                    kk[i] = mi * mi * w1sq[p] * w2sq[q];
                }
            }
        } else {
            // m2w2[p, j] = sum_q M^2[p,q] w2[q,l]^2 is folded into the loop
            for (int k = 0; k < c; k++) {
                for (int l = 0; l < d; l++) {
                    int j = k * d + l;
                    double sum = 0;
                    for (int q = 0; q < b; q++) {
                        sum += first[(q * c + k) * d + l] * w2[q * d + l];
                    }
                    inner[j] = sum;
                    double sq = 0;
                    for (int p = 0; p < a; p++) {
                        double w1v = w1[p * c + k];
                        for (int q = 0; q < b; q++) {
                            double mq = maskAt(p * b + q);
                            double w2v = w2[q * d + l];
                            sq += mq * mq * w1v * w1v * w2v * w2v;
                        }
                    }
                    kk[j] = sq;
                }
            }
        }
        for (int u = 0; u < norm.length; u++) {
            norm[u] = Math.sqrt(norm[u]);
        }
    }

    /**
     * One row {@code W_i} of the output-axis pass, {@code r} holding {@code c} blocks of {@code d}:
     * writes {@code A[k] = sum_l r[k,l] w2[w2o + l]} to {@code a[ao + k]} and
     * {@code V[l] = sum_k w1[w1o + k] r[k,l]} to {@code v[vo + l]} (both overwritten) and returns
     * {@code ||W_i + dW_i||^2 = sum_{k,l} (r[k,l] + rowScale w1[w1o + k] w2[w2o + l])^2} ({@code rowScale} the
     * coefficient of {@code kron} in this row: {@code s} times its mask). One sweep over the row, four {@code k} blocks at a time, so that every value is
     * loaded once and the sums run as independent add chains (a loop of {@code d} is too short for the
     * JIT to vectorize). The float twin reads a FLOAT weight's row without widening it first.
     */
    static double outputRow(double[] r, int c, int d, double[] w1, int w1o, double[] w2, int w2o, double[] a, int ao,
                            double[] v, int vo, double rowScale) {
        Arrays.fill(v, vo, vo + d, 0.0);
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int k = 0;
        for (; k + 3 < c; k += 4) {
            int o0 = k * d;
            int o1 = o0 + d;
            int o2 = o1 + d;
            int o3 = o2 + d;
            double c0 = w1[w1o + k];
            double c1 = w1[w1o + k + 1];
            double c2 = w1[w1o + k + 2];
            double c3 = w1[w1o + k + 3];
            double e0 = rowScale * c0;
            double e1 = rowScale * c1;
            double e2 = rowScale * c2;
            double e3 = rowScale * c3;
            double a0 = 0;
            double a1 = 0;
            double a2 = 0;
            double a3 = 0;
            for (int l = 0; l < d; l++) {
                double m0 = r[o0 + l];
                double m1 = r[o1 + l];
                double m2 = r[o2 + l];
                double m3 = r[o3 + l];
                double z = w2[w2o + l];
                a0 += m0 * z;
                a1 += m1 * z;
                a2 += m2 * z;
                a3 += m3 * z;
                double t0 = m0 + e0 * z;
                double t1 = m1 + e1 * z;
                double t2 = m2 + e2 * z;
                double t3 = m3 + e3 * z;
                s0 += t0 * t0;
                s1 += t1 * t1;
                s2 += t2 * t2;
                s3 += t3 * t3;
                v[vo + l] += (c0 * m0 + c1 * m1) + (c2 * m2 + c3 * m3);
            }
            a[ao + k] = a0;
            a[ao + k + 1] = a1;
            a[ao + k + 2] = a2;
            a[ao + k + 3] = a3;
        }
        for (; k < c; k++) {
            int o = k * d;
            double ck = w1[w1o + k];
            double ek = rowScale * ck;
            double ak = 0;
            for (int l = 0; l < d; l++) {
                double m = r[o + l];
                double z = w2[w2o + l];
                ak += m * z;
                double t = m + ek * z;
                s0 += t * t;
                v[vo + l] += ck * m;
            }
            a[ao + k] = ak;
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** {@link #outputRow(double[], int, int, double[], int, double[], int, double[], int, double[], int, double)} on a float row. */
    static double outputRow(float[] r, int c, int d, double[] w1, int w1o, double[] w2, int w2o, double[] a, int ao,
                            double[] v, int vo, double rowScale) {
        Arrays.fill(v, vo, vo + d, 0.0);
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int k = 0;
        for (; k + 3 < c; k += 4) {
            int o0 = k * d;
            int o1 = o0 + d;
            int o2 = o1 + d;
            int o3 = o2 + d;
            double c0 = w1[w1o + k];
            double c1 = w1[w1o + k + 1];
            double c2 = w1[w1o + k + 2];
            double c3 = w1[w1o + k + 3];
            double e0 = rowScale * c0;
            double e1 = rowScale * c1;
            double e2 = rowScale * c2;
            double e3 = rowScale * c3;
            double a0 = 0;
            double a1 = 0;
            double a2 = 0;
            double a3 = 0;
            for (int l = 0; l < d; l++) {
                double m0 = r[o0 + l];
                double m1 = r[o1 + l];
                double m2 = r[o2 + l];
                double m3 = r[o3 + l];
                double z = w2[w2o + l];
                a0 += m0 * z;
                a1 += m1 * z;
                a2 += m2 * z;
                a3 += m3 * z;
                double t0 = m0 + e0 * z;
                double t1 = m1 + e1 * z;
                double t2 = m2 + e2 * z;
                double t3 = m3 + e3 * z;
                s0 += t0 * t0;
                s1 += t1 * t1;
                s2 += t2 * t2;
                s3 += t3 * t3;
                v[vo + l] += (c0 * m0 + c1 * m1) + (c2 * m2 + c3 * m3);
            }
            a[ao + k] = a0;
            a[ao + k + 1] = a1;
            a[ao + k + 2] = a2;
            a[ao + k + 3] = a3;
        }
        for (; k < c; k++) {
            int o = k * d;
            double ck = w1[w1o + k];
            double ek = rowScale * ck;
            double ak = 0;
            for (int l = 0; l < d; l++) {
                double m = r[o + l];
                double z = w2[w2o + l];
                ak += m * z;
                double t = m + ek * z;
                s0 += t * t;
                v[vo + l] += ck * m;
            }
            a[ao + k] = ak;
        }
        return (s0 + s1) + (s2 + s3);
    }

    /**
     * {@code sum_t x[xo + t] * y[yo + t]} for {@code t < n}, with four independent partial sums so the
     * loop is not bound by the latency of one floating-point add chain.
     */
    static double dot(double[] x, int xo, double[] y, int yo, int n) {
        double s0 = 0;
        double s1 = 0;
        double s2 = 0;
        double s3 = 0;
        int t = 0;
        for (; t + 3 < n; t += 4) {
            s0 += x[xo + t] * y[yo + t];
            s1 += x[xo + t + 1] * y[yo + t + 1];
            s2 += x[xo + t + 2] * y[yo + t + 2];
            s3 += x[xo + t + 3] * y[yo + t + 3];
        }
        for (; t < n; t++) {
            s0 += x[xo + t] * y[yo + t];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /** {@code y[yo + t] += alpha * x[xo + t]} for {@code t < n}. */
    private static void axpy(double alpha, double[] x, int xo, double[] y, int yo, int n) {
        for (int t = 0; t < n; t++) {
            y[yo + t] += alpha * x[xo + t];
        }
    }

    private static float[] narrow(double[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) x[i];
        }
        return out;
    }

    private static double[] rowSquares(double[] m, int rows, int cols) {
        double[] out = new double[rows];
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int k = 0; k < cols; k++) {
                double v = m[r * cols + k];
                sum += v * v;
            }
            out[r] = sum;
        }
        return out;
    }

    /**
     * Gradients through the norms, given {@code g[u] = (dL/dn_u) / n_u}. On the output axis this reads
     * only what {@link #compute} kept; on the input axis it takes one more pass over W.
     *
     * @param weight the frozen weight used in {@link #compute}, not modified
     * @param g      per-unit coefficients, {@code [out]} or {@code [in]}
     * @return {@code {dW1 [a*c], dW2 [b*d], {dL/ds}}} as double arrays
     */
    double[][] backward(INDArray weight, double[] g) {
        int a = layout.a();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        double[] dW1 = new double[a * c];
        double[] dW2 = new double[b * d];
        double dS = 0;
        for (int u = 0; u < norm.length; u++) {
            dS += g[u] * (inner[u] + s * kk[u]);
        }
        if (outAxis) {
            if (rowProducts == null) {
                throw new IllegalStateException("DoRA norms were computed without a gradient");
            }
            // dw1[p,k] = s sum_q gM A[(p,q),k] + s^2 w1[p,k] e1[p] with e1[p] = sum_q g M^2 ||w2[q]||^2;
            // dw2[q,l] = s H[q,l] + s^2 w2[q,l] e2[q] with e2[q] = sum_p g M^2 ||w1[p]||^2
            double[] w1sq = rowSquares(w1, a, c);
            double[] w2sq = rowSquares(w2, b, d);
            double[] e1 = new double[a];
            double[] e2 = new double[b];
            for (int p = 0; p < a; p++) {
                for (int q = 0; q < b; q++) {
                    int i = p * b + q;
                    double mi = maskAt(i);
                    double gm = g[i] * mi;
                    e1[p] += gm * mi * w2sq[q];
                    e2[q] += gm * mi * w1sq[p];
                    if (gm != 0) {
                        axpy(s * gm, first, i * c, dW1, p * c, c);
                        axpy(s * gm, rowProducts, i * d, dW2, q * d, d);
                    }
                }
            }
            for (int p = 0; p < a; p++) {
                axpy(s * s * e1[p], w1, p * c, dW1, p * c, c);
            }
            for (int q = 0; q < b; q++) {
                axpy(s * s * e2[q], w2, q * d, dW2, q * d, d);
            }
        } else {
            // e2[q,k] = sum_l w2[q,l]^2 g[k,l]; e1[p,l] = sum_k w1[p,k]^2 g[k,l]
            double[] e2 = new double[b * c];
            double[] e1 = new double[a * d];
            for (int k = 0; k < c; k++) {
                for (int l = 0; l < d; l++) {
                    double hk = g[k * d + l];
                    if (hk == 0) {
                        continue;
                    }
                    for (int q = 0; q < b; q++) {
                        double w2v = w2[q * d + l];
                        e2[q * c + k] += w2v * w2v * hk;
                        dW2[q * d + l] += s * hk * first[(q * c + k) * d + l];
                    }
                    for (int p = 0; p < a; p++) {
                        double w1v = w1[p * c + k];
                        e1[p * d + l] += w1v * w1v * hk;
                    }
                }
            }
            for (int p = 0; p < a; p++) {
                for (int q = 0; q < b; q++) {
                    double m2 = maskAt(p * b + q);
                    m2 *= m2;
                    if (m2 == 0) {
                        continue;
                    }
                    for (int k = 0; k < c; k++) {
                        dW1[p * c + k] += s * s * w1[p * c + k] * m2 * e2[q * c + k];
                    }
                    for (int l = 0; l < d; l++) {
                        dW2[q * d + l] += s * s * w2[q * d + l] * m2 * e1[p * d + l];
                    }
                }
            }
            // E[p, k] = sum_{q,l} M_pq g[k,l] w2[q,l] W[(p,q),(k,l)]
            double[] e = rowPass(weight, a * c, (p, q, w, acc) -> {
                double mi = maskAt(p * b + q);
                if (mi == 0) {
                    return;
                }
                double[] gw2 = new double[d];
                for (int k = 0; k < c; k++) {
                    int col = k * d;
                    for (int l = 0; l < d; l++) {
                        gw2[l] = g[col + l] * w2[q * d + l];
                    }
                    acc[p * c + k] += mi * dot(gw2, 0, w, col, d);
                }
            });
            for (int i = 0; i < dW1.length; i++) {
                dW1[i] += s * e[i];
            }
        }
        return new double[][] {dW1, dW2, {dS}};
    }
}
