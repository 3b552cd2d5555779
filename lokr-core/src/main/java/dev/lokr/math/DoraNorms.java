package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;

/**
 * DoRA norms of {@code V = W + dW} computed from the factors, without building {@code dW} or any
 * {@code out x in} temporary: one pass over the frozen {@code W} per step, independent of the batch.
 *
 * <p>With {@code dW[(p,q),(k,l)] = s * M[p,q] * w1[p,k] * w2[q,l]} ({@code M} the rank-dropout row
 * mask, 1 without dropout):
 * <ul>
 *   <li>output axis, row {@code i = (p, q)}: {@code ||V_i||^2 = ||W_i||^2 + 2 s M_i sum_k A[p,q,k] w1[p,k]
 *       + s^2 M_i^2 ||w1[p]||^2 ||w2[q]||^2}, {@code A[p,q,k] = sum_l W[(p,q),(k,l)] w2[q,l]};</li>
 *   <li>input axis, column {@code j = (k, l)}: {@code ||V_j||^2 = ||W_j||^2 + 2 s sum_q C[q,k,l] w2[q,l]
 *       + s^2 sum_{p,q} M^2 w1[p,k]^2 w2[q,l]^2}, {@code C[q,k,l] = sum_p M[p,q] W[(p,q),(k,l)] w1[p,k]}.</li>
 * </ul>
 * The pass also keeps {@code B[p,q,l] = sum_k W w1[p,k]} (output axis) or
 * {@code D[p,k,l] = sum_q M W w2[q,l]} (input axis), which the gradient through the norm needs.
 * Dense weights only ({@code kh = kw = 1}).
 */
final class DoraNorms {

    private final LokrLayout layout;
    private final boolean outAxis;
    private final double[] w1;
    private final double[] w2;
    private final double[] mask;
    private final double s;
    private final double[] first;   // A (out) or C (in)
    private final double[] second;  // B (out) or D (in)
    private final double[] inner;   // <W, kron> per unit, with mask
    private final double[] kk;      // ||kron||^2 per unit, with mask^2
    private final double[] norm;

    private DoraNorms(LokrLayout layout, double[] w1, double[] w2, double[] mask, double s) {
        this.layout = layout;
        this.outAxis = layout.doraAxis() == DoraAxis.OUTPUT;
        this.w1 = w1;
        this.w2 = w2;
        this.mask = mask;
        this.s = s;
        int a = layout.a();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        this.first = new double[outAxis ? a * b * c : b * c * d];
        this.second = new double[outAxis ? a * b * d : a * c * d];
        int units = outAxis ? a * b : c * d;
        this.inner = new double[units];
        this.kk = new double[units];
        this.norm = new double[units];
    }

    /**
     * One pass over {@code weight}.
     *
     * @param layout  dense layout with DoRA
     * @param weight  {@code [out, in]}, any strides (a transposed view is fine), not modified
     * @param w1      full {@code w1 [a, c]}, not modified
     * @param w2      full {@code w2 [b, d]}, not modified
     * @param rowMask {@code [out]} or null, not modified
     * @param s       the coefficient of {@code kron} in {@code dW}
     * @return the norms and what their gradient needs
     */
    static DoraNorms compute(LokrLayout layout, INDArray weight, INDArray w1, INDArray w2, INDArray rowMask, double s) {
        double[] m = rowMask == null ? null : rowMask.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        DoraNorms n = new DoraNorms(layout, toDoubles(w1), toDoubles(w2), m, s);
        n.pass(weight);
        n.finish();
        return n;
    }

    private static double[] toDoubles(INDArray x) {
        return x.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    }

    /** @return the norms {@code ||V||} per unit ({@code [out]} or {@code [in]}), as a new array of {@code type} */
    INDArray norm(DataType type) {
        return Nd4j.create(norm, new long[] {norm.length}, DataType.DOUBLE).castTo(type);
    }

    private double maskAt(int i) {
        return mask == null ? 1.0 : mask[i];
    }

