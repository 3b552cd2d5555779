package dev.lokr.benchmarks;

import dev.lokr.math.FactorMode;
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
import static org.junit.jupiter.api.Assertions.assertTrue;

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
        // each state runs the variant its method is named for
        assertTrue(!steps[0].layout().scalar() && !steps[0].layout().dora()
                && steps[0].layout().w1Mode() != FactorMode.LOW_RANK, "plain: " + steps[0].layout());
        assertEquals(FactorMode.LOW_RANK, steps[1].layout().w1Mode(), "decomposeBoth: " + steps[1].layout());
        assertTrue(steps[2].layout().scalar() && !steps[2].layout().dora(), "scalar: " + steps[2].layout());
        assertTrue(steps[3].layout().dora() && !steps[3].layout().scalar(), "dora: " + steps[3].layout());
        assertAgree("order " + order + " plain", steps[0], b.lokrFactored(), steps[0]::materialized);
        assertAgree("order " + order + " dora", steps[3], b.lokrDora(), steps[3]::materialized);
        for (int i : new int[] {0, 3}) {
            StepResult m = steps[i].materialized();
            double expected = m.y().getDouble(0) + m.dx().getDouble(0);
            double timed = i == 0 ? b.lokrMaterialized() : b.lokrDoraMaterialized();
            assertEquals(expected, timed, 1e-9, "order " + order + ": the timed materialized method runs the step");
        }
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

    @Test
    void pairedRatiosNameTheirMethodsAndTakeTheMedian() {
        assertEquals(java.util.List.of("lokrFactored", "lokrDecomposeBoth", "lokrScalar", "lokrDora"),
                java.util.Arrays.stream(PairedRatios.VARIANTS).map(TrainStepBenchmark::methodOf).toList());
        assertEquals(2.0, PairedRatios.median(new double[] {3, 1, 2}));
        assertEquals(2.5, PairedRatios.median(new double[] {4, 1, 3, 2}));
        assertEquals(7.0, PairedRatios.median(new double[] {7}));
    }

    @Test
    void chartRowsKeepSettingsThatDifferApart() {
        java.util.Map<String, Object> f = java.util.Map.of("dims", "4096x4096", "batch", "256", "rank", "8",
                "weightOrder", "f");
        java.util.Map<String, Object> c = java.util.Map.of("dims", "4096x4096", "batch", "256", "rank", "8",
                "weightOrder", "c");
        assertEquals("4096x4096 b256", ResultsChart.setting(f, java.util.List.of(f, f)));
        assertEquals("4096x4096 b256 weightOrder=c", ResultsChart.setting(c, java.util.List.of(f, c)));
        assertEquals("4096x4096 b256 weightOrder=f", ResultsChart.setting(f, java.util.List.of(f, c)));
    }
}
