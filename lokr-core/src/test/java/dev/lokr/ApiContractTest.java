package dev.lokr;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.DType;
import dev.lokr.io.LycorisWriter;
import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrDense;
import dev.lokr.math.LokrDropout;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** What the public API's javadoc promises at its edges: refusals with the documented exception and a clear reason. */
class ApiContractTest {
    @TempDir Path dir;

    @Test
    void aConvShapeWhoseElementCountOverflowsALongIsRefused() {
        LokrAdapter options = LokrAdapter.builder().rank(2).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> options.layoutFor(65536, 65536, 65536, 65536));   // 2^64 wraps to 0 in a long
        assertTrue(e.getMessage().contains("more than 2^31 - 1 elements"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> options.layoutFor(46341, 46341, 1, 1));
        assertEquals(46340L * 46340, LokrAdapter.builder().build().layoutFor(46340, 46340).outDim() * 46340L);
    }

    @Test
    void assigningBetweenTensorsOfOtherShapesIsRefused() {
        LokrParams a = LokrParams.zeros(LokrAdapter.builder().rank(8).build().layoutFor(4, 6), DataType.FLOAT);
        LokrParams b = LokrParams.zeros(LokrAdapter.builder().rank(8).build().layoutFor(6, 4), DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.assign(b));
        assertTrue(e.getMessage().contains("w2 is [3, 2] there and [2, 3] here"), e.getMessage());
        // the same shapes with another scale are fine
        LokrLayout l = a.layout();
        LokrLayout scaled = LokrLayout.explicit(l.weightShape(), l.a(), l.b(), l.c(), l.d(), l.rank(), l.w1Mode(),
                l.w2Mode(), l.scale() * 3, l.scalar(), l.doraAxis(), l.detachNorm());
        LokrParams c = LokrParams.zeros(scaled, DataType.FLOAT);
        c.get(LokrParam.W1).assign(5);
        a.assign(c);
        assertEquals(5.0, a.get(LokrParam.W1).getDouble(0), 0.0);
    }

    @Test
    void dropoutProbabilitiesOutsideTheRangeAreRefused() {
        for (double p : new double[] {-1, 1, 1.5, Double.NaN}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LokrDropout.skipModule(p, () -> 0.5));
            assertTrue(e.getMessage().contains("moduleDropout must be in [0, 1), got " + p), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class,
                () -> LokrDropout.rankMask(-1, 0.5, false, DataType.FLOAT, () -> 0.5));
    }

    @Test
    void theWriterRefusesNothingToSaveAndCopyOnlyDTypes() throws Exception {
        Path f = dir.resolve("a.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(f, Map.of(), null));
        assertTrue(e.getMessage().contains("no modules to save"), e.getMessage());
        LokrParams p = LokrParams.zeros(LokrAdapter.builder().rank(2).build().layoutFor(8, 8), DataType.FLOAT);
        e = assertThrows(IllegalArgumentException.class, () -> LycorisWriter.save(f, Map.of("fc", p), null, DType.I8));
        assertTrue(e.getMessage().contains("not I8"), e.getMessage());
        assertTrue(!Files.exists(f));
    }

    @Test
    void aClosedAdapterFileStillDescribesItselfButResolvesNothing() throws Exception {
        Path f = dir.resolve("a.safetensors");
        LokrParams p = LokrParams.zeros(LokrAdapter.builder().rank(1).build().layoutFor(8, 8), DataType.FLOAT);
        p.get(LokrParam.W1).assign(1);
        LycorisWriter.save(f, Map.of("fc", p), null);
        AdapterFile file = AdapterFile.read(f);
        file.close();
        assertEquals(1, file.modules().size());
        assertEquals(1, file.moduleInfo("lycoris_fc").rank());
        assertThrows(IllegalStateException.class,
                () -> file.resolve("lycoris_fc", new long[] {8, 8}, DataType.FLOAT));
        file.close();   // idempotent
        try (AdapterFile open = AdapterFile.read(f)) {
            for (long[] shape : new long[][] {{0, 16}, {-16, 16}}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> open.resolve("lycoris_fc", shape, DataType.FLOAT));
                assertTrue(e.getMessage().contains("target weight dims must be in [1, 2^31)"), e.getMessage());
            }
        }
    }

