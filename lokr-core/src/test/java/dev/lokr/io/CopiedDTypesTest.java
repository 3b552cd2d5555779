package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Tensors of dtypes whose values lokr does not convert (integers, booleans, 8-bit floats): they
 * open, copy byte for byte and pass through merges unchanged, and every attempt to read their values
 * says why it cannot.
 */
class CopiedDTypesTest {
    @TempDir Path dir;

    private static ByteBuffer bytes(int n, int seed) {
        ByteBuffer b = ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.put(i, (byte) (i * 31 + seed));
        }
        return b;
    }

    private static SafetensorsWriter.Tensor ones(String name, long... shape) {
        return SafetensorsWriter.Tensor.of(name, Nd4j.ones(DataType.FLOAT, shape), DType.F32);
    }

    /** Writes adapter.safetensors: module lycoris_fc with w1 [2, 2], w2 [3, 3] (for a [6, 6] weight) and extra tensors. */
    private Path fcAdapter(SafetensorsWriter.Tensor... extra) throws Exception {
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>(
                List.of(ones("lycoris_fc.lokr_w1", 2, 2), ones("lycoris_fc.lokr_w2", 3, 3)));
        ts.addAll(List.of(extra));
        Path adapter = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(adapter, null, ts);
        return adapter;
    }

    /** A base with a LoKR target {@code fc.weight [6, 6]} F32 and one tensor of every copy-only dtype. */
    private Path base() throws Exception {
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
        ts.add(SafetensorsWriter.Tensor.of("fc.weight", Nd4j.rand(DataType.FLOAT, 6, 6), DType.F32));
        int seed = 1;
        for (DType t : DType.values()) {
            if (!t.readable()) {
                ts.add(SafetensorsWriter.Tensor.raw("extra." + t, t, new long[] {3, 2}, bytes(6 * t.byteSize(), seed++)));
            }
        }
        Path file = dir.resolve("base.safetensors");
        SafetensorsWriter.write(file, Map.of("format", "pt"), ts);
        return file;
    }

    @Test
    void everyDTypeOfTheFormatOpensAndItsValuesAreRefusedByName() throws Exception {
        try (SafetensorsReader in = SafetensorsReader.open(base())) {
            assertEquals(DType.values().length - 3, in.tensors().size());
            for (TensorInfo t : in.tensors()) {
                if (t.dtype().readable()) {
                    continue;
                }
                assertEquals(6L * t.dtype().byteSize(), t.byteLength());
                UnsupportedOperationException e =
                        assertThrows(UnsupportedOperationException.class, () -> in.read(t.name(), DataType.FLOAT));
                assertTrue(e.getMessage().contains(t.name()) && e.getMessage().contains("dtype " + t.dtype()),
                        e.getMessage());
                assertThrows(UnsupportedOperationException.class, () -> in.readDoubles(t.name()));
            }
        }
    }

    @Test
    void valuesCannotBeWrittenAsACopyOnlyDType() {
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> SafetensorsWriter.Tensor.of("ids", Nd4j.ones(DataType.FLOAT, 3), DType.I64));
        assertTrue(e.getMessage().contains("I64") && e.getMessage().contains("raw"), e.getMessage());
    }

    @Test
    void copiedTensorsAreByteIdenticalAndKeepTheirOrder() throws Exception {
        Path from = base();
        Path to = dir.resolve("copy.safetensors");
        try (SafetensorsReader in = SafetensorsReader.open(from)) {
            List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                ts.add(SafetensorsWriter.Tensor.copied(in, t.name()));
            }
            SafetensorsWriter.write(to, in.metadata(), ts);
        }
        assertArrayEquals(Files.readAllBytes(from), Files.readAllBytes(to));
    }

    @Test
    void aCopiedTensorMustMatchItsDescription() throws Exception {
        try (SafetensorsReader in = SafetensorsReader.open(base())) {
            IllegalArgumentException e =
                    assertThrows(
                            IllegalArgumentException.class,
                            () -> new SafetensorsWriter.Tensor("extra.I64", DType.I32, new long[] {3, 2}, null, null, in));
            assertTrue(e.getMessage().contains("the source holds I64"), e.getMessage());
            assertThrows(
                    IllegalArgumentException.class,
                    () -> new SafetensorsWriter.Tensor("extra.I64", DType.I64, new long[] {3, 2},
                            Nd4j.ones(DataType.FLOAT, 6), null, in));
        }
    }

    @Test
    void aMergeCarriesEveryOtherTensorUnchanged() throws Exception {
        Path base = base();
        Path adapter = fcAdapter();
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter, out, 1.0, null);
        try (SafetensorsReader a = SafetensorsReader.open(base);
                SafetensorsReader b = SafetensorsReader.open(out)) {
            assertEquals(a.metadata(), b.metadata());
            for (TensorInfo t : a.tensors()) {
                if (t.name().equals("fc.weight")) {
                    double[] before = a.readDoubles(t.name());
                    double[] after = b.readDoubles(t.name());
                    for (int i = 0; i < before.length; i++) {
                        assertEquals(before[i] + 1.0, after[i], 1e-6, "W + kron(ones, ones) at " + i);
                    }
                } else {
                    assertEquals(t.dtype(), b.info(t.name()).dtype());
                    assertEquals(a.raw(t.name()), b.raw(t.name()), t.name());
                }
            }
        }
    }

    /** Older LyCORIS code registers {@code alpha} as {@code torch.tensor(lora_dim)}: an integer tensor. */
    @org.junit.jupiter.params.ParameterizedTest(name = "{0}")
    @org.junit.jupiter.params.provider.EnumSource(names = {"I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64"})
    void anIntegerAlphaIsRead(DType type) throws Exception {
        Path adapter = dir.resolve("adapter.safetensors");
        ByteBuffer four = ByteBuffer.allocate(type.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        four.put(0, (byte) 4);
        SafetensorsWriter.write(
                adapter,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 2, 3), DType.F32),
                        SafetensorsWriter.Tensor.raw("lycoris_fc.alpha", type, new long[0], four)));
        try (AdapterFile f = AdapterFile.read(adapter)) {
            assertEquals(4.0, f.moduleInfo("lycoris_fc").alpha());
            assertEquals(2.0, f.moduleInfo("lycoris_fc").scale(), "alpha / rank");
        }
    }

    @Test
    void aBooleanAlphaIsRefused() throws Exception {
        Path adapter = fcAdapter(
                SafetensorsWriter.Tensor.raw("lycoris_fc.alpha", DType.BOOL, new long[0], bytes(1, 1)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(adapter));
        assertTrue(e.getMessage().contains("alpha has dtype BOOL"), e.getMessage());
    }

    @Test
    void aMergeNamesTheAdapterTensorsItIgnores() throws Exception {
        Path base = base();
        Path adapter = fcAdapter(ones("lora_unet_x.lora_down.weight", 2, 2));
        List<String> lines = new ArrayList<>();
        AdapterMerge.mergeFile(base, adapter, dir.resolve("merged.safetensors"), 1.0, lines::add);
        assertTrue(lines.stream().anyMatch(l -> l.contains("ignored 1 tensor of the adapter that belongs to no LoKR module")
                && l.contains("lora_unet_x.lora_down.weight")), lines.toString());
    }

    @Test
    void anAdapterFactorOfACopyOnlyDTypeIsRefused() throws Exception {
        Path adapter = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(
                adapter,
                null,
                List.of(
                        SafetensorsWriter.Tensor.raw("lycoris_fc.lokr_w1", DType.I32, new long[] {2, 2}, bytes(16, 0)),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 3), DType.F32)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(adapter));
        assertTrue(e.getMessage().contains("lokr_w1 has dtype I32"), e.getMessage());
    }
}
