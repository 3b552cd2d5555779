package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Seeded randomized tests of the output-axis row kernels of {@link DoraNorms} (scalar and SIMD) against
 * naive sums, of its three ways of reading the weight (FLOAT rows, DOUBLE rows, a strided view) against
 * each other, and of the SIMD pass against the scalar one.
 */
class DoraNormsTest {

    /**
     * lokr-core's tests run with {@code --add-modules jdk.incubator.vector}, so that the SIMD kernel is
     * tested; the kernel tests below need only the module. Whether the pass uses it also depends on the
     * VM and the hardware ({@link SimdSupport}), so the pass test assumes it.
     */
    @Test
    void theVectorModuleIsInTheseTests() {
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
                "lokr-core's surefire argLine lost --add-modules jdk.incubator.vector");
        assertTrue(VectorRows.lanes() >= 1, "lanes " + VectorRows.lanes());
    }

    /** {@code d} up to 70: below, at and above multiples of any lane count (4 to 16). */
    static List<RowCase> vectorRowCases() {
        return rowCases(20261129L, 9, 70);
    }

    /**
     * The SIMD kernel against sums in double of the same float values, within the float error bound of a
     * sum of {@code n} products in any order ({@link #gamma}) times the sum of absolute terms, and no slot
     * outside the row written.
     */
    @ParameterizedTest
    @MethodSource("vectorRowCases")
    void vectorRowMatchesNaiveSums(RowCase rc) {
        Random r = new Random(rc.seed());
        int c = rc.c();
        int d = rc.d();
        float[] row = new float[c * d];
        for (int j = 0; j < row.length; j++) {
            row[j] = (float) r.nextGaussian();
        }
        float[] w1 = new float[rc.w1o() + c + 2];
        float[] w2 = new float[rc.w2o() + d + 2];
        for (int j = 0; j < w1.length; j++) {
            w1[j] = (float) r.nextGaussian();
        }
        for (int j = 0; j < w2.length; j++) {
            w2[j] = (float) r.nextGaussian();
        }
        double rowScale = r.nextInt(4) == 0 ? 0.0 : r.nextGaussian();   // s times the row's mask
        double[] a = new double[c];
        double[] aAbs = new double[c];
        double[] v = new double[d];
        double[] vAbs = new double[d];
        double sq = 0;
        double sqAbs = 0;
        for (int k = 0; k < c; k++) {
            for (int l = 0; l < d; l++) {
                double m = row[k * d + l];
                a[k] += m * w2[rc.w2o() + l];
                aAbs[k] += Math.abs(m * w2[rc.w2o() + l]);
                v[l] += w1[rc.w1o() + k] * m;
                vAbs[l] += Math.abs(w1[rc.w1o() + k] * m);
                double delta = rowScale * w1[rc.w1o() + k] * w2[rc.w2o() + l];
                sq += (m + delta) * (m + delta);
                sqAbs += (Math.abs(m) + 2 * Math.abs(delta)) * (Math.abs(m) + 2 * Math.abs(delta));
            }
        }
        double[] aOut = sentinels(rc.ao() + c + 3);
        double[] vOut = sentinels(rc.vo() + d + 3);
        float[] scratch = new float[d + 5];
        java.util.Arrays.fill(scratch, Float.NaN);   // the kernel must clear what it accumulates into
        // the row sits in a direct buffer between NaNs, at a float offset of 0 to 4: reading outside it shows
        int at = rc.vo();
        ByteBuffer bytes = ByteBuffer.allocateDirect((at + row.length + 3) * Float.BYTES).order(ByteOrder.nativeOrder());
        for (int j = 0; j < at + row.length + 3; j++) {
            bytes.putFloat(j * Float.BYTES, j >= at && j < at + row.length ? row[j - at] : Float.NaN);
        }
        double got = VectorRows.outputRow(bytes, at * Float.BYTES, c, d, w1, rc.w1o(), w2, rc.w2o(), aOut, rc.ao(),
                vOut, rc.vo(), scratch, rowScale);
        String msg = rc + " lanes " + VectorRows.lanes() + " row scale " + rowScale;
        // each W + dW rounded once (its coefficient once more) moves its square by at most 2u (|W| + 2|dW|)^2; the
        // float sums of the squares add (n + 2) u of the sum
        assertEquals(sq, got, gamma(4 * d + VectorRows.lanes() + 2) * sqAbs + 1e-30, msg + " ||W_i + dW_i||^2");
        checkSlots(a, aAbs, gamma(d), aOut, rc.ao(), msg + " A");
        checkSlots(v, vAbs, gamma(c), vOut, rc.vo(), msg + " V");
    }

    /** One row-kernel case: {@code c} blocks of {@code d} and the offsets into the shared arrays. */
    record RowCase(long seed, int c, int d, int w1o, int w2o, int ao, int vo) {
    }

    static List<RowCase> rowCases() {
        return rowCases(20261128L, 13, 13);
    }

    /** 300 cases from {@code seed}: {@code c} in {@code [1, maxC]}, {@code d} in {@code [1, maxD]}, offsets below 5. */
    private static List<RowCase> rowCases(long seed, int maxC, int maxD) {
        Random r = new Random(seed);
        List<RowCase> list = new ArrayList<>();
        for (int n = 0; n < 300; n++) {
            list.add(new RowCase(r.nextLong(), 1 + r.nextInt(maxC), 1 + r.nextInt(maxD), r.nextInt(5), r.nextInt(5),
                    r.nextInt(5), r.nextInt(5)));
        }
        return list;
    }

    @ParameterizedTest
    @MethodSource("rowCases")
    void outputRowMatchesNaiveSums(RowCase rc) {
        Random r = new Random(rc.seed());
        int c = rc.c();
        int d = rc.d();
        float[] rowF = new float[c * d];
        double[] rowD = new double[c * d];
        for (int j = 0; j < rowF.length; j++) {
            rowF[j] = (float) r.nextGaussian();
            rowD[j] = rowF[j];
        }
        double[] w1 = gaussian(r, rc.w1o() + c + 2);
        double[] w2 = gaussian(r, rc.w2o() + d + 2);
        double rowScale = r.nextInt(4) == 0 ? 0.0 : r.nextGaussian();   // s times the row's mask
        double[] a = new double[c];
        double[] v = new double[d];
        double sq = 0;
        double sqAbs = 0;
        for (int k = 0; k < c; k++) {
            for (int l = 0; l < d; l++) {
                double m = rowD[k * d + l];
                a[k] += m * w2[rc.w2o() + l];
                v[l] += w1[rc.w1o() + k] * m;
                double delta = rowScale * w1[rc.w1o() + k] * w2[rc.w2o() + l];
                sq += (m + delta) * (m + delta);
                sqAbs += (Math.abs(m) + 2 * Math.abs(delta)) * (Math.abs(m) + 2 * Math.abs(delta));
            }
        }
        String msg = rc + " row scale " + rowScale;
        for (int twin = 0; twin < 2; twin++) {
            double[] aOut = sentinels(rc.ao() + c + 3);
            double[] vOut = sentinels(rc.vo() + d + 3);
            double got = twin == 0
                    ? DoraNorms.outputRow(rowD, c, d, w1, rc.w1o(), w2, rc.w2o(), aOut, rc.ao(), vOut, rc.vo(), rowScale)
                    : DoraNorms.outputRow(rowF, c, d, w1, rc.w1o(), w2, rc.w2o(), aOut, rc.ao(), vOut, rc.vo(), rowScale);
            String which = msg + (twin == 0 ? " double row" : " float row");
            assertEquals(sq, got, 1e-12 * (1 + sqAbs), which);
            checkSlots(a, aOut, rc.ao(), which + " A");
            checkSlots(v, vOut, rc.vo(), which + " V");
        }
    }

    static List<LokrCases.Case> doraCases() {
        List<LokrCases.Case> list = new ArrayList<>();
        for (LokrCases.Case c : LokrCases.cases(777L, 400, false)) {
            if (c.options().dora() && !c.options().doraOnInput()) {
                list.add(c);
            }
        }
        return list;
    }

    @ParameterizedTest
    @MethodSource("doraCases")
    void floatDoubleAndStridedWeightsGiveTheSameNormsAndGradients(LokrCases.Case c) {
        LokrAdapter options = c.options();
        LokrLayout l = options.layoutFor(c.shape());
        Random r = new Random(c.seed());
        INDArray weightF = LokrCases.random(r, DataType.FLOAT, c.shape());
        INDArray weightD = weightF.castTo(DataType.DOUBLE);
        INDArray strided = weightD.transpose().dup('c').transpose();
        INDArray w1 = LokrCases.random(r, DataType.DOUBLE, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.DOUBLE, l.b(), l.d());
        INDArray mask = c.mask() ? LokrCases.mask(r, l.outDim(), DataType.DOUBLE) : null;
        double s = 0.75;
        double[] g = gaussian(r, l.outDim());
        DoraNorms ref = DoraNorms.compute(l, weightD, w1, w2, mask, s, true);
        double[][] refGrad = ref.backward(weightD, g);
        for (INDArray w : new INDArray[] {weightF, strided}) {
            String msg = c + " weight " + w.dataType() + " strides " + java.util.Arrays.toString(w.stride());
            DoraNorms got = DoraNorms.compute(l, w, w1, w2, mask, s, true);
            assertClose(ref.norms(), got.norms(), msg + " norms");
            double[][] grad = got.backward(w, g);
            for (int t = 0; t < refGrad.length; t++) {
                assertClose(refGrad[t], grad[t], msg + " gradient " + t);
            }
            DoraNorms inference = DoraNorms.compute(l, w, w1, w2, mask, s, false);
            assertClose(ref.norms(), inference.norms(), msg + " norms without gradient");
        }
    }

    /** The SIMD pass (FLOAT weight and factors) against the scalar pass, within float rounding. */
    @ParameterizedTest
    @MethodSource("doraCases")
    void simdPassMatchesTheScalarPass(LokrCases.Case c) {
        assumeTrue(SimdSupport.ENABLED, "SIMD kernels are off on this VM or machine (see SimdSupport)");
        LokrLayout l = c.options().layoutFor(c.shape());
        Random r = new Random(c.seed());
        INDArray weight = LokrCases.random(r, DataType.FLOAT, c.shape());
        INDArray w1 = LokrCases.random(r, DataType.FLOAT, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.FLOAT, l.b(), l.d());
        INDArray mask = c.mask() ? LokrCases.mask(r, l.outDim(), DataType.FLOAT) : null;
        double s = 0.75;
        double[] g = gaussian(r, l.outDim());
        DoraNorms ref = DoraNorms.compute(l, weight, w1, w2, mask, s, true, false);
        DoraNorms got = DoraNorms.compute(l, weight, w1, w2, mask, s, true, true);
        String msg = c + " lanes " + VectorRows.lanes();
        assertNearNormsAndGradients(ref, ref.backward(weight, g), got, weight, g, msg);
        assertNear(ref.norms(), DoraNorms.compute(l, weight, w1, w2, mask, s, false, true).norms(),
                msg + " norms without gradient");
    }

    /** A weight that an adapter nearly cancels: {@code W = -dW + residual * N(0, 1)}, so {@code ||W + dW|| << ||W||}. */
    record CancellingCase(long seed, int out, int in, boolean inputAxis, boolean mask, DataType type, double residual) {
    }

    static List<CancellingCase> cancellingCases() {
        Random r = new Random(20261130L);
        int[][] shapes = {{64, 64}, {96, 48}, {256, 256}, {20, 300}, {1024, 64}};
        List<CancellingCase> list = new ArrayList<>();
        for (int[] shape : shapes) {
            for (double residual : new double[] {1e-2, 1e-3, 1e-4}) {
                for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                    list.add(new CancellingCase(r.nextLong(), shape[0], shape[1], r.nextBoolean(), r.nextBoolean(), type,
                            residual));
                }
            }
        }
        return list;
    }

    /**
     * The norms of {@code V = W + dW} where {@code dW} nearly cancels {@code W} (row norms of {@code V} 100 to
     * 10^4 times below those of {@code W}), against sums in double of the same values, by the SIMD pass and the
     * scalar one. The bound is what forming {@code V} in the weight's type and summing its squares can cost:
     * each value of {@code V} is off by at most {@code u (|W| + 2 |dW|)} (the coefficient {@code s M w1} and
     * {@code V} itself rounded once each), which moves the norm by at most {@code u || |W| + 2 |dW| ||}, and the
     * sum of {@code n} squares is off by at most {@code (n + 2) u} of itself, half that on its root ({@code n} at
     * most {@code 4 d} plus the lanes in the SIMD kernel; {@code u = 2^-24} for FLOAT, {@code 2^-53} for
     * DOUBLE); twice both is allowed. Expanding {@code ||W||^2 + 2 <W, dW> + ||dW||^2} instead loses
     * {@code (||W|| / ||V||)^2} relative digits to cancellation.
     */
    @ParameterizedTest
    @MethodSource("cancellingCases")
    void normsWhereTheDeltaNearlyCancelsTheWeightKeepTheirPrecision(CancellingCase cc) {
        LokrLayout l = LokrAdapter.builder().rank(1).fullMatrix(true).dora(true).doraOnInput(cc.inputAxis()).seed(1)
                .build().layoutFor(cc.out(), cc.in());
        Random r = new Random(cc.seed());
        DataType type = cc.type();
        INDArray w1 = LokrCases.random(r, type, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, type, l.b(), l.d());
        INDArray mask = cc.mask() ? LokrCases.mask(r, l.outDim(), type) : null;
        double s = 0.75;
        double[] f1 = w1.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] f2 = w2.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] m = mask == null ? null : mask.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        int out = l.outDim();
        int in = l.inDim();
        double[] delta = new double[out * in];
        double[] w = new double[out * in];
        for (int i = 0; i < out; i++) {
            int p = i / l.b();
            int q = i % l.b();
            for (int k = 0; k < l.c(); k++) {
                for (int j = 0; j < l.d(); j++) {
                    int at = i * in + k * l.d() + j;
                    delta[at] = s * (m == null ? 1.0 : m[i]) * f1[p * l.c() + k] * f2[q * l.d() + j];
                    w[at] = -delta[at] + cc.residual() * r.nextGaussian();
                }
            }
        }
        INDArray weight = Nd4j.create(w, new long[] {out, in}, DataType.DOUBLE).castTo(type);
        w = weight.castTo(DataType.DOUBLE).dup('c').data().asDouble();   // the values as the weight holds them
        int units = cc.inputAxis() ? in : out;
        double[] sq = new double[units];
        double[] absSq = new double[units];
        for (int i = 0; i < out; i++) {
            for (int j = 0; j < in; j++) {
                int u = cc.inputAxis() ? j : i;
                double v = w[i * in + j] + delta[i * in + j];
                double a = Math.abs(w[i * in + j]) + 2 * Math.abs(delta[i * in + j]);
                sq[u] += v * v;
                absSq[u] += a * a;
            }
        }
        double unit = type == DataType.FLOAT ? 0x1p-24 : 0x1p-53;
        double sumBound = (4 * l.d() + 64 + 2) * unit;
        for (boolean simd : new boolean[] {false, true}) {
            double[] got = DoraNorms.compute(l, weight, w1, w2, mask, s, false, simd).norms();
            for (int u = 0; u < units; u++) {
                double want = Math.sqrt(sq[u]);
                double bound = 2 * (unit * Math.sqrt(absSq[u]) + sumBound / 2 * want) + Double.MIN_NORMAL;
                assertEquals(want, got[u], bound, cc + (simd ? " SIMD" : " scalar") + " lanes " + VectorRows.lanes()
                        + ": norm " + u + " (||W + dW|| / ||W|| about " + cc.residual() + ")");
            }
        }
    }

    /**
     * A FLOAT weight whose values are finite but whose squares are not ({@code |w| > 1.8e19}, squares beyond
     * {@code Float.MAX_VALUE}): each pass gives the finite norm (about {@code 3e19 sqrt(in)}), within float
     * precision of the double sum, not an infinity (which made the DoRA ratio and the row's output 0).
     */
    @Test
    void rowsWhoseFloatSquaresOverflowGetFiniteNorms() {
        LokrLayout l = LokrAdapter.builder().rank(1).fullMatrix(true).dora(true).seed(1).build().layoutFor(8, 64);
        Random r = new Random(11);
        INDArray weight = LokrCases.random(r, DataType.FLOAT, 8, 64);
        weight.getRow(3).muli(3e19);
        weight.getRow(5).muli(1e19);
        INDArray w1 = LokrCases.random(r, DataType.FLOAT, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.FLOAT, l.b(), l.d());
        double s = 0.75;
        double[] w = weight.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] f1 = w1.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] f2 = w2.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        for (boolean simd : new boolean[] {false, true}) {
            double[] got = DoraNorms.compute(l, weight, w1, w2, null, s, true, simd).norms();
            for (int i = 0; i < 8; i++) {
                double sq = 0;
                for (int k = 0; k < l.c(); k++) {
                    for (int j = 0; j < l.d(); j++) {
                        double v = w[i * 64 + k * l.d() + j] + s * f1[(i / l.b()) * l.c() + k] * f2[(i % l.b()) * l.d() + j];
                        sq += v * v;
                    }
                }
                double want = Math.sqrt(sq);
                assertEquals(want, got[i], 1e-5 * want, (simd ? "SIMD" : "scalar") + " lanes " + VectorRows.lanes()
                        + ": norm of row " + i);
            }
        }
    }

    /**
     * The SIMD pass reads the weight's buffer in place: a weight that is a view at a non-zero offset (rows of
     * a larger array) and DL4J's dense weight (an {@code 'f'} {@code [nIn, nOut]} view at an offset into the
     * flattened parameters, transposed) give what the scalar pass gives on a compact copy.
     */
    @ParameterizedTest
    @MethodSource("doraCases")
    void simdPassReadsViewsAtTheirOffset(LokrCases.Case c) {
        assumeTrue(SimdSupport.ENABLED, "SIMD kernels are off on this VM or machine (see SimdSupport)");
        LokrLayout l = c.options().layoutFor(c.shape());
        Random r = new Random(c.seed());
        INDArray big = LokrCases.random(r, DataType.FLOAT, l.outDim() + 3, l.inDim());
        INDArray view = big.get(NDArrayIndex.interval(2, 2 + l.outDim()), NDArrayIndex.all());
        // as DL4J holds a dense W: an 'f'-order [nIn, nOut] view at an offset into the flat parameters (NaN around)
        long len = (long) l.outDim() * l.inDim();
        INDArray flat = Nd4j.valueArrayOf(new long[] {1, len + 13}, Float.NaN, DataType.FLOAT);
        INDArray stored = flat.get(NDArrayIndex.point(0), NDArrayIndex.interval(7, 7 + len)).reshape('f', l.inDim(),
                l.outDim());
        stored.assign(view.transpose());
        INDArray dl4j = stored.transpose();
        INDArray w1 = LokrCases.random(r, DataType.FLOAT, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.FLOAT, l.b(), l.d());
        double s = 0.75;
        double[] g = gaussian(r, l.outDim());
        DoraNorms ref = DoraNorms.compute(l, view.dup('c'), w1, w2, null, s, true, false);
        double[][] refGrad = ref.backward(view, g);
        for (INDArray w : new INDArray[] {view, dl4j}) {
            String msg = c + " offset " + w.offset() + " order " + w.ordering() + " lanes " + VectorRows.lanes();
            assertTrue(w.stride(1) == 1 && (w == view || w.offset() == 7), msg);
            assertNearNormsAndGradients(ref, refGrad, DoraNorms.compute(l, w, w1, w2, null, s, true, true), w, g, msg);
        }
    }

    /**
     * On the output axis the backward reads what the pass kept for it; norms computed without a gradient
     * (inference) keep nothing, and their backward is refused with a message, not a NullPointerException.
     */
    @Test
    void anOutputAxisBackwardAfterAPassWithoutGradientIsRefused() {
        LokrCases.Case c = doraCases().get(0);
        LokrLayout l = c.options().layoutFor(c.shape());
        Random r = new Random(c.seed());
        INDArray weight = LokrCases.random(r, DataType.DOUBLE, c.shape());
        INDArray w1 = LokrCases.random(r, DataType.DOUBLE, l.a(), l.c());
        INDArray w2 = LokrCases.random(r, DataType.DOUBLE, l.b(), l.d());
        DoraNorms inference = DoraNorms.compute(l, weight, w1, w2, null, 0.75, false);
        double[] g = gaussian(r, l.outDim());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> inference.backward(weight, g));
        assertTrue(e.getMessage().contains("computed without a gradient"), e.getMessage());
    }

    /** {@code got}'s norms, and its gradient for {@code g} over {@code weight}, near {@code ref}'s. */
    private static void assertNearNormsAndGradients(DoraNorms ref, double[][] refGrad, DoraNorms got, INDArray weight,
                                                    double[] g, String msg) {
        assertNear(ref.norms(), got.norms(), msg + " norms");
        double[][] grad = got.backward(weight, g);
        for (int t = 0; t < refGrad.length; t++) {
            assertNear(refGrad[t], grad[t], msg + " gradient " + t);
        }
    }

    /**
     * Within float rounding: {@code 2e-5} of each value plus {@code 1e-5} of the largest, since a value that
     * is a sum with cancellation carries the rounding of its larger terms.
     */
    private static void assertNear(double[] expected, double[] actual, String msg) {
        assertEquals(expected.length, actual.length, msg);
        double scale = 0;
        for (double e : expected) {
            scale = Math.max(scale, Math.abs(e));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 2e-5 * Math.abs(expected[i]) + 1e-5 * scale + 1e-30,
                    msg + " [" + i + "]");
        }
    }

    private static double[] gaussian(Random r, int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = r.nextGaussian();
        }
        return x;
    }

    private static double[] sentinels(int n) {
        double[] x = new double[n];
        java.util.Arrays.fill(x, Double.NaN);
        return x;
    }

    /**
     * {@code (n + 2) u}, {@code u = 2^-24}: a bound on the relative error, against the sum of absolute
     * terms, of {@code n} float products summed in any order.
     */
    private static double gamma(int n) {
        return (n + 2) * 0x1p-24;
    }

    /** {@code out[off ..]} equals {@code expected} within {@code rel * abs}; every other slot is still NaN. */
    private static void checkSlots(double[] expected, double[] abs, double rel, double[] out, int off, String msg) {
        for (int i = 0; i < out.length; i++) {
            if (i < off || i >= off + expected.length) {
                assertTrue(Double.isNaN(out[i]), msg + ": slot " + i + " outside the row was written");
            } else {
                double e = expected[i - off];
                assertEquals(e, out[i], rel * abs[i - off] + 1e-30, msg + " [" + (i - off) + "]");
            }
        }
    }

    /** {@code out[off ..]} equals {@code expected}; every other slot is still NaN. */
    private static void checkSlots(double[] expected, double[] out, int off, String msg) {
        for (int i = 0; i < out.length; i++) {
            if (i < off || i >= off + expected.length) {
                assertTrue(Double.isNaN(out[i]), msg + ": slot " + i + " outside the row was written");
            } else {
                double e = expected[i - off];
                assertEquals(e, out[i], 1e-12 * (1 + Math.abs(e)), msg + " [" + (i - off) + "]");
            }
        }
    }

    private static void assertClose(double[] expected, double[] actual, String msg) {
        assertEquals(expected.length, actual.length, msg);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 1e-12 * (1 + Math.abs(expected[i])), msg + " [" + i + "]");
        }
    }
}
