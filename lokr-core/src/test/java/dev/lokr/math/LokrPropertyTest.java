package dev.lokr.math;

import dev.lokr.math.LokrCases.Case;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Seeded randomized property tests: every path of the core against the naive reference
 * ({@link NaiveLokr}: triple-loop Kronecker product, materialized {@code dW}) and against each other.
 */
class LokrPropertyTest {

    static List<Case> denseCases() {
        return LokrCases.cases(20261128L, 300, false);
    }

    static List<Case> convCases() {
        return LokrCases.cases(4242L, 120, true);
    }

    @ParameterizedTest
    @MethodSource({"denseCases", "convCases"})
    void layoutFollowsTheSpec(Case c) {
        LokrLayout l = c.options().layoutFor(c.shape());
        int[] outSplit = bruteFactor((int) c.shape()[0], c.options().factor());
        int[] inSplit = bruteFactor((int) c.shape()[1], c.options().factor());
        int a = c.options().unbalancedFactorization() ? outSplit[1] : outSplit[0];
        int b = c.options().unbalancedFactorization() ? outSplit[0] : outSplit[1];
        assertEquals(a, l.a(), c.toString());
        assertEquals(b, l.b(), c.toString());
        assertEquals(inSplit[0], l.c(), c.toString());
        assertEquals(inSplit[1], l.d(), c.toString());
        int r = c.options().rank();
        boolean full = c.options().fullMatrix();
        FactorMode w1 = c.options().decomposeBoth() && r < Math.max(a, inSplit[0]) / 2.0 && !full ? FactorMode.LOW_RANK : FactorMode.FULL;
        boolean bigKernel = c.shape().length == 4 && c.shape()[2] * c.shape()[3] > 1;
        FactorMode w2 = r >= Math.max(b, inSplit[1]) / 2.0 || full ? FactorMode.FULL
                : c.options().tucker() && bigKernel ? FactorMode.TUCKER : FactorMode.LOW_RANK;
        assertEquals(w1, l.w1Mode(), c.toString());
        assertEquals(w2, l.w2Mode(), c.toString());
        double alpha = c.options().alpha() == 0 ? r : c.options().alpha();
        double s = w1 == FactorMode.FULL && w2 == FactorMode.FULL ? 1.0
                : c.options().rsLora() ? alpha / Math.sqrt(r) : alpha / r;
        assertEquals(s, l.scale(), 1e-15, c.toString());
    }

    @ParameterizedTest
    @MethodSource({"denseCases", "convCases"})
    void initGivesZeroDelta(Case c) {
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        INDArray base = LokrCases.random(new Random(c.seed()), DataType.DOUBLE, c.shape());
        LokrInit.initialize(p, base, c.seed());
        INDArray dW = LokrWeights.deltaWeight(p, c.multiplier(), null);
        assertEquals(0.0, dW.amaxNumber().doubleValue(), 0.0, c.toString());
        // and the trainable factors are not all zero: training can move
        double total = 0;
        for (INDArray v : p.asMap().values()) {
            total += v.amaxNumber().doubleValue();
        }
        assertEquals(true, total > 0, c.toString());
        // which tensors are zero, and the kaiming bound 1/sqrt(fanIn), fanIn = size(1) * prod(size(2..))
        for (LokrParam k : l.params()) {
            INDArray v = p.get(k);
            double amax = v.amaxNumber().doubleValue();
            if (k == LokrParam.SCALAR) {
                assertEquals(0.0, amax, 0.0, c + ": the scalar starts at 0");
            } else if (k != LokrParam.MAGNITUDE) {
                boolean zero = !l.scalar() && (k == LokrParam.W2 || k == LokrParam.W2_B);
                double bound = 1.0 / Math.sqrt((double) v.length() / v.size(0));
                if (zero) {
                    assertEquals(0.0, amax, 0.0, c + ": " + k + " starts at 0");
                } else {
                    assertTrue(amax > 0 && amax <= bound * (1 + 1e-12), c + ": " + k + " " + Arrays.toString(v.shape())
                            + " max " + amax + ", kaiming bound " + bound);
                    if (v.length() >= 30) {
                        assertTrue(amax > 0.5 * bound, c + ": " + k + " max " + amax + " far below the bound " + bound);
                    }
                }
            }
        }
        if (l.dora()) {
            // W' == W at step 0 with multiplier 1
            INDArray eff = LokrWeights.effectiveWeight(p, base, 1.0, null);
            assertClose(NaiveLokr.flat(base), NaiveLokr.flat(eff), 1e-6, c + " dora init");
        }
    }

