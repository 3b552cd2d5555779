package dev.lokr.math;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * GEMMs into preallocated outputs for a weight given as {@code [out, in]} in either memory order:
 * 'c'-contiguous, or the transpose of a 'c'-contiguous {@code [in, out]} array (DL4J's dense layout).
 * Picking the transpose flag instead of copying keeps the frozen product at BLAS speed.
 */
final class Gemm {

    private Gemm() {
    }

    /** {@code y = alpha * x @ w^T + beta * y}; {@code x [N, in]}, {@code w [out, in]}, {@code y [N, out]} contiguous. */
    static void xWt(INDArray x, INDArray w, INDArray y, double alpha, double beta) {
        if (isTransposedC(w)) {
            Nd4j.gemm(x, w.transpose(), y, false, false, alpha, beta);
        } else {
            Nd4j.gemm(x, HostArrays.cOrder(w), y, false, true, alpha, beta);
        }
    }

    /** {@code dx = alpha * g @ w + beta * dx}; {@code g [N, out]}, {@code w [out, in]}, {@code dx [N, in]} contiguous. */
    static void yW(INDArray g, INDArray w, INDArray dx, double alpha, double beta) {
        if (isTransposedC(w)) {
            Nd4j.gemm(g, w.transpose(), dx, false, true, alpha, beta);
        } else {
            Nd4j.gemm(g, HostArrays.cOrder(w), dx, false, false, alpha, beta);
        }
    }

    private static boolean isTransposedC(INDArray w) {
        return w.rank() == 2 && w.stride(0) == 1 && w.stride(1) == w.size(0) && w.size(1) > 1;
    }
}
