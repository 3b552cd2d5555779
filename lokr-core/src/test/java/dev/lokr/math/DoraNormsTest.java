package dev.lokr.math;

import dev.lokr.LokrAdapter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Seeded randomized tests of the output-axis row kernel of {@link DoraNorms} against naive sums, and of
 * its three ways of reading the weight (FLOAT rows, DOUBLE rows, a strided view) against each other.
 */
class DoraNormsTest {

    /** One row-kernel case: {@code c} blocks of {@code d} and the offsets into the shared arrays. */
    record RowCase(long seed, int c, int d, int w1o, int w2o, int ao, int vo) {
    }

    static List<RowCase> rowCases() {
        Random r = new Random(20261128L);
        List<RowCase> list = new ArrayList<>();
        for (int n = 0; n < 300; n++) {
            list.add(new RowCase(r.nextLong(), 1 + r.nextInt(13), 1 + r.nextInt(13), r.nextInt(5), r.nextInt(5),
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
        double[] a = new double[c];
        double[] v = new double[d];
        double sq = 0;
        for (int k = 0; k < c; k++) {
            for (int l = 0; l < d; l++) {
                double m = rowD[k * d + l];
                a[k] += m * w2[rc.w2o() + l];
                v[l] += w1[rc.w1o() + k] * m;
                sq += m * m;
            }
        }
        String msg = rc.toString();
        for (int twin = 0; twin < 2; twin++) {
            double[] aOut = sentinels(rc.ao() + c + 3);
            double[] vOut = sentinels(rc.vo() + d + 3);
            double got = twin == 0
                    ? DoraNorms.outputRow(rowD, c, d, w1, rc.w1o(), w2, rc.w2o(), aOut, rc.ao(), vOut, rc.vo())
                    : DoraNorms.outputRow(rowF, c, d, w1, rc.w1o(), w2, rc.w2o(), aOut, rc.ao(), vOut, rc.vo());
            String which = msg + (twin == 0 ? " double row" : " float row");
            assertEquals(sq, got, 1e-12 * (1 + sq), which);
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
