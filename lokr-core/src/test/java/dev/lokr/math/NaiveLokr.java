package dev.lokr.math;

/**
 * A deliberately naive LoKR reference in plain Java doubles: triple-loop Kronecker product,
 * materialized {@code dW}, explicit DoRA norms. Used only by tests.
 */
public final class NaiveLokr {

    private NaiveLokr() {
    }

    /** kron(w1 [a][c], w2 [b][d*K]) -> [a*b][c*d*K], with the kernel K riding on w2's columns in blocks. */
    public static double[][] kron(double[][] w1, double[][] w2, int d, int k) {
        int a = w1.length;
        int c = w1[0].length;
        int b = w2.length;
        double[][] out = new double[a * b][c * d * k];
        for (int i = 0; i < a; i++) {
            for (int kk = 0; kk < c; kk++) {
                for (int j = 0; j < b; j++) {
                    for (int l = 0; l < d; l++) {
                        for (int e = 0; e < k; e++) {
                            out[i * b + j][(kk * d + l) * k + e] = w1[i][kk] * w2[j][l * k + e];
                        }
                    }
                }
            }
        }
        return out;
    }

    /** y = x @ w^T + bias: x [N][in], w [out][in]. */
    public static double[][] linear(double[][] x, double[][] w, double[] bias) {
        int n = x.length;
        int out = w.length;
        int in = w[0].length;
        double[][] y = new double[n][out];
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int i = 0; i < in; i++) {
                    s += x[r][i] * w[o][i];
                }
                y[r][o] = s;
            }
        }
        return y;
    }
}
