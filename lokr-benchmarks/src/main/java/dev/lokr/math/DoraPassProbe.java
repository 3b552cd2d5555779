package dev.lokr.math;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Lets {@code DoraPassBenchmark} time DoRA's pass over the frozen weight, which lokr-core keeps
 * package-private ({@link DoraNorms}). It lives in lokr-benchmarks, in lokr-core's package; no library
 * code uses it.
 */
public final class DoraPassProbe {

    private DoraPassProbe() {
    }

    /**
     * The output-axis DoRA norms of {@code W + dW} and what their gradient needs, in one pass over
     * {@code weight}, as a training forward computes them (multiplier 1, no rank dropout).
     *
     * @param params the module tensors of a DoRA adapter (output axis), not modified
     * @param weight the frozen {@code [out, in]} weight, not modified
     * @param simd   whether the SIMD row kernel may run (it runs only where {@link #simdEnabled()})
     * @return the norms, {@code [out]}
     */
    public static double[] pass(LokrParams params, INDArray weight, boolean simd) {
        LokrLayout layout = params.layout();
        if (layout.doraAxis() != DoraAxis.OUTPUT) {
            throw new IllegalArgumentException("the probe times output-axis DoRA, got " + layout);
        }
        return DoraNorms.compute(layout, weight, Factors.w1(params), Factors.w2(params), null,
                LokrWeights.coefficient(params, 1.0), true, simd).norms();
    }

    /** @return whether this JVM runs the SIMD row kernel (see {@code SimdSupport}) */
    public static boolean simdEnabled() {
        return SimdSupport.ENABLED;
    }
}
