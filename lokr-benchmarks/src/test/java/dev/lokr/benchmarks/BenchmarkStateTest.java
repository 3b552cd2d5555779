package dev.lokr.benchmarks;

import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * The JMH states wire the steps as documented: on a small size, each factored benchmark method gives
 * the same output and gradients as its materialized counterpart, and the merge benchmark's state
 * stays where it should.
 */
class BenchmarkStateTest {

    @ParameterizedTest(name = "weightOrder {0}")
    @ValueSource(strings = {"f", "c"})
    void trainStepMethodsAgree(String order) {
        TrainStepBenchmark b = new TrainStepBenchmark();
        b.dims = "36x48";
        b.batch = 5;
        b.rank = 2;
        b.alpha = 3;
        b.weightOrder = order;
        b.setup();
        DenseStep[] steps = b.factoredSteps();
        assertAgree("order " + order + " plain", steps[0], b.lokrFactored(), b::lokrMaterialized);
        assertAgree("order " + order + " dora", steps[3], b.lokrDora(), b::lokrDoraMaterialized);
        StepResult frozen = b.frozenBase();
        assertArrayEquals(new long[] {5, 36}, frozen.y().shape(), "order " + order + " frozen y");
        assertArrayEquals(new long[] {5, 48}, frozen.dx().shape(), "order " + order + " frozen dx");
        double[] timed = {b.lokrDecomposeBoth(), b.lokrScalar()};
        for (int i = 1; i <= 2; i++) {
            int k = i;
            double touched = steps[i].factoredInWorkspace(r -> {
                assertArrayEquals(new long[] {5, 36}, r.y().shape(), "order " + order);
                assertArrayEquals(new long[] {5, 48}, r.dx().shape(), "order " + order);
                return r.y().getDouble(0) + r.dx().getDouble(0);
            });
            assertEquals(touched, timed[k - 1], 1e-9, "order " + order + ": the timed method runs the same step");
        }
    }

    /**
     * The step in its workspace against the materialized step: every output and gradient; and the value the
     * timed benchmark method returned is the step's {@code y[0] + dx[0]}.
     */
    private static void assertAgree(String id, DenseStep factored, double timed, Supplier<StepResult> materialized) {
        double[][] out = new double[2][];
        java.util.Map<LokrParam, double[]> grads = new java.util.EnumMap<>(LokrParam.class);
        double touched = factored.factoredInWorkspace(f -> {
            out[0] = Naive.flat(f.y());
            out[1] = Naive.flat(f.dx());
            for (LokrParam p : f.grads().layout().params()) {
                grads.put(p, Naive.flat(f.grads().get(p)));   // plain Java arrays: nothing leaves the workspace
            }
            return out[0][0] + out[1][0];
        });
        assertEquals(touched, timed, 1e-9, id + ": the timed method runs the same step");
        StepResult m = materialized.get();
        assertNull(Naive.compare(id + " y", out[0], Naive.flat(m.y()), 2e-4));
        assertNull(Naive.compare(id + " dx", out[1], Naive.flat(m.dx()), 2e-4));
        assertEquals(m.grads().layout().params(), java.util.List.copyOf(grads.keySet()), id);
        for (LokrParam p : grads.keySet()) {
            assertNull(Naive.compare(id + " grad " + p.key(), grads.get(p), Naive.flat(m.grads().get(p)), 2e-4));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"36x48", "16x16x3x3"})
    void plainMergeAlternatesAndReturns(String shape) {
        MergeBenchmark b = new MergeBenchmark();
        b.shape = shape;
        b.variant = "plain";
        b.rank = 2;
        b.alpha = 3;
        b.setup();
        INDArray start = b.base().dup();
        INDArray expected = LokrWeights.effectiveWeight(b.params(), start, 1.0, null);
        double[] once = Naive.flat(b.merge());
        assertNull(Naive.compare(shape + " first merge", once, Naive.flat(expected), 1e-6));
        double[] twice = Naive.flat(b.merge());
        assertNull(Naive.compare(shape + " merge then unmerge", twice, Naive.flat(start), 1e-6));
    }

    @Test
    void doraMergeIsTheEffectiveWeight() {
        MergeBenchmark b = new MergeBenchmark();
        b.shape = "36x48";
        b.variant = "dora";
        b.rank = 2;
        b.alpha = 3;
        b.setup();
        INDArray start = b.base().dup();
        INDArray expected = LokrWeights.effectiveWeight(b.params(), start, 1.0, null);
        assertNull(Naive.compare("dora merge", Naive.flat(b.merge()), Naive.flat(expected), 1e-6));
    }

    /** The DoRA pass benchmark computes the row norms of {@code W + dW}, with and without SIMD allowed. */
    @ParameterizedTest(name = "simd {0}")
    @ValueSource(booleans = {true, false})
    void doraPassGivesTheRowNormsOfTheAdaptedWeight(boolean simd) {
        DoraPassBenchmark b = new DoraPassBenchmark();
        b.dims = "36x48";
        b.simd = simd;
        b.setup();
        double[] norms = b.pass();
        INDArray v = b.weight().castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE)
                .add(LokrWeights.deltaWeight(b.params(), 1.0, null).castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE));
        assertEquals(36, norms.length, "simd " + simd);
        for (int i = 0; i < 36; i++) {
            double expected = v.getRow(i).norm2Number().doubleValue();
            assertEquals(expected, norms[i], 1e-5 * expected, "simd " + simd + " row " + i);
        }
    }
}
