package dev.lokr;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.DType;
import dev.lokr.io.LycorisWriter;
import dev.lokr.math.LokrDropout;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

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
}
