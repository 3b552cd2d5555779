package dev.lokr.benchmarks;

import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
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
 * {@link LokrWeights#merge} into a float32 weight, in place. Plain merges alternate the multiplier
 * between +1 and -1, so the weight returns to where it started every two calls (a plain {@code dW}
 * is linear in the multiplier); a DoRA merge renormalises rows to the magnitude, so repeating it
 * stays bounded.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(1)
@Warmup(iterations = 3)
@Measurement(iterations = 5)
public class MergeBenchmark {

    /** The weight, PyTorch layout: {@code out x in} or {@code out x in x kh x kw}. */
    @Param({"4096x4096", "256x256x3x3"})
    public String shape;

    /** {@code plain} or {@code dora}. */
    @Param({"plain", "dora"})
    public String variant;

    /** LoKR rank. */
    @Param("8")
    public int rank;

    /** LoKR alpha. */
    @Param("8")
    public double alpha;

    private INDArray base;
    private LokrParams params;
    private double sign;
    private boolean alternate;

    /** Allocates the weight and the module tensors. */
    @Setup(Level.Trial)
    public void setup() {
        long[] s = BenchArrays.parseDims(shape, 2, 4);
        Variant v;
        if ("plain".equals(variant)) {
            v = Variant.PLAIN;
        } else if ("dora".equals(variant)) {
            v = Variant.DORA;
        } else {
            throw new IllegalArgumentException("variant must be plain or dora, got '" + variant + "'");
        }
        base = BenchArrays.uniform(DataType.FLOAT, 'c', 1.0 / Math.sqrt((double) s[1]), 42, s);
        params = AdapterStates.midTraining(v.options(rank, alpha, -1), base, DataType.FLOAT, 7);
        alternate = v != Variant.DORA;
        sign = 1.0;
    }

    /** @return the weight being merged into (for tests) */
    INDArray base() {
        return base;
    }

    /** @return the module tensors (for tests) */
    LokrParams params() {
        return params;
    }

    /** @return the merged weight (the same array, modified in place) */
    @Benchmark
    public INDArray merge() {
        LokrWeights.merge(params, base, sign);
        if (alternate) {
            sign = -sign;
        }
        return base;
    }
}
