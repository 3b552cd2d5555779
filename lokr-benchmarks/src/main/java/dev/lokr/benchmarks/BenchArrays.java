package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Seeded array filling and shape parsing for the benchmark states. Values are drawn in Java, so a
 * seed gives the same arrays on every backend.
 */
final class BenchArrays {

    private BenchArrays() {
    }

    /**
     * A new array with values uniform in {@code [-bound, bound)}.
     *
     * @param type  the data type
     * @param order 'c' or 'f'
     * @param bound half the width of the range
     * @param seed  the seed
     * @param shape the shape
     * @return the array
     */
    static INDArray uniform(DataType type, char order, double bound, long seed, long... shape) {
        INDArray out = Nd4j.create(type, shape, order);
        fillUniform(out, bound, seed);
        return out;
    }

    /**
     * Fills {@code target} in place with values uniform in {@code [-bound, bound)}, in its logical 'c' order.
     *
     * @param target the array, modified
     * @param bound  half the width of the range
     * @param seed   the seed
     */
    static void fillUniform(INDArray target, double bound, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        double[] values = new double[Math.toIntExact(target.length())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (rnd.nextDouble() * 2 - 1) * bound;
        }
        target.assign(Nd4j.create(values, target.shape(), DataType.DOUBLE).castTo(target.dataType()));
    }

    /**
     * Parses {@code "4096x4096"} or {@code "256x256x3x3"} into dims.
     *
     * @param spec          the text
     * @param expectedRanks the allowed numbers of dims
     * @return the dims, each at least 1
     * @throws IllegalArgumentException naming the text when it does not parse
     */
    static long[] parseDims(String spec, int... expectedRanks) {
        String[] parts = spec.trim().split("x");
        long[] dims = new long[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) {
                dims[i] = Long.parseLong(parts[i]);
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("dims must look like 4096x4096 (out x in), got '" + spec + "'", e);
        }
        if (Arrays.stream(expectedRanks).noneMatch(r -> r == dims.length) || Arrays.stream(dims).anyMatch(v -> v < 1)) {
            throw new IllegalArgumentException("dims must have " + Arrays.toString(expectedRanks)
                    + " positive parts separated by 'x', got '" + spec + "'");
        }
        return dims;
    }
}
