package dev.lokr.benchmarks;

import dev.lokr.math.DoraPassProbe;
import dev.lokr.math.LokrParams;
import org.nd4j.linalg.api.buffer.DataType;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
 * DoRA's pass over the frozen float32 weight alone (output axis, with what the gradient needs, DL4J's
 * weight layout, rank 8, alpha 8): the SIMD row kernel ({@code simd=true}) against the scalar loops
 * ({@code simd=false}). The fork adds {@code --add-modules=jdk.incubator.vector}; without it, or where
 * the SIMD kernel is off, both settings run the scalar loops. Example:
 * {@code java -jar benchmarks.jar DoraPassBenchmark -f 1 -wi 3 -i 5}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = "--add-modules=jdk.incubator.vector")
@Warmup(iterations = 3)
@Measurement(iterations = 5)
public class DoraPassBenchmark {

    /** {@code out x in} of the weight. */
    @Param("4096x4096")
    public String dims;

    /** Whether the SIMD row kernel may run. */
    @Param({"true", "false"})
    public boolean simd;

    private DenseInputs inputs;
    private LokrParams params;

    /** Builds the weight and mid-training DoRA factors. */
    @Setup
    public void setup() {
        long[] d = BenchArrays.parseDims(dims, 2);
        inputs = DenseInputs.random((int) d[0], (int) d[1], 1, DataType.FLOAT, 'f', 42);
        params = AdapterStates.midTraining(Variant.DORA.options(8, 8, -1), inputs.weight(), DataType.FLOAT, 7);
    }

    LokrParams params() {
        return params;
    }

    org.nd4j.linalg.api.ndarray.INDArray weight() {
        return inputs.weight();
    }

    /** @return the norms, so that JMH keeps the pass */
    @Benchmark
    public double[] pass() {
        return DoraPassProbe.pass(params, inputs.weight(), simd);
    }
}
