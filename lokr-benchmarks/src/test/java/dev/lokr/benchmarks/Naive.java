package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Loop references in plain Java doubles for the step tests, sharing no code with ND4J's ops. */
final class Naive {

    private Naive() {
    }

    /** Values as flat 'c'-order doubles. */
    static double[] flat(INDArray x) {
        return x.castTo(DataType.DOUBLE).dup('c').data().asDouble();
    }

    /** {@code m [rows, inner] @ n^T} with {@code n [cols, inner]}, flat row-major. */
    static double[] matmulT(double[] m, double[] n, int rows, int inner, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                double s = 0;
                for (int k = 0; k < inner; k++) {
                    s += m[i * inner + k] * n[j * inner + k];
                }
                out[i * cols + j] = s;
            }
        }
        return out;
    }

    /** {@code m [rows, inner] @ n} with {@code n [inner, cols]}, flat row-major. */
    static double[] matmul(double[] m, double[] n, int rows, int inner, int cols) {
        double[] out = new double[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int k = 0; k < inner; k++) {
                double mv = m[i * inner + k];
                for (int j = 0; j < cols; j++) {
                    out[i * cols + j] += mv * n[k * cols + j];
                }
            }
        }
        return out;
    }

    /**
     * Stride-1 same-padded NCHW convolution and its gradients.
     * {@code x [n, ci, h, h]}, {@code w [co, ci, k, k]}, {@code y [n, co, h, h]}.
     */
    static final class Conv {
        final int n;
        final int ci;
        final int co;
        final int h;
        final int k;
        final int pad;

        Conv(int n, int ci, int co, int h, int k) {
            this.n = n;
            this.ci = ci;
            this.co = co;
            this.h = h;
            this.k = k;
            this.pad = (k - 1) / 2;
        }

        private int xi(int b, int c, int r, int s) {
            return ((b * ci + c) * h + r) * h + s;
        }

        private int yi(int b, int o, int r, int s) {
            return ((b * co + o) * h + r) * h + s;
        }

        private int wi(int o, int c, int u, int v) {
            return ((o * ci + c) * k + u) * k + v;
        }

        /** Visits every (output, input, weight) index triple that contributes. */
        private void each(Visitor f) {
            for (int b = 0; b < n; b++) {
                for (int o = 0; o < co; o++) {
                    for (int r = 0; r < h; r++) {
                        for (int s = 0; s < h; s++) {
                            for (int c = 0; c < ci; c++) {
                                for (int u = 0; u < k; u++) {
                                    int rr = r + u - pad;
                                    if (rr < 0 || rr >= h) {
                                        continue;
                                    }
                                    for (int v = 0; v < k; v++) {
                                        int ss = s + v - pad;
                                        if (ss >= 0 && ss < h) {
                                            f.visit(yi(b, o, r, s), xi(b, c, rr, ss), wi(o, c, u, v));
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        double[] forward(double[] x, double[] w) {
            double[] y = new double[n * co * h * h];
            each((yIdx, xIdx, wIdx) -> y[yIdx] += x[xIdx] * w[wIdx]);
            return y;
        }

        double[] inputGradient(double[] dy, double[] w) {
            double[] dx = new double[n * ci * h * h];
            each((yIdx, xIdx, wIdx) -> dx[xIdx] += dy[yIdx] * w[wIdx]);
            return dx;
        }

        double[] weightGradient(double[] dy, double[] x) {
            double[] dw = new double[co * ci * k * k];
            each((yIdx, xIdx, wIdx) -> dw[wIdx] += dy[yIdx] * x[xIdx]);
            return dw;
        }
    }

    @FunctionalInterface
    interface Visitor {
        void visit(int yIdx, int xIdx, int wIdx);
    }

    /** {@code max |a - b| <= tol * max(1, max |b|)}; returns the failure text or null. */
    static String compare(String what, double[] actual, double[] expected, double tol) {
        if (actual.length != expected.length) {
            return what + ": length " + actual.length + " != " + expected.length;
        }
        double scale = 1.0;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        double worst = 0;
        int at = -1;
        for (int i = 0; i < actual.length; i++) {
            double diff = Math.abs(actual[i] - expected[i]);
            if (Double.isNaN(diff)) {
                return what + ": NaN at " + i + " (actual " + actual[i] + ", expected " + expected[i] + ")";
            }
            if (diff > worst) {
                worst = diff;
                at = i;
            }
        }
        if (worst > tol * scale) {
            return what + ": max |diff| " + worst + " at " + at + " (actual " + actual[at] + ", expected "
                    + expected[at] + ") exceeds " + tol + " * " + scale;
        }
        return null;
    }
}
