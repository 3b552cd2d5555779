package dev.lokr.benchmarks;

import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The dense steps agree: factored and materialized LoKR give the same output, input gradient and
 * module gradients; the frozen step is {@code x W^T}, {@code dy W}. Small sizes (out 36 = 6 * 6,
 * in 48 = 6 * 8, rank 2, so {@code w2} and, with decomposeBoth, {@code w1} are low-rank).
 */
class DenseStepTest {

    private static final int OUT = 36;
    private static final int IN = 48;
    private static final int BATCH = 5;
    private static final int RANK = 2;
    private static final double ALPHA = 3;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 11;
        for (Variant v : new Variant[] {Variant.PLAIN, Variant.DECOMPOSE_BOTH, Variant.SCALAR, Variant.DORA}) {
            for (DataType type : new DataType[] {DataType.DOUBLE, DataType.FLOAT}) {
                for (char order : new char[] {'f', 'c'}) {
                    out.add(Arguments.of(v, type, order, seed++));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} {1} order {2} seed {3}")
    @MethodSource("cases")
    void factoredMatchesMaterialized(Variant variant, DataType type, char order, long seed) {
        String id = "variant " + variant + ", type " + type + ", order " + order + ", seed " + seed;
        DenseInputs inputs = DenseInputs.random(OUT, IN, BATCH, type, order, seed);
        DenseStep step = new DenseStep(variant.options(RANK, ALPHA, -1), inputs, true, seed + 100);
        LokrLayout layout = step.layout();
        assertEquals(FactorMode.LOW_RANK, layout.w2Mode(), id + ": w2 must be low-rank for the test to cover that path");
        assertEquals(variant == Variant.DECOMPOSE_BOTH ? FactorMode.LOW_RANK : FactorMode.FULL, layout.w1Mode(), id);

        StepResult f = step.factored();
        double[] fy = Naive.flat(f.y());
        double[] fdx = Naive.flat(f.dx());
        LokrParams fGrads = f.grads().copy();
        StepResult m = step.materialized();
        double tol = type == DataType.DOUBLE ? 1e-10 : 2e-4;
        assertNull(Naive.compare(id + " y", fy, Naive.flat(m.y()), tol));
        assertNull(Naive.compare(id + " dx", fdx, Naive.flat(m.dx()), tol));
        double total = 0;
        for (LokrParam p : layout.params()) {
            double[] expected = Naive.flat(m.grads().get(p));
            assertNull(Naive.compare(id + " grad " + p.key(), Naive.flat(fGrads.get(p)), expected, tol));
            for (double e : expected) {
                total += Math.abs(e);
            }
        }
        assertTrue(total > 0, id + ": every gradient is zero, the comparison would be vacuous");
    }

    @ParameterizedTest(name = "{0} {1} order {2} seed {3}")
    @MethodSource("cases")
    void workspaceStepMatchesThePlainStep(Variant variant, DataType type, char order, long seed) {
        String id = "variant " + variant + ", type " + type + ", order " + order + ", seed " + seed;
        DenseInputs inputs = DenseInputs.random(OUT, IN, BATCH, type, order, seed);
        try (DenseStep step = new DenseStep(variant.options(RANK, ALPHA, -1), inputs, false, seed + 100)) {
            StepResult plain = step.factored();
            double[] y = Naive.flat(plain.y());
            double[] dx = Naive.flat(plain.dx());
            LokrParams grads = plain.grads().copy();
            double tol = type == DataType.DOUBLE ? 1e-12 : 1e-6;
            // the first step learns the workspace's size, the second runs in its memory
            for (int k = 0; k < 2; k++) {
                String run = id + ", workspace step " + k;
                double touched = step.factoredInWorkspace(ws -> {
                    assertNull(Naive.compare(run + " y", Naive.flat(ws.y()), y, tol));
                    assertNull(Naive.compare(run + " dx", Naive.flat(ws.dx()), dx, tol));
                    for (LokrParam p : step.layout().params()) {
                        assertNull(Naive.compare(run + " grad " + p.key(), Naive.flat(ws.grads().get(p)),
                                Naive.flat(grads.get(p)), tol));
                    }
                    return 0.0;
                });
                assertEquals(0.0, touched);
                assertEquals(y[0] + dx[0], step.factoredInWorkspace(), tol * (1 + Math.abs(y[0]) + Math.abs(dx[0])),
                        run + ": the timed step reads the first output and input-gradient values");
            }
            assertTrue(step.workspaceBytes() > 0, id + ": the step's arrays must come from its workspace");
            step.close();
            assertEquals(0L, step.workspaceBytes(), id + ": close() must free the workspace");
        }
    }

    @ParameterizedTest(name = "order {0} seed {1}")
    @MethodSource("frozenCases")
    void frozenIsTwoGemms(char order, long seed) {
        String id = "order " + order + ", seed " + seed;
        DenseInputs inputs = DenseInputs.random(OUT, IN, BATCH, DataType.DOUBLE, order, seed);
        DenseStep step = new DenseStep(Variant.PLAIN.options(RANK, ALPHA, -1), inputs, false, seed);
        StepResult r = step.frozen();
        double[] w = Naive.flat(inputs.weight());
        double[] y = Naive.matmulT(Naive.flat(inputs.x()), w, BATCH, IN, OUT);
        double[] dx = Naive.matmul(Naive.flat(inputs.dy()), w, BATCH, OUT, IN);
        assertNull(Naive.compare(id + " y", Naive.flat(r.y()), y, 1e-12));
        assertNull(Naive.compare(id + " dx", Naive.flat(r.dx()), dx, 1e-12));
        assertNull(r.grads(), id + ": a frozen step has no gradients");
    }

    static Stream<Arguments> frozenCases() {
        return Stream.of(Arguments.of('f', 3L), Arguments.of('c', 4L));
    }

    @Test
    void materializedWithoutBufferIsRejected() {
        DenseInputs inputs = DenseInputs.random(OUT, IN, BATCH, DataType.FLOAT, 'f', 1);
        DenseStep step = new DenseStep(Variant.PLAIN.options(RANK, ALPHA, -1), inputs, false, 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, step::materialized);
        assertTrue(e.getMessage().contains("materialized = true"), e.getMessage());
    }

    @Test
    void badInputsAreRejectedWithTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DenseInputs.random(OUT, IN, BATCH, DataType.FLOAT, 'x', 1));
        assertTrue(e.getMessage().contains("'x'"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchArrays.parseDims("4096by4096", 2));
        assertTrue(e.getMessage().contains("4096by4096"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> BenchArrays.parseDims("4096x4096x3", 2, 4));
        assertTrue(e.getMessage().contains("4096x4096x3"), e.getMessage());
    }
}
