package dev.lokr.math;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Random;
import java.util.function.DoubleSupplier;

/**
 * The two training-time dropouts of LoKR. Masks are drawn by the caller and passed to the math, so
 * a step can be replayed exactly (gradient checkpointing).
 */
public final class LokrDropout {

    private LokrDropout() {
    }

    /**
     * A rank-dropout mask: each output row of {@code dW} is kept (1) with probability {@code 1 - p},
     * else 0; with {@code rescale}, the kept mask is divided by its mean (an all-zero mask stays zero).
     *
     * @param out     number of output rows
     * @param p       drop probability in [0, 1)
     * @param rescale divide by the mean
     * @param type    data type of the mask
     * @param random  the source of randomness, advanced
     * @return a new {@code [out]} mask
     */
    public static INDArray rankMask(int out, double p, boolean rescale, DataType type, Random random) {
        return rankMask(out, p, rescale, type, (DoubleSupplier) random::nextDouble);
    }

    /**
     * {@link #rankMask(int, double, boolean, DataType, Random)} drawing from any uniform [0, 1) source,
     * such as {@code Nd4j.getRandom()::nextDouble}, whose state a caller can record and replay.
     *
     * @param out     number of output rows
     * @param p       drop probability in [0, 1)
     * @param rescale divide by the mean
     * @param type    data type of the mask
     * @param uniform uniform [0, 1) draws, advanced {@code out} times
     * @return a new {@code [out]} mask
     */
    public static INDArray rankMask(int out, double p, boolean rescale, DataType type, DoubleSupplier uniform) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException("rankDropout must be in [0, 1), got " + p);
        }
        if (out < 0) {
            throw new IllegalArgumentException("out must be >= 0, got " + out);
        }
        double[] m = new double[out];
        int kept = 0;
        for (int i = 0; i < out; i++) {
            if (uniform.getAsDouble() >= p) {
                m[i] = 1;
                kept++;
            }
        }
        if (rescale && kept > 0) {
            double mean = kept / (double) out;
            for (int i = 0; i < out; i++) {
                m[i] /= mean;
            }
        }
        return Nd4j.create(m, new long[] {out}, DataType.DOUBLE).castTo(type);
    }

    /**
     * Whether module dropout skips the adapter for one step.
     *
     * @param p      skip probability in [0, 1)
     * @param random the source of randomness, advanced when {@code p > 0}
     * @return true to skip the adapter
     */
    public static boolean skipModule(double p, Random random) {
        return skipModule(p, (DoubleSupplier) random::nextDouble);
    }

    /**
     * {@link #skipModule(double, Random)} drawing from any uniform [0, 1) source.
     *
     * @param p       skip probability in [0, 1)
     * @param uniform uniform [0, 1) draws, advanced once when {@code p > 0}
     * @return true to skip the adapter
     * @throws IllegalArgumentException if {@code p} is not in [0, 1)
     */
    public static boolean skipModule(double p, DoubleSupplier uniform) {
        if (!(p >= 0 && p < 1)) {
            throw new IllegalArgumentException("moduleDropout must be in [0, 1), got " + p);
        }
        return p > 0 && uniform.getAsDouble() < p;
    }
}
