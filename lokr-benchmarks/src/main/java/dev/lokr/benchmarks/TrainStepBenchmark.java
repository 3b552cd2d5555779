package dev.lokr.benchmarks;

import org.nd4j.linalg.api.buffer.DataType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * One training step of one float32 dense layer (forward, then backward to the input and to every
 * trainable tensor), frozen base against the LoKR variants. See {@link DenseStep} for what each
 * way computes. The frozen step writes into preallocated outputs; the LoKR steps take their arrays from
 * an ND4J workspace, as DL4J runs a layer ({@link DenseStep#factoredInWorkspace()},
 * {@link DenseStep#materializedInWorkspace()}); the materialized steps compute the Python references' default
 * forward, {@code x W^T + x (W' - W)^T}, and its backward.
 *
 * <p>Targets: {@code lokrFactored / frozenBase <= 1.10}, {@code lokrDora / frozenBase <= 1.15},
 * {@code lokrMaterialized / lokrFactored >= 3}. Example:
 * {@code java -jar benchmarks.jar TrainStepBenchmark -p dims=4096x4096 -p batch=256 -f 1 -wi 2 -i 5}. The fork
 * adds {@code --add-modules=jdk.incubator.vector}, so that DoRA's pass over the weight runs on SIMD lanes, as
 * it does in an application started with that flag.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
// the SIMD DoRA row kernel runs only with the Vector API module (dev.lokr.math.SimdSupport)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
@Warmup(iterations = 3)
@Measurement(iterations = 5)
public class TrainStepBenchmark {

    /** {@code out x in} of the weight. */
    @Param({"1024x1024", "4096x4096"})
    public String dims;

    /** Rows of {@code x}. */
    @Param({"64", "256"})
    public int batch;

    /** LoKR rank. */
    @Param("8")
    public int rank;

    /** LoKR alpha. */
    @Param("8")
    public double alpha;

    /** Memory order of the stored {@code [in, out]} weight: 'f' is DL4J's dense layout, 'c' the other. */
    @Param("f")
    public String weightOrder;

    private DenseStep plain;
    private DenseStep decomposeBoth;
    private DenseStep scalar;
    private DenseStep dora;

    /** Allocates the shared inputs, the module tensors of every variant and all buffers. */
    @Setup(Level.Trial)
    public void setup() {
        long[] d = BenchArrays.parseDims(dims, 2);
        if (weightOrder.length() != 1) {
            throw new IllegalArgumentException("weightOrder must be 'c' or 'f', got '" + weightOrder + "'");
        }
        DenseInputs inputs = DenseInputs.random((int) d[0], (int) d[1], batch, DataType.FLOAT, weightOrder.charAt(0), 42);
        plain = new DenseStep(Variant.PLAIN.options(rank, alpha, -1), inputs, true, 7);
        decomposeBoth = new DenseStep(Variant.DECOMPOSE_BOTH.options(rank, alpha, -1), inputs, false, 7);
        scalar = new DenseStep(Variant.SCALAR.options(rank, alpha, -1), inputs, false, 7);
        dora = new DenseStep(Variant.DORA.options(rank, alpha, -1), inputs, true, 7);
    }

    /** @return the step objects of the factored methods, in the order plain, decomposeBoth, scalar, DoRA (for tests) */
    DenseStep[] factoredSteps() {
        return new DenseStep[] {plain, decomposeBoth, scalar, dora};
    }

    /** Frees the factored steps' workspaces (those of the calling thread). */
    @TearDown(Level.Trial)
    public void tearDown() {
        for (DenseStep step : factoredSteps()) {
            step.close();
        }
    }

    /** @return the frozen step ({@code y = x W^T}, {@code dx = dy W}) */
    @Benchmark
    public StepResult frozenBase() {
        return plain.frozen();
    }

    /**
     * Runs the plain LoKR step, factored, in its workspace.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrFactored() {
        return plain.factoredInWorkspace();
    }

    /**
     * Runs the plain LoKR step building {@code W'} every step, its temporaries in a workspace as the
     * factored steps' are.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrMaterialized() {
        return plain.materializedInWorkspace();
    }

    /**
     * Runs the step with both factors low-rank, factored, in its workspace.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrDecomposeBoth() {
        return decomposeBoth.factoredInWorkspace();
    }

    /**
     * Runs the step with a learned scalar, factored, in its workspace.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrScalar() {
        return scalar.factoredInWorkspace();
    }

    /**
     * Runs the DoRA step, factored, in its workspace.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrDora() {
        return dora.factoredInWorkspace();
    }

    /**
     * Runs the DoRA step building {@code W'} every step, its temporaries in a workspace.
     *
     * @return {@code y[0] + dx[0]} of the step
     */
    @Benchmark
    public double lokrDoraMaterialized() {
        return dora.materializedInWorkspace();
    }

    /**
     * @param v a variant
     * @return the name of the factored benchmark method that times it
     */
    static String methodOf(Variant v) {
        switch (v) {
            case PLAIN:
                return "lokrFactored";
            case DECOMPOSE_BOTH:
                return "lokrDecomposeBoth";
            case SCALAR:
                return "lokrScalar";
            case DORA:
                return "lokrDora";
            default:
                throw new IllegalArgumentException("no dense benchmark method for " + v);
        }
    }
}