    @ParameterizedTest
    @MethodSource({"denseCases", "convCases"})
    void materializedMatchesNaiveAndMergeRoundTrips(Case c) {
        Random r = new Random(c.seed());
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        INDArray base = LokrCases.random(r, DataType.DOUBLE, c.shape());
        INDArray mask = c.mask() ? LokrCases.mask(r, l.outDim(), DataType.DOUBLE) : null;
        double[] maskArr = mask == null ? null : NaiveLokr.flat(mask);

        assertClose(NaiveLokr.delta(p, c.multiplier(), maskArr),
                NaiveLokr.flat(LokrWeights.deltaWeight(p, c.multiplier(), mask)), 1e-10, c + " deltaWeight");
        double[] eff = NaiveLokr.effective(p, NaiveLokr.flat(base), c.multiplier(), maskArr);
        assertClose(eff, NaiveLokr.flat(LokrWeights.effectiveWeight(p, base, c.multiplier(), mask)), 1e-10, c + " effective");

        INDArray merged = base.dup();
        LokrWeights.merge(p, merged, c.multiplier());
        assertClose(NaiveLokr.effective(p, NaiveLokr.flat(base), c.multiplier(), null), NaiveLokr.flat(merged), 1e-10,
                c + " merge");
        if (l.dora()) {
            assertThrows(UnsupportedOperationException.class, () -> LokrWeights.unmerge(p, merged, c.multiplier()));
        } else {
            LokrWeights.unmerge(p, merged, c.multiplier());
            assertClose(NaiveLokr.flat(base), NaiveLokr.flat(merged), 1e-10, c + " unmerge");
        }
    }

    @ParameterizedTest
    @MethodSource("denseCases")
    void factoredDenseMatchesMaterialized(Case c) {
        Random r = new Random(c.seed() + 1);
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        INDArray baseValues = LokrCases.random(r, DataType.DOUBLE, c.shape());
        INDArray weight = LokrCases.weight(baseValues, c.transposedView());
        INDArray bias = LokrCases.random(r, DataType.DOUBLE, l.outDim());
        int n = 1 + r.nextInt(5);
        INDArray x = LokrCases.random(r, DataType.DOUBLE, n, l.inDim());
        INDArray mask = c.mask() ? LokrCases.mask(r, l.outDim(), DataType.DOUBLE) : null;

        LokrDense.Cache cache = new LokrDense.Cache();
        INDArray y = LokrDense.forward(p, weight, bias, x, c.multiplier(), mask, cache);
        INDArray eff = LokrWeights.effectiveWeight(p, baseValues, c.multiplier(), mask);
        INDArray yRef = x.mmul(eff.transpose()).addiRowVector(bias);
        assertClose(NaiveLokr.flat(yRef), NaiveLokr.flat(y), 1e-9, c + " forward");

        INDArray dy = LokrCases.random(r, DataType.DOUBLE, n, l.outDim());
        LokrParams grads = LokrParams.zeros(l, DataType.DOUBLE);
        INDArray dx = LokrDense.backward(weight, dy, cache, grads, true);
        LokrParams gradsRef = LokrParams.zeros(l, DataType.DOUBLE);
        LokrWeights.backward(p, baseValues, c.multiplier(), mask, dy.transpose().mmul(x), gradsRef);
        for (LokrParam key : l.params()) {
            assertClose(NaiveLokr.flat(gradsRef.get(key)), NaiveLokr.flat(grads.get(key)), 1e-8, c + " grad " + key.key());
        }
        assertClose(NaiveLokr.flat(dy.mmul(eff)), NaiveLokr.flat(dx), 1e-9, c + " dx");
        // the frozen weight is untouched
        assertClose(NaiveLokr.flat(baseValues), NaiveLokr.flat(weight), 0, c + " weight modified");
    }

