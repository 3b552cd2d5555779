package dev.lokr.math;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Rebuilds the full factors {@code w1 [a, c]} and {@code w2 [b, d(, kh, kw)]} from how they are
 * stored, and maps gradients with respect to the full factors back to the stored tensors.
 *
 * <ul>
 *   <li>{@code w1 = w1a @ w1b} (low-rank);</li>
 *   <li>{@code w2 = (w2a @ w2b).reshape(b, d, kh, kw)} (low-rank; the kernel folded into {@code w2b});</li>
 *   <li>{@code w2[p, q, y, x] = sum_ij t2[i, j, y, x] * w2a[i, p] * w2b[j, q]} (Tucker).</li>
 * </ul>
 */
public final class Factors {

    private Factors() {
    }

    /**
     * @param params the module tensors, not modified
     * @return {@code w1 [a, c]}: the stored array itself when full, else a new product
     */
    public static INDArray w1(LokrParams params) {
        if (params.layout().w1Mode() == FactorMode.FULL) {
            return params.get(LokrParam.W1);
        }
        return product(params.get(LokrParam.W1_A), params.get(LokrParam.W1_B));
    }

    /**
     * {@code a @ b} by {@code Nd4j.gemm} into a new 'c'-order array. Measured on two cores: 27–80 us per
     * 64x8x64 product against 60–360 us for {@code INDArray.mmul}, and in the dense training step, where
     * such small ops wait behind OpenBLAS's threads, {@code decomposeBoth}'s step went from about 1.3x to
     * about 1.1x the frozen step.
     */
    private static INDArray product(INDArray a, INDArray b) {
        INDArray out = Nd4j.createUninitialized(a.dataType(), a.size(0), b.size(1));
        Nd4j.gemm(a, b, out, false, false, 1.0, 0.0);
        return out;
    }

    /**
     * @param params the module tensors, not modified
     * @return {@code w2 [b, d]} or {@code [b, d, kh, kw]}: the stored array itself when full, else new
     */
    public static INDArray w2(LokrParams params) {
        LokrLayout layout = params.layout();
        switch (layout.w2Mode()) {
            case FULL:
                return params.get(LokrParam.W2);
            case LOW_RANK:
                return product(params.get(LokrParam.W2_A), params.get(LokrParam.W2_B)).reshape('c', layout.w2Shape());
            case TUCKER:
                return tucker(params);
            default:
                throw new IllegalStateException(layout.w2Mode().toString());
        }
    }

    private static INDArray tucker(LokrParams params) {
        LokrLayout layout = params.layout();
        int r = layout.rank();
        int b = layout.b();
        int d = layout.d();
        int k = layout.kernelSize();
        INDArray t2 = params.get(LokrParam.T2).dup('c').reshape('c', r, (long) r * k);
        // u[p, j, K] = sum_i w2a[i, p] t2[i, j, K]
        INDArray u = params.get(LokrParam.W2_A).transpose().mmul(t2);
        INDArray uk = u.reshape('c', b, r, k).permute(0, 2, 1).dup('c').reshape('c', (long) b * k, r);
        // w2[p, K, q] = sum_j u[p, j, K] w2b[j, q]
        INDArray w = uk.mmul(params.get(LokrParam.W2_B));
        return w.reshape('c', b, k, d).permute(0, 2, 1).dup('c').reshape('c', layout.w2Shape());
    }

    /**
     * Adds the gradient of the stored {@code w1} tensors, given {@code dW1} with respect to the
     * full {@code w1}: {@code dw1a += dW1 @ w1b^T}, {@code dw1b += w1a^T @ dW1}.
     *
     * @param params the module tensors, not modified
     * @param dW1    {@code [a, c]}, not modified
     * @param grads  gradients, modified (accumulated)
     */
    public static void addW1Grad(LokrParams params, INDArray dW1, LokrParams grads) {
        if (params.layout().w1Mode() == FactorMode.FULL) {
            HostArrays.axpy(1.0, dW1, grads.get(LokrParam.W1));
            return;
        }
        INDArray w1a = params.get(LokrParam.W1_A);
        INDArray w1b = params.get(LokrParam.W1_B);
        Nd4j.gemm(dW1, w1b, grads.get(LokrParam.W1_A), false, true, 1.0, 1.0);
        Nd4j.gemm(w1a, dW1, grads.get(LokrParam.W1_B), true, false, 1.0, 1.0);
    }