    @Test
    void viewsOverAnIntegerBufferAndABiasOfTheWrongLengthAreRefused() {
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(8, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrParams.views(l, org.nd4j.linalg.factory.Nd4j.zeros(DataType.INT, 1000), 0));
        assertTrue(e.getMessage().contains("FLOAT or DOUBLE, got INT"), e.getMessage());
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        e = assertThrows(IllegalArgumentException.class, () -> dev.lokr.math.LokrDense.forward(p,
                org.nd4j.linalg.factory.Nd4j.zeros(DataType.FLOAT, 8, 8), org.nd4j.linalg.factory.Nd4j.zeros(
                        DataType.FLOAT, 7), org.nd4j.linalg.factory.Nd4j.zeros(DataType.FLOAT, 2, 8), 1.0, null, null));
        assertTrue(e.getMessage().contains("bias must hold out = 8 values, got [7]"), e.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"plain", "scalar", "dora", "doraOnInput", "decomposeBoth+dora+mask"})
    void anEmptyBatchGivesEmptyOutputsAndZeroGradients(String option) {
        LokrAdapter.Builder b = LokrAdapter.builder().rank(2).scalar(option.equals("scalar"));
        b.dora(option.contains("dora") || option.equals("doraOnInput")).doraOnInput(option.equals("doraOnInput"))
                .decomposeBoth(option.startsWith("decomposeBoth"));
        LokrLayout l = b.build().layoutFor(48, 32);
        LokrParams p = LokrParams.zeros(l, DataType.DOUBLE);
        INDArray w = Nd4j.rand(DataType.DOUBLE, 48, 32);
        LokrInit.initialize(p, w, 3);
        p.get(LokrParam.W2_B).assign(0.5);   // a non-zero adapter
        INDArray mask = option.endsWith("mask") ? Nd4j.ones(DataType.DOUBLE, 48) : null;
        LokrDense.Cache cache = new LokrDense.Cache();
        INDArray y = LokrDense.forward(p, w, Nd4j.ones(DataType.DOUBLE, 48), Nd4j.zeros(DataType.DOUBLE, 0, 32), 1.0,
                mask, cache);
        assertArrayEquals(new long[] {0, 48}, y.shape(), option);
        LokrParams grads = LokrParams.zeros(l, DataType.DOUBLE);
        grads.get(LokrParam.W2_B).assign(7);
        INDArray dx = LokrDense.backward(w, Nd4j.zeros(DataType.DOUBLE, 0, 48), cache, grads, true);
        assertArrayEquals(new long[] {0, 32}, dx.shape(), option);
        for (LokrParam k : l.params()) {
            assertEquals(0.0, grads.get(k).amaxNumber().doubleValue(), 0.0, option + " " + k);
        }
    }

