package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A deliberately naive LoKR reference in plain Java doubles: triple-loop Kronecker product,
 * materialized {@code dW}, loops for the factor products, Tucker core and DoRA norms. It shares no
 * code with the library's math. Used only by tests.
 */
public final class NaiveLokr {

    private NaiveLokr() {
    }

    /** Values of an array as a flat 'c'-order double array. */
    public static double[] flat(INDArray x) {
        return x.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    }

    /** A 'c'-order array of the given shape and type from flat doubles. */
    public static INDArray array(double[] values, DataType type, long... shape) {
        return Nd4j.create(values, shape, DataType.DOUBLE).castTo(type);
    }

    /** {@code m [rows][inner] @ n [inner][cols]}, flat row-major. */
    public static double[] matmul(double[] m, double[] n, int rows, int inner, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int k = 0; k < inner; k++) {
                    s += m[i * inner + k] * n[k * cols + j];
                }
                out[i * cols + j] = s;
            }
        }
        return out;
    }

    /**
     * {@code kron(w1 [a, c], w2 [b, d, K])} as a flat {@code [a*b, c*d, K]} array:
     * {@code out[i*b + j, k*d + l, e] = w1[i, k] * w2[j, l, e]}.
     */
    public static double[] kron(double[] w1, double[] w2, int a, int b, int c, int d, int kernel) {
        int in = c * d;
        double[] out = new double[a * b * in * kernel];
        for (int i = 0; i < a; i++) {
            for (int k = 0; k < c; k++) {
                for (int j = 0; j < b; j++) {
                    for (int l = 0; l < d; l++) {
                        for (int e = 0; e < kernel; e++) {
                            out[((i * b + j) * in + k * d + l) * kernel + e] = w1[i * c + k] * w2[(j * d + l) * kernel + e];
                        }
                    }
                }
            }
        }
        return out;
    }

    /** The full {@code w1 [a, c]} from the stored tensors. */
    public static double[] w1(LokrParams p) {
        LokrLayout l = p.layout();
        if (l.w1Mode() == FactorMode.FULL) {
            return flat(p.get(LokrParam.W1));
        }
        return matmul(flat(p.get(LokrParam.W1_A)), flat(p.get(LokrParam.W1_B)), l.a(), l.rank(), l.c());
    }

    /** The full {@code w2 [b, d, K]} from the stored tensors. */
    public static double[] w2(LokrParams p) {
        LokrLayout l = p.layout();
        int b = l.b();
        int d = l.d();
        int kernel = l.kernelSize();
        int r = l.rank();
        switch (l.w2Mode()) {
            case FULL:
                return flat(p.get(LokrParam.W2));
            case LOW_RANK:
                return matmul(flat(p.get(LokrParam.W2_A)), flat(p.get(LokrParam.W2_B)), b, r, d * kernel);
            default: {
                double[] t2 = flat(p.get(LokrParam.T2));
                double[] ua = flat(p.get(LokrParam.W2_A));
                double[] ub = flat(p.get(LokrParam.W2_B));
                double[] out = new double[b * d * kernel];
                for (int q = 0; q < b; q++) {
                    for (int s = 0; s < d; s++) {
                        for (int e = 0; e < kernel; e++) {
                            double sum = 0;
                            for (int i = 0; i < r; i++) {
                                for (int j = 0; j < r; j++) {
                                    sum += t2[(i * r + j) * kernel + e] * ua[i * b + q] * ub[j * d + s];
                                }
                            }
                            out[(q * d + s) * kernel + e] = sum;
                        }
                    }
                }
                return out;
            }
        }
    }

    /** {@code dW = mask * coef * kron(w1, w2)} flat in PyTorch layout; coef = s*g*(dora ? 1 : m). */
    public static double[] delta(LokrParams p, double multiplier, double[] mask) {
        LokrLayout l = p.layout();
        double g = l.scalar() ? p.get(LokrParam.SCALAR).getDouble(0) : 1.0;
        double coef = l.scale() * g * (l.dora() ? 1.0 : multiplier);
        double[] k = kron(w1(p), w2(p), l.a(), l.b(), l.c(), l.d(), l.kernelSize());
        int row = l.inDim() * l.kernelSize();
        for (int i = 0; i < k.length; i++) {
            k[i] *= coef * (mask == null ? 1.0 : mask[i / row]);
        }
        return k;
    }

    /** The effective weight W' flat in PyTorch layout, DoRA by explicit loops. */
    public static double[] effective(LokrParams p, double[] base, double multiplier, double[] mask) {
        return effective(p, base, multiplier, mask, null);
    }

    /** DoRA norms of {@code W + dW} along the layout's axis. */
    public static double[] doraNorms(LokrParams p, double[] base, double multiplier, double[] mask) {
        LokrLayout l = p.layout();
        double[] v = delta(p, multiplier, mask);
        int out = l.outDim();
        int in = l.inDim();
        int kernel = l.kernelSize();
        boolean onOut = l.doraAxis() == DoraAxis.OUTPUT;
        double[] sq = new double[onOut ? out : in];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                for (int e = 0; e < kernel; e++) {
                    int idx = (o * in + i) * kernel + e;
                    double x = v[idx] + base[idx];
                    sq[onOut ? o : i] += x * x;
                }
            }
        }
        for (int u = 0; u < sq.length; u++) {
            sq[u] = Math.sqrt(sq[u]);
        }
        return sq;
    }

    /**
     * The effective weight W' flat in PyTorch layout, DoRA by explicit loops; {@code fixedNorms}
     * (or null) replaces the computed norms, to model a detached norm.
     */
    public static double[] effective(LokrParams p, double[] base, double multiplier, double[] mask, double[] fixedNorms) {
        LokrLayout l = p.layout();
        double[] v = delta(p, multiplier, mask);
        for (int i = 0; i < v.length; i++) {
            v[i] += base[i];
        }
        if (!l.dora()) {
            return v;
        }
        int out = l.outDim();
        int in = l.inDim();
        int kernel = l.kernelSize();
        boolean onOut = l.doraAxis() == DoraAxis.OUTPUT;
        double[] mag = flat(p.get(LokrParam.MAGNITUDE));
        double[] norms = fixedNorms != null ? fixedNorms : doraNorms(p, base, multiplier, mask);
        double eps = Math.ulp(1.0f);
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                int u = onOut ? o : i;
                double ratio = mag[u] / (norms[u] + eps);
                double rho = multiplier * (ratio - 1) + 1;
                for (int e = 0; e < kernel; e++) {
                    v[(o * in + i) * kernel + e] *= rho;
                }
            }
        }
        return v;
    }
}
