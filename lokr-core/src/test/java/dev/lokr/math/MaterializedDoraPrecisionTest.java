package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The materialized DoRA path ({@link LokrWeights#effectiveWeight}: conv layers, merges, the reference step) for
 * FLOAT tensors against the same values in double: long norms, and values whose float squares overflow.
 */
class MaterializedDoraPrecisionTest {

    private static final double U = 0x1p-24;

    /** A FLOAT DoRA module with full factors on a weight of {@code shape}, random tensors, and its weight. */
    private record Module(LokrParams params, INDArray base) {
    }

    private static Module module(long seed, boolean onInput, long... shape) {
        LokrLayout l = LokrAdapter.builder().rank(1).fullMatrix(true).dora(true).doraOnInput(onInput).seed(seed)
                .build().layoutFor(shape);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        LokrCases.randomize(p, seed);
        return new Module(p, LokrCases.random(new Random(seed), DataType.FLOAT, shape));
    }

    /**
     * {@code W'} in FLOAT at multiplier 1 against {@code (W + dW) * magnitude / (norm + eps)} of the same FLOAT
     * values in double. Each value of
     * {@code W'} is {@code (W + dW) * rho} rounded to float: {@code dW} (two roundings), {@code W + dW} (one),
     * {@code rho} (one, from a norm summed in double) and the product (one) put it within
     * {@code 5u (|W| + |dW|) |rho|} of the exact value, {@code u = 2^-24}; a norm summed in float over a row of
     * {@code n} values may be off by up to {@code n u}, thousands of times more here.
     */
    private static void assertEffectiveWeightInFloatPrecision(Module m, String what) {
        LokrParams p64 = m.params().castTo(DataType.DOUBLE);
        LokrLayout l = p64.layout();
        double[] base = NaiveLokr.flat(m.base());
        double[] delta = NaiveLokr.delta(p64, 1.0, null);
        double[] norms = NaiveLokr.doraNorms(p64, base, 1.0, null);
        double[] mag = NaiveLokr.flat(p64.get(LokrParam.MAGNITUDE));
        double[] got = NaiveLokr.flat(LokrWeights.effectiveWeight(m.params(), m.base(), 1.0, null));
        int in = l.inDim();
        for (int i = 0; i < base.length; i++) {
            int u = l.doraAxis() == DoraAxis.OUTPUT ? i / in : i % in;
            double rho = mag[u] / (norms[u] + LokrWeights.DORA_EPS);
            double want = (base[i] + delta[i]) * rho;
            double bound = 5 * U * (Math.abs(base[i]) + Math.abs(delta[i])) * rho + Float.MIN_VALUE;
            if (!(Math.abs(got[i] - want) <= bound)) {
                fail(what + ": W'[" + i + "] = " + got[i] + ", expected " + want + " within " + bound);
            }
        }
    }

    /** Rows (output axis) or columns (input axis) of 2^18 values, summed for the DoRA norm. */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void longNormsAreSummedInDouble(boolean onInput) {
        Module m = onInput ? module(5, true, 1 << 18, 2) : module(5, false, 2, 1 << 18);
        assertEffectiveWeightInFloatPrecision(m, "DoRA on " + (onInput ? "input" : "output"));
    }

    /**
     * Rows whose values are finite but whose float squares are not ({@code |W| ~ 3e19}): their norm is finite
     * (about {@code 3e19 sqrt(in)}), so {@code W'} is {@code (W + dW) * magnitude / norm}, not 0.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void squaresBeyondFloatRangeDoNotMakeTheNormInfinite(boolean onInput) {
        Module m = module(7, onInput, 16, 32);
        m.base().muli(3e19);
        assertEffectiveWeightInFloatPrecision(m, "huge weight, DoRA on " + (onInput ? "input" : "output"));
        INDArray got = LokrWeights.effectiveWeight(m.params(), m.base(), 1.0, null);
        assertTrue(got.amaxNumber().doubleValue() > 0.1, "W' must not vanish: " + got.amaxNumber());
    }
}
