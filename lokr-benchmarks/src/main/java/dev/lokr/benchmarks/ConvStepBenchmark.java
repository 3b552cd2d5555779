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
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * One training step of one float32 conv layer ({@code channels -> channels}, {@code k x k}, stride 1,
 * same padding): the frozen layer against plain and Tucker LoKR, which build the effective weight
 * once per step (see {@link ConvStep}). With the defaults (64 channels, factor 4, rank 4) the
 * factors are {@code w1 [4, 4]} and {@code w2 [16, 16, 3, 3]}, stored low-rank (plain: {@code w2a [16, 4]},
 * {@code w2b [4, 144]}) or as a Tucker core ({@code t2 [4, 4, 3, 3]}, {@code w2a [4, 16]}, {@code w2b [4, 16]}).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3)
@Measurement(iterations = 5)
public class ConvStepBenchmark {

    /** Input and output channels. */
    @Param("64")
    public int channels;

    /** Kernel size. */
    @Param("3")
    public int kernel;

    /** Height and width of the input. */
    @Param("32")
    public int size;

    /** Batch size (named apart from {@link TrainStepBenchmark#batch}, so that {@code -p batch=...} leaves it alone). */
    @Param("16")
    public int convBatch;

    /** LoKR rank; must be below {@code max(b, d) / 2} for a low-rank or Tucker {@code w2}. */
    @Param("4")
    public int rank;

    /** LoKR factorization limit. */
    @Param("4")
    public int factor;

    /** LoKR alpha. */
    @Param("8")
    public double alpha;

    private ConvStep plain;
    private ConvStep tucker;

    /** Allocates inputs, module tensors and buffers. */
    @Setup(Level.Trial)
    public void setup() {
        plain = new ConvStep(Variant.PLAIN.options(rank, alpha, factor), convBatch, channels, kernel, size, DataType.FLOAT, 42);
        tucker = new ConvStep(Variant.TUCKER.options(rank, alpha, factor), convBatch, channels, kernel, size, DataType.FLOAT, 42);
    }

    /** @return the frozen step: forward and input gradient only */
    @Benchmark
    public StepResult frozenBase() {
        return plain.frozen();
    }

    /** @return the plain LoKR conv step */
    @Benchmark
    public StepResult lokrPlain() {
        return plain.lokr();
    }

    /** @return the Tucker LoKR conv step */
    @Benchmark
    public StepResult lokrTucker() {
        return tucker.lokr();
    }
}
