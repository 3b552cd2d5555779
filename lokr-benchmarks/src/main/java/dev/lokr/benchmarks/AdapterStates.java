package dev.lokr.benchmarks;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Module tensors in a mid-training state for the benchmarks: the spec initialisation, then the
 * tensors that start at zero ({@code w2} or {@code w2b} without scalar, the scalar itself) given
 * non-zero values, so that {@code dW != 0} and every gradient path does real work.
 */
final class AdapterStates {

    /** The scalar gain given to modules with a scalar. */
    static final double SCALAR_VALUE = 0.5;

    private AdapterStates() {
    }

    /**
     * Creates and fills the module tensors for one weight.
     *
     * @param options the adapter options
     * @param base    the frozen weight in PyTorch layout {@code [out, in(, kh, kw)]} (any strides), not modified
     * @param type    the data type of the tensors
     * @param seed    the seed
     * @return new tensors with {@code dW != 0}
     */
    static LokrParams midTraining(LokrAdapter options, INDArray base, DataType type, long seed) {
        LokrLayout layout = options.layoutFor(base.shape());
        LokrParams params = LokrParams.zeros(layout, type);
        LokrInit.initialize(params, base, seed);
        for (LokrParam p : layout.params()) {
            INDArray arr = params.get(p);
            if (p == LokrParam.SCALAR) {
                arr.assign(SCALAR_VALUE);
            } else if ((p == LokrParam.W2 || p == LokrParam.W2_B) && arr.amaxNumber().doubleValue() == 0.0) {
                long fanIn = arr.length() / arr.size(0);
                BenchArrays.fillUniform(arr, 1.0 / Math.sqrt(fanIn), seed * 31 + p.ordinal());
            }
        }
        return params;
    }
}