    @ParameterizedTest
    @MethodSource("denseCases")
    void aFloatAdapterMergesIntoADoubleWeightInDouble(Case c) {
        Random r = new Random(c.seed() + 4);
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        LokrParams p32 = p.castTo(DataType.FLOAT);
        INDArray base = LokrCases.random(r, DataType.DOUBLE, c.shape());
        INDArray merged = base.dup();
        LokrWeights.merge(p32, merged, c.multiplier());
        // the same float32 tensors, widened exactly: the merge must not round the double weight to float
        INDArray expected = LokrWeights.effectiveWeight(p32.castTo(DataType.DOUBLE), base, c.multiplier(), null);
        assertClose(NaiveLokr.flat(expected), NaiveLokr.flat(merged), 1e-12, c + " merge in double");
        if (!l.dora()) {
            LokrWeights.unmerge(p32, merged, c.multiplier());
            assertClose(NaiveLokr.flat(base), NaiveLokr.flat(merged), 1e-12, c + " unmerge in double");
        }
    }

    /**
     * The FLOAT dense step (which takes the SIMD DoRA pass in these tests) against the DOUBLE one on the same
     * values: output, input gradient and every tensor's gradient, each within 1e-3 of its largest magnitude.
     */
    @ParameterizedTest
    @MethodSource("denseCases")
    void float32GradientsAgreeWithFloat64(Case c) {
        Random r = new Random(c.seed() + 5);
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        LokrParams p32 = p.castTo(DataType.FLOAT);
        p = p32.castTo(DataType.DOUBLE);          // the same values in both precisions
        INDArray base = LokrCases.random(r, DataType.DOUBLE, c.shape()).castTo(DataType.FLOAT).castTo(DataType.DOUBLE);
        INDArray x = LokrCases.random(r, DataType.DOUBLE, 3, l.inDim()).castTo(DataType.FLOAT).castTo(DataType.DOUBLE);
        INDArray dy = LokrCases.random(r, DataType.DOUBLE, 3, l.outDim()).castTo(DataType.FLOAT).castTo(DataType.DOUBLE);
        LokrDense.Cache c64 = new LokrDense.Cache();
        INDArray y64 = LokrDense.forward(p, base, null, x, c.multiplier(), null, c64);
        LokrParams g64 = LokrParams.zeros(l, DataType.DOUBLE);
        INDArray dx64 = LokrDense.backward(base, dy, c64, g64, true);
        LokrDense.Cache c32 = new LokrDense.Cache();
        INDArray y32 = LokrDense.forward(p32, base.castTo(DataType.FLOAT), null, x.castTo(DataType.FLOAT),
                c.multiplier(), null, c32);
        LokrParams g32 = LokrParams.zeros(l, DataType.FLOAT);
        INDArray dx32 = LokrDense.backward(base.castTo(DataType.FLOAT), dy.castTo(DataType.FLOAT), c32, g32, true);
        assertCloseInNorm(y64, y32, c + " y");
        assertCloseInNorm(dx64, dx32, c + " dx");
        for (LokrParam key : l.params()) {
            assertCloseInNorm(g64.get(key), g32.get(key), c + " grad " + key.key());
        }
    }

