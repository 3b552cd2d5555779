package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** {@link AdapterFile#resolve}: a scale of either sign beyond FLOAT, and a target dim past an int, are refused. */
class ResolveLimitsTest {

    @TempDir
    Path dir;

    private Path adapter(double alpha) throws Exception {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 1), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 1, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.alpha", Nd4j.scalar(alpha), DType.F64)));
        return file;
    }

    @Test
    void aNegativeScaleBeyondFloatIsRefusedAsFloat() throws Exception {
        try (AdapterFile f = AdapterFile.read(adapter(-1e39))) {
            AdapterFormatException e = assertThrows(AdapterFormatException.class,
                    () -> f.resolve("lycoris_fc", new long[] {6, 4}, DataType.FLOAT));
            assertTrue(e.getMessage().contains("has scale -1.0E39, beyond FLOAT's range"), e.getMessage());
            assertEquals(-1e39, f.resolve("lycoris_fc", new long[] {6, 4}, DataType.DOUBLE).layout().scale());
        }
    }

    @Test
    void aTargetDimPastAnIntIsRefusedByModule() throws Exception {
        try (AdapterFile f = AdapterFile.read(adapter(1))) {
            for (long[] shape : new long[][] {{1L << 31, 4}, {6, 1L << 31}, {6, 4, 1, 1L << 32}}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> f.resolve("lycoris_fc", shape, DataType.FLOAT));
                assertTrue(e.getMessage().startsWith("module 'lycoris_fc': target weight dims must be in [1, 2^31)"),
                        e.getMessage());
            }
        }
    }
}
