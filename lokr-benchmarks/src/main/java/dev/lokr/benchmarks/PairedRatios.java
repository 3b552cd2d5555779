package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;

import java.util.Arrays;
import java.util.Locale;

/**
 * Paired ratios of one dense 4096x4096 training step (batch 256, rank 8, alpha 8, float32, DL4J's
 * 'f'-order {@code [nIn, nOut]} weight) to the frozen step: each round runs {@link DenseStep#frozen()}
 * and a LoKR variant's {@link DenseStep#factoredInWorkspace()} back to back, so drifting machine load
 * mostly cancels; odd rounds run the LoKR step first, so neither step always follows the other's GEMMs.
 * Prints the median (of an even count, the mean of the middle two), min and max ratio per variant.
 *
 * <pre>{@code java -cp benchmarks.jar dev.lokr.benchmarks.PairedRatios [rounds]}</pre>
 */
public final class PairedRatios {

    private static final int SIZE = 4096;
    private static final int BATCH = 256;
    private static final int RANK = 8;
    private static final double ALPHA = 8;
    /**
     * Unmeasured rounds first, for at least this long: on two cores the JIT's compiler threads compete with
     * OpenBLAS for the CPU, and the step's small Java loops took 2–5 ms more per step after a few rounds
     * than after half a minute.
     */
    private static final long WARMUP_NANOS = 30_000_000_000L;
    private static final int MIN_WARMUP_ROUNDS = 3;

    private PairedRatios() {
    }

    /**
     * @param args optional number of measured rounds (default 15, at least 1)
     */
    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be at least 1, got " + rounds);
        }
        DenseInputs inputs = DenseInputs.random(SIZE, SIZE, BATCH, DataType.FLOAT, 'f', 42);
        Variant[] variants = VARIANTS;
        DenseStep[] steps = new DenseStep[variants.length];
        for (int i = 0; i < variants.length; i++) {
            steps[i] = new DenseStep(variants[i].options(RANK, ALPHA, -1), inputs, false, 7);
        }
        DenseStep frozen = steps[0];
        double[][] ratio = new double[variants.length][rounds];
        long warmupStart = System.nanoTime();
        for (int w = 0; w < MIN_WARMUP_ROUNDS || System.nanoTime() - warmupStart < WARMUP_NANOS; w++) {
            for (DenseStep step : steps) {
                frozen.frozen();
                step.factoredInWorkspace();
            }
        }
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < variants.length; i++) {
                long frozenNanos;
                long lokrNanos;
                if (r % 2 == 0) {
                    long t0 = System.nanoTime();
                    frozen.frozen();
                    long t1 = System.nanoTime();
                    steps[i].factoredInWorkspace();
                    long t2 = System.nanoTime();
                    frozenNanos = t1 - t0;
                    lokrNanos = t2 - t1;
                } else {
                    long t0 = System.nanoTime();
                    steps[i].factoredInWorkspace();
                    long t1 = System.nanoTime();
                    frozen.frozen();
                    long t2 = System.nanoTime();
                    lokrNanos = t1 - t0;
                    frozenNanos = t2 - t1;
                }
                ratio[i][r] = (double) lokrNanos / frozenNanos;
            }
        }
        for (DenseStep step : steps) {
            step.close();
        }
        for (int i = 0; i < variants.length; i++) {
            double[] sorted = ratio[i].clone();
            Arrays.sort(sorted);
            System.out.printf(Locale.ROOT, "%s / frozenBase: median %.2f (min %.2f, max %.2f)%n",
                    TrainStepBenchmark.methodOf(variants[i]), median(ratio[i]), sorted[0], sorted[rounds - 1]);
        }
    }

    /** The variants timed, each by its {@link TrainStepBenchmark} method's name. */
    static final Variant[] VARIANTS = {Variant.PLAIN, Variant.DECOMPOSE_BOTH, Variant.SCALAR, Variant.DORA};

    /**
     * @param values at least one value, not modified
     * @return the middle value, or of an even count the mean of the middle two
     */
    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