    /**
     * Writes (overwrites) the gradient of the stored {@code w1} tensors, given {@code alpha * dW1}
     * with respect to the full {@code w1}.
     *
     * @param params the module tensors, not modified
     * @param dW1    {@code [a, c]}, not modified
     * @param alpha  factor applied to {@code dW1}
     * @param grads  gradients, modified (overwritten)
     */
    static void setW1Grad(LokrParams params, INDArray dW1, double alpha, LokrParams grads) {
        if (params.layout().w1Mode() == FactorMode.FULL) {
            HostArrays.scaledCopy(alpha, dW1, grads.get(LokrParam.W1));
            return;
        }
        Nd4j.gemm(dW1, params.get(LokrParam.W1_B), grads.get(LokrParam.W1_A), false, true, alpha, 0.0);
        Nd4j.gemm(params.get(LokrParam.W1_A), dW1, grads.get(LokrParam.W1_B), true, false, alpha, 0.0);
    }

    /**
     * Adds the gradient of the stored {@code w2} tensors, given {@code dW2} with respect to the
     * full {@code w2} ({@code [b, d(, kh, kw)]}).
     *
     * @param params the module tensors, not modified
     * @param dW2    gradient of the full {@code w2}, not modified
     * @param grads  gradients, modified (accumulated)
     */
    public static void addW2Grad(LokrParams params, INDArray dW2, LokrParams grads) {
        LokrLayout layout = params.layout();
        switch (layout.w2Mode()) {
            case FULL:
                HostArrays.axpy(1.0, dW2, grads.get(LokrParam.W2));
                return;
            case LOW_RANK: {
                INDArray g = HostArrays.cOrder(dW2).reshape('c', layout.b(), (long) layout.d() * layout.kernelSize());
                Nd4j.gemm(g, params.get(LokrParam.W2_B), grads.get(LokrParam.W2_A), false, true, 1.0, 1.0);
                Nd4j.gemm(params.get(LokrParam.W2_A), g, grads.get(LokrParam.W2_B), true, false, 1.0, 1.0);
                return;
            }
            case TUCKER:
                addTuckerGrad(params, dW2, grads);
                return;
            default:
                throw new IllegalStateException(layout.w2Mode().toString());
        }
    }

    private static void addTuckerGrad(LokrParams params, INDArray dW2, LokrParams grads) {
        LokrLayout layout = params.layout();
        int r = layout.rank();
        int b = layout.b();
        int d = layout.d();
        int k = layout.kernelSize();
        INDArray w2a = params.get(LokrParam.W2_A);
        INDArray w2b = params.get(LokrParam.W2_B);
        INDArray t2 = params.get(LokrParam.T2).dup('c').reshape('c', r, (long) r * k);
        INDArray u = w2a.transpose().mmul(t2);                                       // [b, r*K] = u[p, j, K]
        INDArray uk = u.reshape('c', b, r, k).permute(0, 2, 1).dup('c').reshape('c', (long) b * k, r);
        INDArray g = dW2.dup('c').reshape('c', b, d, k).permute(0, 2, 1).dup('c').reshape('c', (long) b * k, d);
        Nd4j.gemm(uk, g, grads.get(LokrParam.W2_B), true, false, 1.0, 1.0);            // [r, d]
        INDArray duk = g.mmul(w2b.transpose());                                       // [b*K, r]
        INDArray du = duk.reshape('c', b, k, r).permute(0, 2, 1).dup('c').reshape('c', b, (long) r * k);
        Nd4j.gemm(t2, du, grads.get(LokrParam.W2_A), false, true, 1.0, 1.0);           // [r, b]
        INDArray dt2 = w2a.mmul(du);                                                  // [r, r*K]
        grads.get(LokrParam.T2).addi(dt2.reshape(grads.get(LokrParam.T2).shape()));
    }
}
