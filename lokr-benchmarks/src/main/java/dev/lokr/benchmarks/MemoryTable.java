package dev.lokr.benchmarks;

import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.factory.Nd4j;

import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Prints, as markdown, the memory of each LoKR option on one float32 layer: the trainable tensors,
 * Adam's state ({@code m} and {@code v}: twice the trainable bytes), and what one training step
 * allocates, factored ({@link DenseStep#factored()}) against materialized ({@link DenseStep#materialized()}).
 * Not a JMH benchmark: it runs each step a few times and reads counters.
 *
 * <p>How the per-step bytes are obtained:
 * <ul>
 *   <li><b>ND4J (off-heap) bytes: measured.</b> The step runs inside an ND4J workspace of initial
 *       size 0 whose allocations all spill to external memory; {@code getThisCycleAllocations()}
 *       then counts every array the step creates from Java ({@code create}, {@code dup},
 *       {@code mul}, ...), outputs included. Buffers libnd4j allocates inside one native op (e.g.
 *       conv2d's im2col columns, BLAS packing) are not seen.</li>
 *   <li><b>Java heap bytes: measured</b> with {@code com.sun.management.ThreadMXBean}
 *       (allocated bytes of the current thread): the {@code double[]} of the DoRA norms, copies to
 *       Java arrays, plus small object overhead.</li>
 *   <li><b>Factored temporaries: also counted analytically</b> from the algorithm in
 *       {@code LokrDense}'s javadoc (the {@code P, Pt, Q, Qt} of the forward, their four gradients in
 *       the backward, {@code dW1}, and {@code w1 = w1a w1b} when it is low-rank), to cross-check.</li>
 *   <li>The materialized step also keeps one preallocated {@code out x in} buffer for {@code dL/dW'}
 *       (listed separately; it is not allocated per step).</li>
 * </ul>
 *
 * <p>Usage: {@code java -cp benchmarks.jar dev.lokr.benchmarks.MemoryTable [dims=4096x4096] [batch=256]
 * [rank=8] [alpha=8]}.
 */
public final class MemoryTable {

    private static final int REPEATS = 2;
    private static final int CONV_CHANNELS = 64;
    private static final int CONV_KERNEL = 3;
    private static final int CONV_SIZE = 32;
    private static final int CONV_BATCH = 16;
    private static final int CONV_RANK = 4;
    private static final int CONV_FACTOR = 4;

    private MemoryTable() {
    }

    /**
     * Prints the table to standard output.
     *
     * @param args optional {@code key=value} pairs: {@code dims}, {@code batch}, {@code rank}, {@code alpha}
     */
    public static void main(String[] args) {
        String dims = "4096x4096";
        int batch = 256;
        int rank = 8;
        double alpha = 8;
        for (String arg : args) {
            String[] kv = arg.split("=", 2);
            if (kv.length != 2) {
                throw new IllegalArgumentException("arguments must be key=value (dims, batch, rank, alpha), got '" + arg + "'");
            }
            switch (kv[0]) {
                case "dims":
                    dims = kv[1];
                    break;
                case "batch":
                    batch = Integer.parseInt(kv[1]);
                    break;
                case "rank":
                    rank = Integer.parseInt(kv[1]);
                    break;
                case "alpha":
                    alpha = Double.parseDouble(kv[1]);
                    break;
                default:
                    throw new IllegalArgumentException("unknown argument '" + kv[0] + "': expected dims, batch, rank or alpha");
            }
        }
        print(System.out, dims, batch, rank, alpha);
    }

    /**
     * Measures and prints the table.
     *
     * @param out   where to print
     * @param dims  dense weight {@code out x in}
     * @param batch dense batch size
     * @param rank  dense rank
     * @param alpha dense alpha
     */
    static void print(PrintStream out, String dims, int batch, int rank, double alpha) {
        long[] d = BenchArrays.parseDims(dims, 2);
        DenseInputs inputs = DenseInputs.random((int) d[0], (int) d[1], batch, DataType.FLOAT, 'f', 42);
        out.printf(Locale.ROOT, "Dense %s (out x in), batch %d, rank %d, alpha %s, float32; conv %d->%d %dx%d on %dx%d, "
                        + "batch %d, factor %d, rank %d.%n%n", dims, batch, rank, alpha, CONV_CHANNELS, CONV_CHANNELS,
                CONV_KERNEL, CONV_KERNEL, CONV_SIZE, CONV_SIZE, CONV_BATCH, CONV_FACTOR, CONV_RANK);
        out.println("| option | layer | factors (w1 / w2) | trainable params | trainable bytes | Adam m+v bytes "
                + "| factored step: ND4J bytes (measured) | factored: analytic | factored: heap bytes "
                + "| materialized step: ND4J bytes (measured) | materialized: heap bytes | materialized: kept dW' buffer |");
        out.println("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (Variant v : new Variant[] {Variant.PLAIN, Variant.DECOMPOSE_BOTH, Variant.SCALAR, Variant.DORA}) {
            DenseStep step = new DenseStep(v.options(rank, alpha, -1), inputs, true, 7);
            Usage factored = measure(step::factored);
            Usage materialized = measure(step::materialized);
            LokrLayout layout = step.layout();
            out.println(row(v.label(), "dense " + dims, layout, fmt(factored.nd4j), fmt(analyticFactored(layout, batch)),
                    fmt(factored.heap), fmt(materialized.nd4j), fmt(materialized.heap), fmt(4L * d[0] * d[1])));
        }
        for (Variant v : new Variant[] {Variant.PLAIN, Variant.TUCKER}) {
            ConvStep step = new ConvStep(v.options(CONV_RANK, alpha, CONV_FACTOR), CONV_BATCH, CONV_CHANNELS, CONV_KERNEL,
                    CONV_SIZE, DataType.FLOAT, 42);
            Usage lokr = measure(step::lokr);
            String name = (v == Variant.TUCKER ? "tucker" : "plain") + "-conv";
            out.println(row(name, "conv " + CONV_CHANNELS + "x" + CONV_CHANNELS + "x" + CONV_KERNEL + "x" + CONV_KERNEL,
                    step.layout(), "n/a (no factored conv)", "n/a", "n/a", fmt(lokr.nd4j), fmt(lokr.heap),
                    fmt(step.weight().length() * 4L)));
        }
        out.println();
        out.println("ND4J bytes: every array created from Java during one step, outputs (y, dx) included, measured "
                + "as the allocations of an ND4J workspace the step runs in; buffers allocated inside one native op "
                + "(im2col, BLAS packing) are not included. Heap bytes: ThreadMXBean allocated bytes of the thread. "
                + "Analytic: the arrays of LokrDense's algorithm (P, Pt, Q, Qt, their gradients, dW1, w1 when low-rank, "
                + "y, dx); DoRA adds [N, out] copies and the norm arrays on top of it.");
    }

    private static String row(String name, String layer, LokrLayout layout, String... cells) {
        long params = layout.numParams();
        StringBuilder sb = new StringBuilder();
        sb.append("| ").append(name).append(" | ").append(layer).append(" | ")
                .append(mode(layout.w1Mode())).append(" [").append(layout.a()).append('x').append(layout.c()).append("] / ")
                .append(mode(layout.w2Mode())).append(" [").append(layout.b()).append('x').append(layout.d()).append("] | ")
                .append(params).append(" | ").append(fmt(4 * params)).append(" | ").append(fmt(8 * params));
        for (String c : cells) {
            sb.append(" | ").append(c);
        }
        return sb.append(" |").toString();
    }

    private static String mode(FactorMode m) {
        return m.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Bytes of the arrays the factored dense step allocates, counted from the algorithm (no DoRA extras). */
    static long analyticFactored(LokrLayout layout, long batch) {
        long r2 = layout.w2Mode() == FactorMode.LOW_RANK ? layout.rank() : layout.d();
        long floats = 0;
        if (layout.w2Mode() == FactorMode.LOW_RANK) {
            floats += batch * layout.c() * r2;              // P
        }
        floats += batch * r2 * layout.c();                  // Pt
        floats += 2 * batch * r2 * layout.a();              // Q, Qt
        floats += 2 * batch * layout.a() * r2;              // dQt, dQ
        floats += 2 * batch * r2 * layout.c();              // dPt, dP
        floats += (long) layout.a() * layout.c();           // dW1
        if (layout.w1Mode() == FactorMode.LOW_RANK) {
            floats += 2L * layout.a() * layout.c();         // w1 = w1a w1b, in forward and backward
        }
        floats += batch * (layout.outDim() + (long) layout.inDim()); // y, dx
        return 4 * floats;
    }

    private record Usage(long nd4j, long heap) {
    }

    private static Usage measure(Supplier<StepResult> step) {
        step.get();
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        WorkspaceConfiguration cfg = WorkspaceConfiguration.builder()
                .initialSize(0)
                .policyAllocation(AllocationPolicy.STRICT)
                .policyLearning(LearningPolicy.NONE)
                .policySpill(SpillPolicy.EXTERNAL)
                .build();
        long nd4j = Long.MAX_VALUE;
        long heap = Long.MAX_VALUE;
        for (int i = 0; i < REPEATS; i++) {
            long heapBefore = threads.getCurrentThreadAllocatedBytes();
            long bytes;
            try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(cfg, "lokr-memory-table")) {
                step.get();
                bytes = ws.getThisCycleAllocations();
            }
            heap = Math.min(heap, threads.getCurrentThreadAllocatedBytes() - heapBefore);
            nd4j = Math.min(nd4j, bytes);
        }
        Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
        return new Usage(nd4j, heap);
    }

    private static String fmt(long bytes) {
        if (bytes >= 1L << 20) {
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1L << 20));
        }
        if (bytes >= 1L << 10) {
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        }
        return bytes + " B";
    }
}