    private static void assertCloseInNorm(INDArray expected, INDArray actual, String msg) {
        double[] e = NaiveLokr.flat(expected);
        double[] a = NaiveLokr.flat(actual.castTo(DataType.DOUBLE));
        double scale = 1.0;
        for (double v : e) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < e.length; i++) {
            if (!(Math.abs(e[i] - a[i]) <= 1e-3 * scale)) {
                fail(msg + ": at " + i + " expected " + e[i] + " got " + a[i] + " (largest magnitude " + scale + ")");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("denseCases")
    void float32AgreesWithFloat64(Case c) {
        Random r = new Random(c.seed() + 2);
        LokrLayout l = c.options().layoutFor(c.shape());
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        LokrCases.randomize(p, c.seed());
        INDArray base = LokrCases.random(r, DataType.DOUBLE, c.shape());
        INDArray x = LokrCases.random(r, DataType.DOUBLE, 3, l.inDim());
        INDArray y64 = LokrDense.forward(p, base, null, x, c.multiplier(), null, null);
        LokrParams p32 = p.castTo(DataType.FLOAT);
        INDArray y32 = LokrDense.forward(p32, base.castTo(DataType.FLOAT), null, x.castTo(DataType.FLOAT), c.multiplier(), null, null);
        assertEquals(DataType.FLOAT, y32.dataType(), c.toString());
        assertClose(NaiveLokr.flat(y64), NaiveLokr.flat(y32), 2e-4, c + " float32");
        INDArray eff32 = LokrWeights.effectiveWeight(p32, base.castTo(DataType.FLOAT), c.multiplier(), null);
        assertEquals(DataType.FLOAT, eff32.dataType(), c.toString());
    }

    @ParameterizedTest
    @MethodSource("denseCases")
    void kronMatchesTripleLoopAndAdjointIsItsTranspose(Case c) {
        Random r = new Random(c.seed() + 3);
        LokrLayout l = c.options().layoutFor(c.shape());
        INDArray w1 = LokrCases.random(r, DataType.DOUBLE, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.DOUBLE, l.b(), l.d());
        INDArray k = Kron.kron(w1, w2);
        assertArrayEquals(new long[] {l.outDim(), l.inDim()}, k.shape(), c.toString());
        assertClose(NaiveLokr.kron(NaiveLokr.flat(w1), NaiveLokr.flat(w2), l.a(), l.b(), l.c(), l.d(), 1),
                NaiveLokr.flat(k), 0, c + " kron");
        // <g, kron(w1, w2)> == <dW1, w1> == <dW2, w2> (bilinear)
        INDArray g = LokrCases.random(r, DataType.DOUBLE, l.outDim(), l.inDim());
        INDArray[] adj = Kron.adjoint(g, w1, w2);
        double lhs = g.mul(k).sumNumber().doubleValue();
        assertEquals(lhs, adj[0].mul(w1).sumNumber().doubleValue(), 1e-9 * (1 + Math.abs(lhs)), c.toString());
        assertEquals(lhs, adj[1].mul(w2).sumNumber().doubleValue(), 1e-9 * (1 + Math.abs(lhs)), c.toString());
    }

    /** Trailing dims of any number ride on w2: a 1-D conv kernel {@code [b, d, k]} as a 2-D one. */
    @ParameterizedTest
    @MethodSource("denseCases")
    void kronCarriesAnyTrailingDimsOfW2(Case c) {
        Random r = new Random(c.seed() + 5);
        LokrLayout l = c.options().layoutFor(c.shape());
        int k = 1 + r.nextInt(3);
        INDArray w1 = LokrCases.random(r, DataType.DOUBLE, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.DOUBLE, l.b(), l.d(), k);
        INDArray kr = Kron.kron(w1, w2);
        assertArrayEquals(new long[] {l.outDim(), l.inDim(), k}, kr.shape(), c + " k=" + k);
        assertClose(NaiveLokr.kron(NaiveLokr.flat(w1), NaiveLokr.flat(w2), l.a(), l.b(), l.c(), l.d(), k),
                NaiveLokr.flat(kr), 0, c + " k=" + k);
        INDArray[] adj = Kron.adjoint(LokrCases.random(r, DataType.DOUBLE, l.outDim(), l.inDim(), k), w1, w2);
        assertArrayEquals(w2.shape(), adj[1].shape(), c + " k=" + k);
    }

    /** Brute force over divisors: the split the spec's loop arrives at, stated without the loop. */
    static int[] bruteFactor(int dim, int factor) {
        if (factor > 0 && dim % factor == 0) {
            return new int[] {Math.min(factor, dim / factor), Math.max(factor, dim / factor)};
        }
        int limit = factor == -1 ? dim : factor;
        int smallestAtLeastRoot = -1;
        int largestWithinLimit = 1;
        for (int m = 1; m <= dim; m++) {
            if (dim % m != 0) {
                continue;
            }
            if (m <= limit) {
                largestWithinLimit = Math.max(largestWithinLimit, m);
            }
            if (smallestAtLeastRoot < 0 && (long) m * m >= dim && m > 1) {
                smallestAtLeastRoot = m;
            }
        }
        int m = dim == 1 ? 1 : smallestAtLeastRoot <= limit ? smallestAtLeastRoot : largestWithinLimit;
        int n = dim / m;
        return new int[] {Math.min(m, n), Math.max(m, n)};
    }

    static void assertClose(double[] expected, double[] actual, double tol, String msg) {
        if (expected.length != actual.length) {
            fail(msg + ": length " + actual.length + " != " + expected.length);
        }
        for (int i = 0; i < expected.length; i++) {
            double scale = Math.max(1.0, Math.abs(expected[i]));
            if (!(Math.abs(expected[i] - actual[i]) <= tol * scale)) {
                fail(msg + ": at " + i + " expected " + expected[i] + " got " + actual[i] + " (tol " + tol + ") "
                        + Arrays.toString(Arrays.copyOf(actual, Math.min(8, actual.length))));
            }
        }
    }
}
