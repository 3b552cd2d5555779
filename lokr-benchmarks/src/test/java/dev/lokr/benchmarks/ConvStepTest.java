package dev.lokr.benchmarks;

import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The conv steps compute what a loop convolution computes, and the LoKR conv step's module
 * gradients are the derivatives of {@code L = sum(y * dy)} (central differences, double precision).
 * 16 channels, factor 2 ({@code w1 [2, 2]}, {@code w2 [8, 8, 3, 3]}), rank 2, 5x5 input, batch 2.
 */
class ConvStepTest {

    private static final int BATCH = 2;
    private static final int CHANNELS = 16;
    private static final int KERNEL = 3;
    private static final int SIZE = 5;
    private static final int RANK = 2;
    private static final int FACTOR = 2;

    static Stream<Arguments> cases() {
        return Stream.of(Arguments.of(Variant.PLAIN, 5L), Arguments.of(Variant.PLAIN, 6L),
                Arguments.of(Variant.TUCKER, 7L), Arguments.of(Variant.TUCKER, 8L));
    }

    @ParameterizedTest(name = "{0} seed {1}")
    @MethodSource("cases")
    void stepsMatchLoopConvolution(Variant variant, long seed) {
        String id = "variant " + variant + ", seed " + seed;
        ConvStep step = new ConvStep(variant.options(RANK, 4, FACTOR), BATCH, CHANNELS, KERNEL, SIZE, DataType.DOUBLE, seed);
        assertEquals(variant == Variant.TUCKER ? FactorMode.TUCKER : FactorMode.LOW_RANK, step.layout().w2Mode(), id);
        Naive.Conv conv = new Naive.Conv(BATCH, CHANNELS, CHANNELS, SIZE, KERNEL);
        double[] x = Naive.flat(step.x());
        double[] dy = Naive.flat(step.dy());

        double[] w = Naive.flat(step.weight());
        StepResult frozen = step.frozen();
        assertNull(Naive.compare(id + " frozen y", Naive.flat(frozen.y()), conv.forward(x, w), 1e-12));
        assertNull(Naive.compare(id + " frozen dx", Naive.flat(frozen.dx()), conv.inputGradient(dy, w), 1e-12));

        double[] eff = Naive.flat(LokrWeights.effectiveWeight(step.params(), step.weight(), DenseStep.MULTIPLIER, null));
        StepResult lokr = step.lokr();
        assertNull(Naive.compare(id + " lokr y", Naive.flat(lokr.y()), conv.forward(x, eff), 1e-12));
        assertNull(Naive.compare(id + " lokr dx", Naive.flat(lokr.dx()), conv.inputGradient(dy, eff), 1e-12));
        LokrParams grads = lokr.grads().copy();

        double eps = 1e-6;
        for (LokrParam p : step.layout().params()) {
            INDArray t = step.params().get(p);
            INDArray saved = t.dup();
            INDArray dir = BenchArrays.uniform(DataType.DOUBLE, 'c', 1.0, seed * 13 + p.ordinal(), t.shape());
            t.addi(dir.mul(eps));
            double plus = loss(step, dy);
            t.assign(saved).subi(dir.mul(eps));
            double minus = loss(step, dy);
            t.assign(saved);
            double numeric = (plus - minus) / (2 * eps);
            double analytic = grads.get(p).mul(dir).sumNumber().doubleValue();
            assertTrue(Math.abs(numeric - analytic) <= 1e-6 * Math.max(1.0, Math.abs(numeric)),
                    id + " grad " + p.key() + ": analytic " + analytic + " vs numeric " + numeric);
        }
    }

    private static double loss(ConvStep step, double[] dy) {
        double[] y = Naive.flat(step.lokr().y());
        double s = 0;
        for (int i = 0; i < y.length; i++) {
            s += y[i] * dy[i];
        }
        return s;
    }
}
