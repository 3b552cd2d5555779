package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Seeded random LoKR cases for property tests: shapes, options and tensors. */
public final class LokrCases {

    private static final int[] DIMS = {1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 18, 20, 24, 30, 31, 32, 36, 48, 60, 64};
    private static final int[] FACTORS = {-1, -1, -1, 1, 2, 3, 4, 5, 8, 16};
    private static final double[] MULTIPLIERS = {1.0, 1.0, 0.5, -1.25, 2.0};

    private LokrCases() {
    }

    /** One generated case; {@code toString} carries the seed and everything needed to reproduce it. */
    public record Case(long seed, long[] shape, LokrAdapter options, double multiplier, boolean mask,
                       boolean transposedView) {
        @Override
        public String toString() {
            return "seed=" + seed + " shape=" + java.util.Arrays.toString(shape) + " m=" + multiplier + " mask=" + mask
                    + " view=" + transposedView + " " + options;
        }
    }

    /** {@code count} dense ({@code conv == false}) or conv cases from {@code seed}. */
    public static List<Case> cases(long seed, int count, boolean conv) {
        Random r = new Random(seed);
        List<Case> list = new ArrayList<>();
        for (int n = 0; n < count; n++) {
            long caseSeed = r.nextLong();
            Random c = new Random(caseSeed);
            int out = DIMS[c.nextInt(DIMS.length)];
            int in = DIMS[c.nextInt(DIMS.length)];
            if (conv) {
                out = Math.min(out, 24);
                in = Math.min(in, 24);
            }
            long[] shape = conv
                    ? new long[] {out, in, 1 + c.nextInt(3), 1 + c.nextInt(3)}
                    : new long[] {out, in};
            boolean dora = c.nextInt(3) == 0;
            LokrAdapter opts = LokrAdapter.builder()
                    .rank(1 + c.nextInt(6))
                    .alpha(c.nextInt(4) == 0 ? 0 : 0.5 + c.nextInt(16))
                    .factor(FACTORS[c.nextInt(FACTORS.length)])
                    .decomposeBoth(c.nextBoolean())
                    .tucker(conv && c.nextBoolean())
                    .scalar(c.nextInt(3) == 0)
                    .dora(dora)
                    .doraOnInput(dora && c.nextBoolean())
                    .detachNorm(dora && c.nextInt(4) == 0)
                    .rsLora(c.nextInt(4) == 0)
                    .fullMatrix(c.nextInt(8) == 0)
                    .unbalancedFactorization(c.nextInt(5) == 0)
                    .seed(caseSeed)
                    .build();
            list.add(new Case(caseSeed, shape, opts, MULTIPLIERS[c.nextInt(MULTIPLIERS.length)], c.nextInt(4) == 0,
                    !conv && c.nextBoolean()));
        }
        return list;
    }

    /** Uniform random values in [-1, 1) for every tensor; the magnitude in [0.5, 2). */
    public static void randomize(LokrParams p, long seed) {
        Random r = new Random(seed ^ 0x5DEECE66DL);
        for (LokrParam key : p.layout().params()) {
            INDArray arr = p.get(key);
            double[] v = new double[(int) arr.length()];
            for (int i = 0; i < v.length; i++) {
                v[i] = key == LokrParam.MAGNITUDE ? 0.5 + 1.5 * r.nextDouble() : 2 * r.nextDouble() - 1;
            }
            arr.assign(NaiveLokr.array(v, arr.dataType(), arr.shape()));
        }
    }

    /** A random array of {@code shape} in [-1, 1). */
    public static INDArray random(Random r, DataType type, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = 2 * r.nextDouble() - 1;
        }
        return NaiveLokr.array(v, type, shape);
    }

    /** A rank-dropout style mask with some zeros and rescaled values. */
    public static INDArray mask(Random r, int out, DataType type) {
        double[] v = new double[out];
        for (int i = 0; i < out; i++) {
            v[i] = r.nextInt(3) == 0 ? 0.0 : 1.0 + r.nextDouble();
        }
        return NaiveLokr.array(v, type, out);
    }

    /**
     * The base weight {@code [out, in]} as the transpose of a 'c' {@code [in, out]} slice of a
     * larger buffer (how DL4J holds a dense weight), or a plain 'c' array.
     */
    public static INDArray weight(INDArray values, boolean transposedView) {
        if (!transposedView) {
            return values.dup('c');
        }
        long out = values.size(0);
        long in = values.size(1);
        INDArray buffer = Nd4j.zeros(values.dataType(), 1, out * in + 11);
        INDArray slice = buffer.get(NDArrayIndex.point(0), NDArrayIndex.interval(5, 5 + out * in)).reshape('c', in, out);
        slice.assign(values.transpose());
        return slice.transpose();
    }
}
