package dev.lokr.dl4j.checkpoint;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Where the checkpointed segments of a network start. A network is seen as a sequence of {@code n} units
 * (the layers of a {@code MultiLayerNetwork}, with their input preprocessors; the non-input vertices of a
 * chain {@code ComputationGraph} in topological order). A segmentation resolves to the strictly increasing
 * unit indices at which segments start; the first is always 0.
 *
 * <p>What a segmentation costs: the peak of activation memory is about the largest segment's activations
 * (plus one stored input per segment), and the extra time is one recomputed forward of every segment but the
 * last, which stays from the forward pass. When the base weights are frozen, as under LoKR, a layer's backward
 * costs about as much as its forward, so recomputing a fraction {@code f} of the forward adds about
 * {@code f / 2} to the step time.
 * <ul>
 *   <li>{@link #automatic()}: four segments, the last three of {@code ceil(n/4)} units and the first holding
 *       the rest: about a quarter of the activations plus three stored inputs, for about three quarters of an
 *       extra forward, whatever the depth;</li>
 *   <li>{@link #sqrt()}: every {@code ceil(sqrt(n))} units (the classic sqrt(n) checkpointing): less memory on
 *       deep networks, but nearly a whole extra forward;</li>
 *   <li>{@link #everyK(int)}: a segment every {@code k} units;</li>
 *   <li>{@link #byMemoryBudget(long)}: greedy segments whose estimated activation bytes per batch (the sum of
 *       the segment's unit output sizes) stay within a budget; a unit larger than the budget is a segment
 *       on its own;</li>
 *   <li>{@link #manual(int...)}: explicit boundaries.</li>
 * </ul>
 * Instances are immutable.
 */
public final class Segmentation {

    private enum Kind { AUTOMATIC, SQRT, EVERY_K, BUDGET, MANUAL }

    /** How many segments {@link #automatic()} cuts a network into (at most). */
    static final int AUTOMATIC_SEGMENTS = 4;

    private final Kind kind;
    private final int k;
    private final long budgetBytes;
    private final int[] boundaries;

    private Segmentation(Kind kind, int k, long budgetBytes, int[] boundaries) {
        this.kind = kind;
        this.k = k;
        this.budgetBytes = budgetBytes;
        this.boundaries = boundaries;
    }

    /**
     * The default: up to four segments; with {@code m = ceil(n/4)} they start at {@code 0}, {@code n - 3m},
     * {@code n - 2m} and {@code n - m} (a start that is not above the previous one is dropped), so the shorter
     * remainder is the first segment and the last segment, which is not recomputed, is a full one. For
     * example 25 units give segments of 4, 7, 7 and 7; 6 units give 2, 2 and 2; 1 unit is one segment.
     *
     * @return four segments, the remainder first
     */
    public static Segmentation automatic() {
        return new Segmentation(Kind.AUTOMATIC, 0, 0, null);
    }

    /** @return segments of {@code ceil(sqrt(n))} units */
    public static Segmentation sqrt() {
        return new Segmentation(Kind.SQRT, 0, 0, null);
    }

    /**
     * @param k units per segment, {@code >= 1} (the last segment may be shorter)
     * @return a segment every {@code k} units
     * @throws IllegalArgumentException if {@code k < 1}
     */
    public static Segmentation everyK(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("k (units per segment) must be >= 1, got " + k);
        }
        return new Segmentation(Kind.EVERY_K, k, 0, null);
    }

    /**
     * @param bytesPerBatch the most activation bytes one segment may hold for a whole batch, {@code >= 1}
     * @return greedy segments within the budget, estimated from the units' output sizes
     * @throws IllegalArgumentException if {@code bytesPerBatch < 1}
     */
    public static Segmentation byMemoryBudget(long bytesPerBatch) {
        if (bytesPerBatch < 1) {
            throw new IllegalArgumentException("bytesPerBatch (memory budget) must be >= 1, got " + bytesPerBatch);
        }
        return new Segmentation(Kind.BUDGET, 0, bytesPerBatch, null);
    }

    /**
     * @param boundaries unit indices where segments after the first start: strictly increasing, each
     *                   {@code >= 1} and (checked when resolved) {@code < n}; none means one segment
     * @return explicit segments
     * @throws IllegalArgumentException if a boundary is {@code < 1} or the boundaries are not strictly
     *                                  increasing
     */
    public static Segmentation manual(int... boundaries) {
        Objects.requireNonNull(boundaries, "boundaries");
        int[] b = boundaries.clone();
        for (int i = 0; i < b.length; i++) {
            if (b[i] < 1) {
                throw new IllegalArgumentException("segment boundary " + i + " must be >= 1 (segment 0 always starts"
                        + " at unit 0), got " + b[i] + " in " + Arrays.toString(b));
            }
            if (i > 0 && b[i] <= b[i - 1]) {
                throw new IllegalArgumentException("segment boundaries must be strictly increasing, got " + b[i - 1]
                        + " then " + b[i] + " in " + Arrays.toString(b));
            }
        }
        return new Segmentation(Kind.MANUAL, 0, 0, b);
    }

    /** @return true if resolving needs the units' output sizes ({@link #byMemoryBudget(long)}) */
    public boolean needsOutputSizes() {
        return kind == Kind.BUDGET;
    }

    /**
     * Resolves the segment starts for a network of {@code outputBytes.length} units.
     *
     * @param outputBytes per unit, the estimated bytes of its output for one batch ({@code >= 0}); only the
     *                    length matters unless this is a memory budget
     * @return the strictly increasing start indices, first 0
     * @throws IllegalArgumentException if there are no units, if a manual boundary is {@code >= n}, or if an
     *                                  output size is negative
     */
    public int[] resolve(long[] outputBytes) {
        int n = outputBytes.length;
        if (n < 1) {
            throw new IllegalArgumentException("a network to segment must have >= 1 unit, got " + n);
        }
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        switch (kind) {
            case AUTOMATIC: {
                int m = (n + AUTOMATIC_SEGMENTS - 1) / AUTOMATIC_SEGMENTS;
                for (int j = AUTOMATIC_SEGMENTS - 1; j >= 1; j--) {
                    int start = n - j * m;
                    if (start > starts.get(starts.size() - 1)) {
                        starts.add(start);
                    }
                }
                break;
            }
            case SQRT:
            case EVERY_K: {
                int step = kind == Kind.EVERY_K ? k : (int) Math.ceil(Math.sqrt(n));
                for (int s = step; s < n; s += step) {
                    starts.add(s);
                }
                break;
            }
            case BUDGET: {
                long acc = 0;
                for (int i = 0; i < n; i++) {
                    if (outputBytes[i] < 0) {
                        throw new IllegalArgumentException("output size of unit " + i + " must be >= 0, got "
                                + outputBytes[i]);
                    }
                    if (acc > 0 && acc + outputBytes[i] > budgetBytes) {
                        starts.add(i);
                        acc = 0;
                    }
                    acc += outputBytes[i];
                }
                break;
            }
            case MANUAL:
                for (int b : boundaries) {
                    if (b >= n) {
                        throw new IllegalArgumentException("segment boundary " + b + " must be < the number of units "
                                + n + " (boundaries " + Arrays.toString(boundaries) + ")");
                    }
                    starts.add(b);
                }
                break;
            default:
                throw new AssertionError(kind);
        }
        return starts.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public String toString() {
        switch (kind) {
            case AUTOMATIC:
                return "Segmentation.automatic()";
            case SQRT:
                return "Segmentation.sqrt()";
            case EVERY_K:
                return "Segmentation.everyK(" + k + ")";
            case BUDGET:
                return "Segmentation.byMemoryBudget(" + budgetBytes + ")";
            default:
                return "Segmentation.manual(" + Arrays.toString(boundaries) + ")";
        }
    }
}