    @Test
    void backwardChecksTheWeightTheGradientAndTheirTypes() {
        LokrLayout l = LokrAdapter.builder().rank(2).dora(true).build().layoutFor(12, 8);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        INDArray w = Nd4j.rand(DataType.FLOAT, 12, 8);
        LokrInit.initialize(p, w, 3);
        LokrDense.Cache cache = new LokrDense.Cache();
        LokrDense.forward(p, w, null, Nd4j.rand(DataType.FLOAT, 5, 8), 1.0, null, cache);
        LokrParams grads = LokrParams.zeros(l, DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrDense.backward(Nd4j.rand(DataType.FLOAT, 8, 12), Nd4j.rand(DataType.FLOAT, 5, 12), cache, grads, true));
        assertEquals("weight must be [12, 8], got [8, 12]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> LokrDense.backward(w, Nd4j.rand(DataType.FLOAT, 5, 12, 1), cache, grads, true));
        assertEquals("dy must be [5, 12], got [5, 12, 1]", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> LokrDense.backward(w, Nd4j.rand(DataType.FLOAT, 5, 12),
                cache, LokrParams.zeros(l, DataType.DOUBLE), true));
        assertEquals("grads must be FLOAT as the forward's tensors, got DOUBLE", e.getMessage());
        assertThrows(NullPointerException.class, () -> LokrDense.backward(w, null, cache, grads, true));
        assertThrows(NullPointerException.class, () -> LokrDense.forward(p, null, null, Nd4j.rand(DataType.FLOAT, 5, 8),
                1.0, null, null));
        assertThrows(NullPointerException.class, () -> LokrParams.zeros(null, DataType.FLOAT));
    }

    @Test
    void sizesThatOverflowAreRefusedNotWrapped() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrLayout.explicit(
                new long[] {4, 4, 3, 1}, 2, 2, 2, 2, Integer.MAX_VALUE, FactorMode.FULL, FactorMode.TUCKER, 1.0,
                false, DoraAxis.NONE, false));
        assertTrue(e.getMessage().contains("more than 2^31 - 1 values: rank 2147483647 is too large"), e.getMessage());
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(8, 8);
        e = assertThrows(IllegalArgumentException.class,
                () -> LokrParams.views(l, Nd4j.zeros(DataType.FLOAT, 100), Long.MAX_VALUE));
        assertTrue(e.getMessage().contains("cannot hold " + l.numParams() + " values at offset " + Long.MAX_VALUE),
                e.getMessage());
    }

    @Test
    void backwardRefusesToWriteGradientsOverTheModulesOwnTensors() {
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        INDArray w = Nd4j.rand(DataType.FLOAT, 8, 8);
        LokrDense.Cache cache = new LokrDense.Cache();
        INDArray y = LokrDense.forward(p, w, null, Nd4j.rand(DataType.FLOAT, 2, 8), 1.0, null, cache);
        INDArray before = p.get(LokrParam.W1).dup();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrDense.backward(w, Nd4j.onesLike(y), cache, p, true));
        assertTrue(e.getMessage().startsWith("grads must not be the module's own tensors"), e.getMessage());
        assertEquals(before, p.get(LokrParam.W1), "the refused call wrote nothing");
    }

    @Test
    void aCoefficientThatOverflowsIsRefusedNotTurnedIntoNaN() {
        LokrLayout l = LokrAdapter.builder().rank(1).alpha(4).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LokrWeights.coefficient(p, 1e308));
        assertTrue(e.getMessage().startsWith("the coefficient scale * multiplier is not finite: 4.0 * 1.0E308"),
                e.getMessage());
        // beyond FLOAT: the FLOAT products would hold an infinity (NaN even where dW is zero)
        IllegalArgumentException wide = assertThrows(IllegalArgumentException.class,
                () -> LokrWeights.coefficient(p, 1e38));
        assertEquals("the coefficient scale * multiplier = 4.0 * 1.0E38 = 4.0E38 is beyond FLOAT's range ("
                + Float.MAX_VALUE + ") of the module's tensors", wide.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LokrDense.forward(p, Nd4j.rand(DataType.FLOAT, 8, 8), null,
                Nd4j.rand(DataType.FLOAT, 2, 8), 1e38, null, null));
        assertEquals(4.0 * 8e37, LokrWeights.coefficient(p, 8e37));
        LokrLayout dora = LokrLayout.explicit(new long[] {8, 8}, 2, 4, 2, 4, 1, FactorMode.FULL, FactorMode.LOW_RANK,
                1e39, false, DoraAxis.OUTPUT, false);
        IllegalArgumentException doraWide = assertThrows(IllegalArgumentException.class,
                () -> LokrWeights.coefficient(LokrParams.zeros(dora, DataType.FLOAT), 1.0));
        assertEquals("the coefficient scale = 1.0E39 (DoRA leaves the multiplier out of it) is beyond FLOAT's range ("
                + Float.MAX_VALUE + ") of the module's tensors", doraWide.getMessage());
        assertEquals(4.0 * 1e300, LokrWeights.coefficient(p.castTo(DataType.DOUBLE), 1e300));
        // a diverged learned scalar is a NaN to see in the score, not an exception in the middle of fit
        LokrParams withScalar = LokrParams.zeros(LokrAdapter.builder().rank(1).alpha(4).scalar(true).build()
                .layoutFor(8, 8), DataType.FLOAT);
        withScalar.get(LokrParam.SCALAR).assign(Double.NaN);
        assertTrue(Double.isNaN(LokrWeights.coefficient(withScalar, 1.0)));
    }

    @Test
    void viewsOnlyTakeABufferTheyCanWriteThrough() {
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(8, 8);
        int n = (int) l.numParams();
        // a 2-D 'f'-order array would be copied by the reshape: writes through the views would be lost
        for (INDArray bad : new INDArray[] {Nd4j.create(DataType.FLOAT, new long[] {2, n}, 'f'),
                Nd4j.zeros(DataType.FLOAT, 2, n), Nd4j.zeros(DataType.FLOAT, 2 * n).get(
                        org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 2, 2 * n))}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrParams.views(l, bad, 0),
                    java.util.Arrays.toString(bad.shape()));
            assertTrue(e.getMessage().startsWith("flat must be a contiguous vector or [1, n] row"), e.getMessage());
        }
        for (INDArray good : new INDArray[] {Nd4j.zeros(DataType.FLOAT, n), Nd4j.zeros(DataType.FLOAT, 1, n + 3),
                Nd4j.create(DataType.FLOAT, new long[] {1, n}, 'f'),
                Nd4j.zeros(DataType.FLOAT, 1, n + 5).get(org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                        org.nd4j.linalg.indexing.NDArrayIndex.interval(2, n + 5))}) {
            LokrParams.views(l, good, 0).get(LokrParam.W1).assign(1);
            assertEquals(l.shapeOf(LokrParam.W1)[0] * l.shapeOf(LokrParam.W1)[1], good.sumNumber().doubleValue(),
                    "writes reach " + java.util.Arrays.toString(good.shape()));
        }
    }

    @Test
    void mergeRefusesANonFiniteMultiplierAndAnIntegerBase() {
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        for (double m : new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}) {
            INDArray base = Nd4j.ones(DataType.FLOAT, 8, 8);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrWeights.merge(p, base, m));
            assertEquals("multiplier must be finite, got " + m, e.getMessage());
            assertEquals(64.0, base.sumNumber().doubleValue(), 0.0, "untouched");
            assertThrows(IllegalArgumentException.class, () -> LokrDense.forward(p, base, null,
                    Nd4j.ones(DataType.FLOAT, 2, 8), m, null, null));
        }
        INDArray ints = Nd4j.ones(DataType.INT, 8, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LokrWeights.merge(p, ints, 1.0));
        assertTrue(e.getMessage().contains("floating-point type, got INT"), e.getMessage());
    }

    @Test
    void nonFloatingPointWeightsAndMismatchedFactorsAreRefusedByName() {
        LokrLayout l = LokrAdapter.builder().rank(1).build().layoutFor(4, 4);
        LokrParams p = LokrParams.zeros(l, DataType.FLOAT);
        INDArray ints = Nd4j.ones(DataType.INT32, 4, 4);
        IllegalArgumentException unmerge = assertThrows(IllegalArgumentException.class,
                () -> LokrWeights.unmerge(p, ints, 1.0));
        assertEquals("the base weight must be of a floating-point type, got INT (its unmerged values would be "
                + "truncated)", unmerge.getMessage());
        assertEquals(Nd4j.ones(DataType.INT32, 4, 4), ints, "nothing written");
        LokrParams dora = LokrParams.zeros(LokrAdapter.builder().rank(1).dora(true).build().layoutFor(4, 4),
                DataType.FLOAT);
        IllegalArgumentException init = assertThrows(IllegalArgumentException.class,
                () -> LokrInit.initialize(dora, ints, 1));
        assertEquals("the base weight must be of a floating-point type, got INT (DoRA's magnitude is its norm)",
                init.getMessage());
        IllegalArgumentException types = assertThrows(IllegalArgumentException.class,
                () -> dev.lokr.math.Kron.kron(Nd4j.ones(DataType.FLOAT, 2, 2), Nd4j.ones(DataType.DOUBLE, 2, 2)));
        assertEquals("w1 and w2 must have one data type, got FLOAT and DOUBLE", types.getMessage());
        IllegalArgumentException rank = assertThrows(IllegalArgumentException.class,
                () -> dev.lokr.math.Kron.kron(Nd4j.ones(DataType.FLOAT, 2, 2), Nd4j.ones(DataType.FLOAT, 4)));
        assertEquals("w2 must be [b, d, ...] (at least 2-D), got [4]", rank.getMessage());
    }

    @Test
    void aFileScaleBeyondFloatIsRefusedWhenResolvedAsFloat(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("huge.safetensors");
        java.util.List<dev.lokr.io.SafetensorsWriter.Tensor> ts = java.util.List.of(
                dev.lokr.io.SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                dev.lokr.io.SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 1), DType.F32),
                dev.lokr.io.SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 1, 2), DType.F32),
                dev.lokr.io.SafetensorsWriter.Tensor.of("lycoris_fc.alpha", Nd4j.scalar(1e39), DType.F64));
        dev.lokr.io.SafetensorsWriter.write(file, null, ts);
        try (AdapterFile f = AdapterFile.read(file)) {
            dev.lokr.io.AdapterFormatException e = assertThrows(dev.lokr.io.AdapterFormatException.class,
                    () -> f.resolve("lycoris_fc", new long[] {6, 4}, DataType.FLOAT));
            assertTrue(e.getMessage().contains("has scale 1.0E39, beyond FLOAT's range"), e.getMessage());
            assertEquals(1e39, f.resolve("lycoris_fc", new long[] {6, 4}, DataType.DOUBLE).layout().scale());
        }
    }
}
