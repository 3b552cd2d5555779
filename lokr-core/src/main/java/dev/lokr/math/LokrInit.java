package dev.lokr.math;

import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.SplittableRandom;

/**
 * Initialisation of a LoKR module, so that {@code dW = 0} at step 0.
 *
 * <p>{@code kaimingUniform(a = sqrt(5))} draws from {@code U(-1/sqrt(fanIn), 1/sqrt(fanIn))} with
 * {@code fanIn = size(1) * prod(size(2..))}.
 * <ul>
 *   <li>without scalar: {@code w1} (or {@code w1a}, {@code w1b}), {@code w2a} and {@code t2}
 *       kaiming; {@code w2b} (or the full {@code w2}) zero;</li>
 *   <li>with scalar: every factor kaiming, the scalar 0;</li>
 *   <li>DoRA: {@code magnitude} = the norms of the base weight along the DoRA axis.</li>
 * </ul>
 * Values are drawn in Java from a {@link SplittableRandom} seeded by {@code seed} and the parameter,
 * so they are the same on every backend.
 */
public final class LokrInit {

    private LokrInit() {
    }

    /**
     * Initialises every tensor of {@code params} in place.
     *
     * @param params the module tensors, modified
     * @param base   the frozen base weight {@code [out, in(, kh, kw)]}; needed for DoRA, may be null otherwise; not modified
     * @param seed   the seed
     * @throws IllegalArgumentException if DoRA is on and {@code base} is null, of the wrong shape or not of a
     *     floating-point type
     */
    public static void initialize(LokrParams params, INDArray base, long seed) {
        LokrLayout layout = params.layout();
        for (LokrParam p : layout.params()) {
            INDArray arr = params.get(p);
            switch (p) {
                case SCALAR:
                    arr.assign(0);
                    break;
                case MAGNITUDE:
                    if (base == null) {
                        throw new IllegalArgumentException("DoRA needs the base weight to initialise the magnitude");
                    }
                    arr.assign(baseNorms(layout, base).reshape(arr.shape()));
                    break;
                case W2:
                case W2_B:
                    if (layout.scalar()) {
                        kaiming(arr, seed, p);
                    } else {
                        arr.assign(0);
                    }
                    break;
                default:
                    kaiming(arr, seed, p);
            }
        }
    }

    /**
     * The norms of a weight along the DoRA axis of {@code layout}: per output row or per input column.
     *
     * @param layout the module plan (DoRA on)
     * @param weight {@code [out, in(, kh, kw)]}, of a floating-point type, not modified
     * @return a new {@code [out]} or {@code [in]} array
     * @throws IllegalArgumentException if {@code weight} is of the wrong shape or not of a floating-point type
     */
    public static INDArray baseNorms(LokrLayout layout, INDArray weight) {
        LokrWeights.requireFloatingPoint(weight, "DoRA's magnitude is its norm");
        LokrWeights.checkBase(layout, weight);
        return org.nd4j.linalg.factory.Nd4j.math().sqrt(LokrWeights.reduceAxis(layout, weight.mul(weight)));
    }

    private static void kaiming(INDArray arr, long seed, LokrParam p) {
        long fanIn = arr.length() / arr.size(0);
        double bound = 1.0 / Math.sqrt(fanIn);
        SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + p.ordinal() * 0xBF58476D1CE4E5B9L + 17);
        long n = arr.length();
        double[] values = new double[(int) n];
        for (int i = 0; i < n; i++) {
            values[i] = (rnd.nextDouble() * 2 - 1) * bound;
        }
        arr.assign(org.nd4j.linalg.factory.Nd4j.create(values, arr.shape(), 'c').castTo(arr.dataType()));
    }
}