    private void pass(INDArray weight) {
        Nd4j.getAffinityManager().ensureLocation(weight, AffinityManager.Location.HOST);
        int a = layout.a();
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        long s0 = weight.stride(0);
        long s1 = weight.stride(1);
        long off = weight.offset();
        ByteBuffer bytes = weight.data().asNio().order(ByteOrder.nativeOrder());
        boolean isFloat = weight.dataType() == DataType.FLOAT;
        FloatBuffer fb = isFloat ? bytes.asFloatBuffer() : null;
        DoubleBuffer db = isFloat ? null : bytes.asDoubleBuffer();
        if (!isFloat && weight.dataType() != DataType.DOUBLE) {
            throw new IllegalArgumentException("base weight must be FLOAT or DOUBLE, got " + weight.dataType());
        }
        double[] wsq = new double[norm.length];
        boolean rowsOuter = s1 <= s0;
        if (rowsOuter) {
            for (int p = 0; p < a; p++) {
                for (int q = 0; q < b; q++) {
                    int i = p * b + q;
                    double mi = maskAt(i);
                    long rowBase = off + i * s0;
                    for (int k = 0; k < c; k++) {
                        for (int l = 0; l < d; l++) {
                            long idx = rowBase + (long) (k * d + l) * s1;
                            double w = isFloat ? fb.get((int) idx) : db.get((int) idx);
                            accumulate(w, p, q, k, l, i, k * d + l, mi, wsq);
                        }
                    }
                }
            }
        } else {
            for (int k = 0; k < c; k++) {
                for (int l = 0; l < d; l++) {
                    int j = k * d + l;
                    long colBase = off + j * s1;
                    for (int p = 0; p < a; p++) {
                        for (int q = 0; q < b; q++) {
                            int i = p * b + q;
                            long idx = colBase + (long) i * s0;
                            double w = isFloat ? fb.get((int) idx) : db.get((int) idx);
                            accumulate(w, p, q, k, l, i, j, maskAt(i), wsq);
                        }
                    }
                }
            }
        }
        System.arraycopy(wsq, 0, norm, 0, wsq.length);
    }

    private void accumulate(double w, int p, int q, int k, int l, int i, int j, double mi, double[] wsq) {
        int b = layout.b();
        int c = layout.c();
        int d = layout.d();
        if (outAxis) {
            wsq[i] += w * w;
            first[(p * b + q) * c + k] += w * w2[q * d + l];
            second[(p * b + q) * d + l] += w * w1[p * c + k];
        } else {
            wsq[j] += w * w;
            first[(q * c + k) * d + l] += w * w1[p * c + k] * mi;
            second[(p * c + k) * d + l] += w * w2[q * d + l] * mi;
        }
    }

    /** norm currently holds ||W||^2 per unit; adds the delta terms and takes the root. */
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
            norm[u] = Math.sqrt(Math.max(0.0, norm[u] + 2 * s * inner[u] + s * s * kk[u]));
        }
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
     * Gradients through the norms, given {@code g[u] = (dL/dn_u) / n_u}.
     *
     * @param g per-unit coefficients, {@code [out]} or {@code [in]}
     * @return {@code {dW1 [a*c], dW2 [b*d], {dL/ds}}} as double arrays
     */
    double[][] backward(double[] g) {
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
            double[] w1sq = rowSquares(w1, a, c);
            double[] w2sq = rowSquares(w2, b, d);
            for (int p = 0; p < a; p++) {
                for (int q = 0; q < b; q++) {
                    int i = p * b + q;
                    double mi = maskAt(i);
                    double gm = g[i] * mi;
                    double gm2 = g[i] * mi * mi;
                    if (gm == 0 && gm2 == 0) {
                        continue;
                    }
                    for (int k = 0; k < c; k++) {
                        dW1[p * c + k] += s * gm * first[i * c + k] + s * s * w1[p * c + k] * gm2 * w2sq[q];
                    }
                    for (int l = 0; l < d; l++) {
                        dW2[q * d + l] += s * gm * second[i * d + l] + s * s * w2[q * d + l] * gm2 * w1sq[p];
                    }
                }
            }
        } else {
            // e2[q,k] = sum_l w2[q,l]^2 g[k,l]; e1[p,l] = sum_k w1[p,k]^2 g[k,l]
            double[] e2 = new double[b * c];
            double[] e1 = new double[a * d];
            for (int k = 0; k < c; k++) {
                for (int l = 0; l < d; l++) {
                    double h = g[k * d + l];
                    if (h == 0) {
                        continue;
                    }
                    for (int q = 0; q < b; q++) {
                        double w2v = w2[q * d + l];
                        e2[q * c + k] += w2v * w2v * h;
                        dW2[q * d + l] += s * h * first[(q * c + k) * d + l];
                    }
                    for (int p = 0; p < a; p++) {
                        double w1v = w1[p * c + k];
                        e1[p * d + l] += w1v * w1v * h;
                        dW1[p * c + k] += s * h * second[(p * c + k) * d + l];
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
        }
        return new double[][] {dW1, dW2, {dS}};
    }
}
