package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;

import java.util.Arrays;

/**
 * Paired ratios of one dense 4096x4096 training step (batch 256, rank 8, alpha 8, float32, DL4J's
 * 'f'-order {@code [nIn, nOut]} weight) to the frozen step: each round runs {@link DenseStep#frozen()}
 * and then a LoKR variant's {@link DenseStep#factoredInWorkspace()} back to back, so drifting machine
 * load mostly cancels. Prints the median, min and max ratio per variant.
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
        Variant[] variants = {Variant.PLAIN, Variant.DECOMPOSE_BOTH, Variant.SCALAR, Variant.DORA};
        String[] names = {"lokrFactored", "lokrDecomposeBoth", "lokrScalar", "lokrDora"};
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
                long t0 = System.nanoTime();
                frozen.frozen();
                long t1 = System.nanoTime();
                steps[i].factoredInWorkspace();
                long t2 = System.nanoTime();
                ratio[i][r] = (double) (t2 - t1) / (t1 - t0);
            }
        }
        for (DenseStep step : steps) {
            step.close();
        }
        for (int i = 0; i < variants.length; i++) {
            double[] sorted = ratio[i].clone();
            Arrays.sort(sorted);
            System.out.printf("%s / frozenBase: median %.2f (min %.2f, max %.2f)%n", names[i], sorted[rounds / 2],
                    sorted[0], sorted[rounds - 1]);
        }
    }
}
