package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Writers refuse what a reader would have to refuse, and merges refuse weights that would turn
 * non-finite: NaN and infinite factors, values beyond the file dtype's range, and merged weights
 * that overflow the base tensor's dtype.
 */
class NonFiniteWritesTest {
    @TempDir Path dir;

    /** A module with w1 [2, 2], low-rank w2 [4, 1] x [1, 4], all finite and non-zero. */
    private static LokrParams params(boolean dora) {
        LokrLayout layout = LokrAdapter.builder().rank(1).alpha(1).factor(2).dora(dora).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(layout, DataType.FLOAT);
        for (LokrParam param : layout.params()) {
            INDArray v = p.get(param);
            v.assign(Nd4j.linspace(DataType.FLOAT, 1, v.length(), 1).reshape(v.shape()).div(v.length()));
        }
        return p;
    }

    @ParameterizedTest
    @EnumSource(value = LokrParam.class, names = {"W1", "W2_A", "W2_B", "MAGNITUDE"})
    void aNonFiniteTensorIsRefusedAndNothingIsWritten(LokrParam param) throws Exception {
        for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}) {
            LokrParams p = params(true);
            p.get(param).putScalar(3, bad);
            Path target = dir.resolve("a.safetensors");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LycorisWriter.save(target, Map.of("fc", p), null));
            String suffix = Map.of(LokrParam.W1, "lokr_w1", LokrParam.W2_A, "lokr_w2_a", LokrParam.W2_B, "lokr_w2_b",
                    LokrParam.MAGNITUDE, "dora_scale").get(param);
            assertTrue(e.getMessage().contains("lycoris_fc." + suffix), e.getMessage());
            assertTrue(e.getMessage().contains("non-finite value (" + bad + " at flat index 3)"), e.getMessage());
            assertFalse(Files.exists(target), "a refused save leaves no file");
            assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
        }
    }

    @Test
    void aValueBeyondF16IsRefusedForF16AndSavedInWiderDTypes() throws Exception {
        LokrParams p = params(false);
        p.get(LokrParam.W2_B).putScalar(2, 70000.0);
        Path target = dir.resolve("a.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(target, Map.of("fc", p), null, DType.F16));
        assertTrue(e.getMessage().contains("lycoris_fc.lokr_w2_b"), e.getMessage());
        assertTrue(e.getMessage().contains("70000.0 at flat index 2, beyond the range of F16"), e.getMessage());
        assertTrue(e.getMessage().contains("wider dtype"), e.getMessage());
        assertFalse(Files.exists(target));
        for (DType wide : new DType[] {DType.BF16, DType.F32, DType.F64}) {
            LycorisWriter.save(target, Map.of("fc", p), null, wide);
            try (AdapterFile f = AdapterFile.read(target)) {
                LokrParams back = f.resolve("lycoris_fc", new long[] {8, 8}, DataType.DOUBLE);
                assertEquals(70000.0, back.get(LokrParam.W2_B).getDouble(2), 70000.0 / 128, wide.toString());
            }
        }
    }

    @Test
    void aTensorEntirelyBelowTheSmallestNormalIsRefusedForThatDTypeAndSavedInWiderOnes() throws Exception {
        // F16 keeps 2e-8 as zero and 3e-5 as a subnormal with 9 significant bits: the adapter would shrink silently
        for (double tiny : new double[] {2e-8, 3e-5, -5e-5}) {
            LokrParams p = params(false);
            p.get(LokrParam.W2_B).muli(tiny);
            Path target = dir.resolve("a.safetensors");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LycorisWriter.save(target, Map.of("fc", p), null, DType.F16), "scale " + tiny);
            assertTrue(e.getMessage().contains("lycoris_fc.lokr_w2_b"), e.getMessage());
            assertTrue(e.getMessage().contains("below the smallest normal F16 value (6.103515625E-5)"), e.getMessage());
            assertTrue(e.getMessage().contains("wider dtype"), e.getMessage());
            assertFalse(Files.exists(target));
            assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
            for (DType wide : new DType[] {DType.BF16, DType.F32, DType.F64}) {
                LycorisWriter.save(target, Map.of("fc", p), null, wide);
                try (AdapterFile f = AdapterFile.read(target)) {
                    LokrParams back = f.resolve("lycoris_fc", new long[] {8, 8}, DataType.DOUBLE);
                    double want = p.get(LokrParam.W2_B).getDouble(3);
                    assertEquals(want, back.get(LokrParam.W2_B).getDouble(3), Math.abs(want) / 128, wide + " " + tiny);
                }
            }
            Files.delete(target);
        }
        // a maximum that rounds up to F16's smallest normal is kept as a normal value
        LokrParams edge = params(false);
        edge.get(LokrParam.W2_B).assign(0).putScalar(0, 6.1034e-5);
        LycorisWriter.save(dir.resolve("edge.safetensors"), Map.of("fc", edge), null, DType.F16);
        // only a narrower range counts: a FLOAT tensor's subnormals are F32's too, a DOUBLE one's are not
        LokrParams floats = params(false);
        floats.get(LokrParam.W2_B).assign(0).putScalar(0, 1e-40);
        LycorisWriter.save(dir.resolve("f32.safetensors"), Map.of("fc", floats), null, DType.F32);
        LokrParams doubles = LokrParams.zeros(floats.layout(), DataType.DOUBLE);
        for (LokrParam param : floats.layout().params()) {
            doubles.get(param).assign(floats.get(param).castTo(DataType.DOUBLE));
        }
        doubles.get(LokrParam.W2_B).putScalar(0, 1e-300);
        IllegalArgumentException narrow = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(dir.resolve("d32.safetensors"), Map.of("fc", doubles), null, DType.F32));
        assertTrue(narrow.getMessage().contains("below the smallest normal F32 value")
                && narrow.getMessage().contains("save with a wider dtype (F64)"), narrow.getMessage());
        IllegalArgumentException bf16 = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(dir.resolve("dbf.safetensors"), Map.of("fc", doubles), null, DType.BF16));
        assertTrue(bf16.getMessage().contains("below the smallest normal BF16 value"), bf16.getMessage());
        LycorisWriter.save(dir.resolve("d64.safetensors"), Map.of("fc", doubles), null, DType.F64);
        assertEquals(0x1p-14, DType.F16.smallestNormal());
        assertEquals(Float.MIN_NORMAL, DType.BF16.smallestNormal());
        assertEquals(Float.MIN_NORMAL, DType.F32.smallestNormal());
        assertEquals(Double.MIN_NORMAL, DType.F64.smallestNormal());
        // a tensor reaching the normal range saves in F16 even when some of its values are tiny, and zeros save
        LokrParams p = params(false);
        p.get(LokrParam.W2_B).putScalar(0, 1e-9);
        p.get(LokrParam.W1).assign(0);
        LycorisWriter.save(dir.resolve("b.safetensors"), Map.of("fc", p), null, DType.F16);
        assertTrue(Files.exists(dir.resolve("b.safetensors")));
    }

    @Test
    void aTinyFoldedScalarIsRefusedForF16() throws Exception {
        // early in training the scalar g is tiny: folded into lokr_w1 it would vanish in F16
        LokrLayout layout = LokrAdapter.builder().rank(1).alpha(1).factor(2).scalar(true).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(layout, DataType.FLOAT);
        for (LokrParam param : layout.params()) {
            p.get(param).assign(1.0);
        }
        p.get(LokrParam.SCALAR).assign(1e-8);
        Path target = dir.resolve("a.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(target, Map.of("fc", p), null, DType.F16));
        assertTrue(e.getMessage().contains("'lycoris_fc.lokr_w1'"), e.getMessage());
        assertTrue(e.getMessage().contains("folded scale and scalar"), e.getMessage());
        LycorisWriter.save(target, Map.of("fc", p), null, DType.F32);
        p.get(LokrParam.SCALAR).assign(0);
        LycorisWriter.save(target, Map.of("fc", p), null, DType.F16);
    }

    @Test
    void theFoldedScalarCountsAgainstTheRange() throws Exception {
        // the scalar g is folded into lokr_w1: w1 of ones times g = 1e5 is beyond F16
        LokrLayout layout = LokrAdapter.builder().rank(1).alpha(1).factor(2).scalar(true).build().layoutFor(8, 8);
        LokrParams p = LokrParams.zeros(layout, DataType.FLOAT);
        for (LokrParam param : layout.params()) {
            p.get(param).assign(1.0);
        }
        p.get(LokrParam.SCALAR).assign(1e5);
        Path target = dir.resolve("a.safetensors");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LycorisWriter.save(target, Map.of("fc", p), null, DType.F16));
        assertTrue(e.getMessage().contains("lycoris_fc.lokr_w1"), e.getMessage());
        assertTrue(e.getMessage().contains("100000.0 at flat index 0"), e.getMessage());
        assertTrue(e.getMessage().contains("folded scale and scalar"), e.getMessage());
        p.get(LokrParam.SCALAR).assign(0.05);
        LycorisWriter.save(target, Map.of("fc", p), null, DType.F16);
        assertTrue(Files.exists(target));
    }

    /** A LyCORIS module 'lycoris_l' for an [8, 8] weight: full w1 [2, 2] of ones, w2 [4, 1] x [1, 4] of ones. */
    private Path adapter(double alpha) throws Exception {
        return adapter(alpha, 1);
    }

    /** {@link #adapter(double)} with w1 filled with {@code w1}. */
    private Path adapter(double alpha, double w1) throws Exception {
        Path file = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("lycoris_l.lokr_w1",
                        Nd4j.valueArrayOf(new long[] {2, 2}, w1, DataType.FLOAT), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_l.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 4, 1), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_l.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 1, 4), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_l.alpha", Nd4j.scalar(alpha), DType.F64)));
        return file;
    }

    private Path base(DType dtype, double value) throws Exception {
        Path file = dir.resolve("base.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("l.weight", Nd4j.valueArrayOf(new long[] {8, 8}, value, DataType.DOUBLE),
                        dtype),
                SafetensorsWriter.Tensor.of("l.bias", Nd4j.zeros(DataType.FLOAT, 8), DType.F32)));
        return file;
    }

    @Test
    void aMergeThatOverflowsInDoubleIsRefused() throws Exception {
        Path base = base(DType.F32, 0.5);
        Path out = dir.resolve("merged.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base, adapter(1.5e308, 4), out, 1.0, null));
        assertTrue(e.getMessage().contains("module 'lycoris_l'"), e.getMessage());
        assertTrue(e.getMessage().contains("base tensor 'l.weight' [8, 8] F32"), e.getMessage());
        assertTrue(e.getMessage().contains("non-finite value (Infinity at flat index 0)"), e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void aMergeBeyondTheBaseDTypeIsRefused() throws Exception {
        // F16 base of 60000, delta 10000 per element (scale 1e4 / 1): 70000 does not fit F16 but does fit BF16
        Path out = dir.resolve("merged.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base(DType.F16, 60000), adapter(1e4), out, 1.0, null));
        assertTrue(e.getMessage().contains("70000.0 at flat index 0, beyond the range of F16"), e.getMessage());
        assertFalse(Files.exists(out));
        AdapterMerge.mergeFile(base(DType.BF16, 60000), adapter(1e4), out, 1.0, null);
        try (SafetensorsReader r = SafetensorsReader.open(out)) {
            assertEquals(70000.0, r.read("l.weight", DataType.DOUBLE).getDouble(0), 70000.0 / 128);
        }
        // and with a smaller multiplier the same F16 base fits: 60000 + 0.5 * 10000 = 65000
        AdapterMerge.mergeFile(base(DType.F16, 60000), adapter(1e4), out, 0.5, null);
        try (SafetensorsReader r = SafetensorsReader.open(out)) {
            assertEquals(65000.0, r.read("l.weight", DataType.DOUBLE).getDouble(7), 32.0);
        }
    }

    @Test
    void aBaseThatIsAlreadyNonFiniteIsMergedAsItIs() throws Exception {
        Path base = dir.resolve("base.safetensors");
        INDArray w = Nd4j.zeros(DataType.FLOAT, 8, 8);
        w.putScalar(9, Float.POSITIVE_INFINITY);
        w.putScalar(10, Float.NaN);
        SafetensorsWriter.write(base, null, List.of(SafetensorsWriter.Tensor.of("l.weight", w, DType.F32)));
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter(1), out, 1.0, null);
        try (SafetensorsReader r = SafetensorsReader.open(out)) {
            INDArray merged = r.read("l.weight", DataType.DOUBLE);
            assertEquals(Double.POSITIVE_INFINITY, merged.getDouble(9));
            assertTrue(Double.isNaN(merged.getDouble(10)));
            assertEquals(1.0, merged.getDouble(0), 0.0);
        }
    }

    @Test
    void holdsFiniteFollowsEachDTypesRounding() {
        assertTrue(DType.F16.holdsFinite(65504));
        assertTrue(DType.F16.holdsFinite(-65519.99)); // rounds down to 65504
        assertFalse(DType.F16.holdsFinite(65520));    // the halfway point rounds to even: infinity
        assertFalse(DType.F16.holdsFinite(-1e6));
        assertTrue(DType.BF16.holdsFinite(3.38e38));
        assertFalse(DType.BF16.holdsFinite(3.4e38));  // BF16's largest is about 3.39e38
        assertTrue(DType.F32.holdsFinite(Float.MAX_VALUE));
        assertFalse(DType.F32.holdsFinite(3.5e38));
        assertTrue(DType.F64.holdsFinite(Double.MAX_VALUE));
        for (DType t : IoTestSupport.readableDTypes()) {
            assertFalse(t.holdsFinite(Double.NaN), t.toString());
            assertFalse(t.holdsFinite(Double.NEGATIVE_INFINITY), t.toString());
            assertTrue(t.holdsFinite(0.0), t.toString());
        }
        assertThrows(UnsupportedOperationException.class, () -> DType.I64.holdsFinite(1));
    }

    @Test
    void moduleInfoAndMergedPrintShapesAndCompareByContent() throws Exception {
        Path file = adapter(2);
        try (AdapterFile a = AdapterFile.read(file); AdapterFile b = AdapterFile.read(file)) {
            AdapterFile.ModuleInfo info = a.moduleInfo("lycoris_l");
            String text = info.toString();
            assertTrue(text.startsWith("lycoris_l: lokr_w1 [2, 2], lokr_w2_a [4, 1], lokr_w2_b [1, 4], alpha []"), text);
            assertTrue(text.contains("rank 1") && text.contains("alpha 2.0") && text.contains("scale 2.0"), text);
            assertEquals(info, b.moduleInfo("lycoris_l"));
            assertEquals(info.hashCode(), b.moduleInfo("lycoris_l").hashCode());
            info.tensors().get("lokr_w1")[0] = 99;
            assertArrayEquals(new long[] {2, 2}, info.tensors().get("lokr_w1"), "the record's shapes are its own");
        }
        Path out = dir.resolve("merged.safetensors");
        List<AdapterMerge.Merged> merged = AdapterMerge.mergeFile(base(DType.F32, 0), file, out, 1.0, null);
        AdapterMerge.Merged m = merged.get(0);
        assertEquals("lycoris_l -> l.weight [8, 8] F32", m.toString());
        assertEquals(new AdapterMerge.Merged("lycoris_l", "l.weight", new long[] {8, 8}, DType.F32), m);
        assertNotEquals(new AdapterMerge.Merged("lycoris_l", "l.weight", new long[] {8, 9}, DType.F32), m);
    }
}
