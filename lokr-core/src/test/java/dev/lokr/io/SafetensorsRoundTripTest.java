package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;

class SafetensorsRoundTripTest {
    @TempDir Path dir;

    /** A tensor to write, the layout its INDArray was built with, and its values in C order. */
    private record Case(SafetensorsWriter.Tensor tensor, String layout, double[] values) {}

    static Stream<Arguments> seedsAndTypes() {
        List<Arguments> out = new ArrayList<>();
        for (DType t : IoTestSupport.readableDTypes()) {
            for (long i = 0; i < 6; i++) {
                out.add(Arguments.of(0xF11E_0000L + i * 16 + t.ordinal(), t));
            }
        }
        return out.stream();
    }

    /** Rounds a value to what the dtype stores. */
    private static double quantize(double v, DType t) {
        return switch (t) {
            case F32 -> (float) v;
            case F16 -> DType.halfToFloat(DType.doubleToHalf(v));
            case BF16 -> DType.bf16ToFloat(DType.doubleToBf16(v));
            case F64 -> v;
            default -> throw new IllegalArgumentException("no values for " + t);
        };
    }

    private static long[] randomShape(SplittableRandom r) {
        long[] shape = new long[r.nextInt(5)];
        for (int i = 0; i < shape.length; i++) {
            shape[i] = r.nextInt(10) == 0 ? 0 : r.nextInt(1, 6);
        }
        return shape;
    }

    /**
     * Builds an INDArray holding {@code values} (C order, logical shape {@code shape}) in some
     * layout.
     */
    private static INDArray build(
            SplittableRandom r, long[] shape, double[] values, boolean floatOk, String[] layout) {
        long n = values.length;
        if (n == 0) {
            layout[0] = "empty";
            return Nd4j.create(r.nextBoolean() ? DataType.DOUBLE : DataType.FLOAT, shape);
        }
        if (shape.length == 0) {
            layout[0] = "scalar";
            return floatOk && r.nextBoolean()
                    ? Nd4j.scalar((float) values[0])
                    : Nd4j.scalar(values[0]);
        }
        INDArray c = Nd4j.create(values, shape, 'c');
        if (floatOk && r.nextBoolean()) {
            c = c.castTo(DataType.FLOAT);
        }
        switch (r.nextInt(4)) {
            case 0:
                layout[0] = "c " + c.dataType();
                return c;
            case 1:
                layout[0] = "f " + c.dataType();
                return c.dup('f');
            case 2:
                {
                    layout[0] = "permuted view " + c.dataType();
                    int[] reverse = new int[shape.length];
                    for (int i = 0; i < reverse.length; i++) {
                        reverse[i] = reverse.length - 1 - i;
                    }
                    INDArray base = c.permute(reverse).dup('c');
                    return base.permute(reverse);
                }
            default:
                {
                    layout[0] = "sub-array view " + c.dataType();
                    long[] bigger = shape.clone();
                    bigger[0] += 2;
                    INDArray big = Nd4j.zeros(c.dataType(), bigger);
                    INDArrayIndex[] idx = new INDArrayIndex[shape.length];
                    idx[0] = NDArrayIndex.interval(1, 1 + shape[0]);
                    for (int i = 1; i < idx.length; i++) {
                        idx[i] = NDArrayIndex.all();
                    }
                    INDArray view = big.get(idx);
                    view.assign(c);
                    return view;
                }
        }
    }

    private static List<Case> randomCases(SplittableRandom r, DType dtype, int count) {
        List<Case> cases = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            long[] shape = randomShape(r);
            int n = (int) TensorInfo.numel(shape);
            // Float-representable values unless the dtype is F64, where some arrays carry full
            // doubles.
            boolean floatOk = dtype != DType.F64 || r.nextBoolean();
            double[] values = new double[n];
            for (int k = 0; k < n; k++) {
                double v =
                        r.nextInt(20) == 0
                                ? 0.0
                                : r.nextGaussian() * Math.pow(10, r.nextInt(-3, 4));
                v = quantize(v, dtype);
                values[k] = floatOk ? (float) v : v;
            }
            String name =
                    "layer"
                            + i
                            + (r.nextBoolean() ? ".lokr_w1" : ".weight")
                            + (r.nextInt(5) == 0 ? "é" : "");
            String[] layout = {""};
            if (r.nextInt(4) == 0) {
                ByteBuffer raw =
                        ByteBuffer.allocate(n * dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
                for (int k = 0; k < n; k++) {
                    dtype.putDouble(raw, k, values[k]);
                }
                cases.add(
                        new Case(
                                SafetensorsWriter.Tensor.raw(name, dtype, shape, raw),
                                "raw",
                                values));
            } else {
                INDArray arr = build(r, shape, values, floatOk, layout);
                cases.add(
                        new Case(SafetensorsWriter.Tensor.of(name, arr, dtype), layout[0], values));
            }
        }
        return cases;
    }

    @ParameterizedTest
    @MethodSource("seedsAndTypes")
    void randomTensorsRoundTrip(long seed, DType dtype) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        List<Case> cases = randomCases(r, dtype, r.nextInt(1, 7));
        Map<String, String> metadata = new LinkedHashMap<>();
        if (r.nextBoolean()) {
            metadata.put("format", "pt");
            metadata.put("ss_network_module \"quoted\"", "lycoris.kohya\n{\"json\": [1]}");
        }
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        for (Case c : cases) {
            tensors.add(c.tensor());
        }
        Path file = dir.resolve("round.safetensors");
        SafetensorsWriter.write(file, metadata, tensors);

        byte[] bytes = Files.readAllBytes(file);
        long headerLength = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, headerLength % 8, "seed " + seed + ": header padded to 8");

        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertEquals(metadata, in.metadata(), "seed " + seed);
            assertEquals(
                    new ArrayList<>(metadata.keySet()),
                    new ArrayList<>(in.metadata().keySet()),
                    "seed " + seed);
            assertEquals(cases.size(), in.tensors().size(), "seed " + seed);
            for (int i = 0; i < cases.size(); i++) {
                Case c = cases.get(i);
                String msg =
                        "seed "
                                + seed
                                + ", "
                                + dtype
                                + ", tensor "
                                + i
                                + " ("
                                + c.layout()
                                + ", shape "
                                + Arrays.toString(c.tensor().shape())
                                + ")";
                TensorInfo info = in.tensors().get(i);
                assertEquals(c.tensor().name(), info.name(), msg);
                assertEquals(info, in.info(info.name()), msg);
                assertTrue(in.contains(info.name()), msg);
                assertEquals(dtype, info.dtype(), msg);
                assertArrayEquals(c.tensor().shape(), info.shape(), msg);
                assertEquals(c.values().length, info.numel(), msg);

                assertArrayEquals(c.values(), in.readDoubles(info.name()), msg);
                INDArray d = in.read(info.name(), DataType.DOUBLE);
                INDArray f = in.read(info.name(), DataType.FLOAT);
                for (INDArray a : new INDArray[] {d, f}) {
                    assertArrayEquals(info.shape(), a.shape(), msg);
                    assertEquals(info.rank(), a.rank(), msg);
                    assertEquals('c', a.ordering(), msg);
                }
                assertEquals(DataType.DOUBLE, d.dataType(), msg);
                assertEquals(DataType.FLOAT, f.dataType(), msg);
                if (c.values().length > 0) {
                    assertArrayEquals(
                            c.values(), d.reshape(c.values().length).toDoubleVector(), msg);
                    float[] wantF = new float[c.values().length];
                    for (int k = 0; k < wantF.length; k++) {
                        wantF[k] = (float) c.values()[k];
                    }
                    assertArrayEquals(wantF, f.reshape(wantF.length).toFloatVector(), msg);
                } else {
                    assertTrue(d.isEmpty() && f.isEmpty(), msg);
                }

                ByteBuffer raw = in.raw(info.name());
                assertTrue(raw.isReadOnly(), msg);
                assertEquals(ByteOrder.LITTLE_ENDIAN, raw.order(), msg);
                assertEquals(info.byteLength(), raw.remaining(), msg);
                for (int k = 0; k < c.values().length; k++) {
                    assertEquals(c.values()[k], dtype.getDouble(raw, k), msg);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("seedsAndTypes")
    void rawCopyReproducesTheFile(long seed, DType dtype) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
        for (Case c : randomCases(r, dtype, r.nextInt(1, 5))) {
            tensors.add(c.tensor());
        }
        Path a = dir.resolve("a.safetensors");
        Path b = dir.resolve("b.safetensors");
        SafetensorsWriter.write(a, Map.of("k", "v"), tensors);
        try (SafetensorsReader in = SafetensorsReader.open(a)) {
            List<SafetensorsWriter.Tensor> copies = new ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                copies.add(
                        SafetensorsWriter.Tensor.raw(
                                t.name(), t.dtype(), t.shape(), in.raw(t.name())));
            }
            SafetensorsWriter.write(b, in.metadata(), copies);
        }
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "seed " + seed);
    }

    @Test
    void exactLayout() throws IOException {
        Path file = dir.resolve("layout.safetensors");
        SafetensorsWriter.write(
                file,
                Map.of("format", "pt"),
                List.of(
                        SafetensorsWriter.Tensor.of("a", Nd4j.createFromArray(1f, -2f), DType.F32),
                        SafetensorsWriter.Tensor.of("b", Nd4j.scalar(1.0), DType.F16)));
        byte[] bytes = Files.readAllBytes(file);
        String json =
                "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"b\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[8,10]}}";
        int padded = (json.length() + 7) / 8 * 8;
        ByteBuffer want = ByteBuffer.allocate(8 + padded + 10).order(ByteOrder.LITTLE_ENDIAN);
        want.putLong(padded).put(json.getBytes(StandardCharsets.UTF_8));
        while (want.position() < 8 + padded) {
            want.put((byte) ' ');
        }
        want.putFloat(1f).putFloat(-2f).putShort((short) 0x3C00);
        assertArrayEquals(want.array(), bytes);
    }

    @Test
    void scalarsAndEmptyTensors() throws IOException {
        Path file = dir.resolve("shapes.safetensors");
        SafetensorsWriter.write(
                file,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("scalar", Nd4j.scalar(2.5f)),
                        SafetensorsWriter.Tensor.of(
                                "empty", Nd4j.create(DataType.FLOAT, 0), DType.BF16),
                        SafetensorsWriter.Tensor.of(
                                "empty2", Nd4j.create(DataType.DOUBLE, 3, 0, 2)),
                        SafetensorsWriter.Tensor.of(
                                "one",
                                Nd4j.createFromArray(new double[] {7}).reshape(1, 1),
                                DType.F64)));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertTrue(in.metadata().isEmpty());
            INDArray s = in.read("scalar", DataType.DOUBLE);
            assertEquals(0, s.rank());
            assertEquals(2.5, s.getDouble(0));
            assertEquals(1, in.info("scalar").numel());
            INDArray e = in.read("empty", DataType.FLOAT);
            assertTrue(e.isEmpty());
            assertArrayEquals(new long[] {0}, e.shape());
            assertEquals(0, in.info("empty").byteLength());
            assertEquals(0, in.raw("empty").remaining());
            assertEquals(0, in.readDoubles("empty2").length);
            assertArrayEquals(new long[] {3, 0, 2}, in.read("empty2", DataType.DOUBLE).shape());
            assertArrayEquals(new long[] {1, 1}, in.read("one", DataType.FLOAT).shape());
            assertArrayEquals(new double[] {7}, in.readDoubles("one"));
        }
    }

    @Test
    void chunkedReadMatchesDirectRead() throws IOException {
        SplittableRandom r = new SplittableRandom(0xC4C4L);
        for (DType t : IoTestSupport.readableDTypes()) {
            double[] values = new double[3 * 5 * 7];
            for (int i = 0; i < values.length; i++) {
                values[i] = quantize(r.nextGaussian(), t);
            }
            Path file = dir.resolve("chunk" + t + ".safetensors");
            SafetensorsWriter.write(
                    file,
                    Map.of(),
                    List.of(
                            SafetensorsWriter.Tensor.of(
                                    "x", Nd4j.create(values, new long[] {3, 5, 7}, 'c'), t)));
            try (SafetensorsReader in = SafetensorsReader.open(file)) {
                for (DataType as : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                    INDArray direct = in.read("x", as);
                    for (int chunk : new int[] {1, 4, 16, 104}) {
                        INDArray chunked = in.read("x", as, chunk);
                        assertEquals(direct, chunked, t + " as " + as + " in chunks of " + chunk);
                        assertArrayEquals(new long[] {3, 5, 7}, chunked.shape());
                    }
                }
            }
        }
    }

    @Test
    void f64ReadAsFloatRounds() throws IOException {
        Path file = dir.resolve("f64.safetensors");
        double x = 1 + 0x1p-24 + 0x1p-50;
        SafetensorsWriter.write(
                file,
                null,
                List.of(SafetensorsWriter.Tensor.of("x", Nd4j.createFromArray(x, 0.1), DType.F64)));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertArrayEquals(
                    new float[] {Math.nextUp(1f), 0.1f},
                    in.read("x", DataType.FLOAT).toFloatVector());
            assertArrayEquals(
                    new double[] {x, 0.1}, in.read("x", DataType.DOUBLE).toDoubleVector());
        }
    }

    @Test
    void narrowingOnWriteRoundsToNearestEven() throws IOException {
        Path file = dir.resolve("narrow.safetensors");
        double[] v = {1 + 0x1p-11, 1 + 3 * 0x1p-11, 1 + 0x1p-11 + 0x1p-40, 65520, 1e-9};
        SafetensorsWriter.write(
                file,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("h", Nd4j.createFromArray(v), DType.F16),
                        SafetensorsWriter.Tensor.of(
                                "b",
                                Nd4j.createFromArray(1 + 0x1p-8f, 1 + 3 * 0x1p-8f),
                                DType.BF16)));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            ByteBuffer h = in.raw("h");
            int[] want = {0x3C00, 0x3C02, 0x3C01, 0x7C00, 0x0000};
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], h.getShort(2 * i) & 0xffff, "element " + i);
            }
            ByteBuffer b = in.raw("b");
            assertEquals(0x3F80, b.getShort(0) & 0xffff);
            assertEquals(0x3F82, b.getShort(2) & 0xffff);
        }
    }

    @Test
    void accessorsAndMisuse() throws IOException {
        Path file = dir.resolve("misc.safetensors");
        SafetensorsWriter.write(
                file,
                Map.of("a", "b"),
                List.of(SafetensorsWriter.Tensor.of("w", Nd4j.createFromArray(1f, 2f))));
        SafetensorsReader in = SafetensorsReader.open(file);
        assertEquals(file, in.path());
        assertEquals(8, in.dataLength());
        assertFalse(in.contains("nope"));
        NoSuchElementException missing =
                assertThrows(NoSuchElementException.class, () -> in.info("nope"));
        assertTrue(
                missing.getMessage().contains("misc.safetensors")
                        && missing.getMessage().contains("'nope'"),
                missing.getMessage());
        assertThrows(NoSuchElementException.class, () -> in.read("nope", DataType.FLOAT));
        assertThrows(IllegalArgumentException.class, () -> in.read("w", DataType.INT32));
        assertThrows(UnsupportedOperationException.class, () -> in.metadata().put("x", "y"));
        assertThrows(UnsupportedOperationException.class, () -> in.tensors().clear());
        long[] shape = in.info("w").shape();
        shape[0] = 99;
        assertArrayEquals(new long[] {2}, in.info("w").shape(), "shape is a defensive copy");
        TensorInfo info = in.info("w");
        assertEquals(8 + (Files.size(file) - 8 - 8), info.byteOffset(), "absolute offset");
        ByteBuffer raw = in.raw("w");
        in.close();
        in.close();
        assertThrows(IllegalStateException.class, () -> in.read("w", DataType.FLOAT));
        assertThrows(IllegalStateException.class, () -> in.readDoubles("w"));
        assertThrows(IllegalStateException.class, () -> in.raw("w"));
        assertEquals(2f, raw.getFloat(4), "buffers stay valid after close");
        assertEquals(info, in.info("w"));
    }

    @Test
    void tensorValidation() {
        INDArray a = Nd4j.createFromArray(1f, 2f, 3f);
        assertThrows(
                IllegalArgumentException.class,
                () -> SafetensorsWriter.Tensor.of("", a, DType.F32));
        assertThrows(
                IllegalArgumentException.class,
                () -> SafetensorsWriter.Tensor.of("__metadata__", a, DType.F32));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.Tensor.raw(
                                "x", DType.F32, new long[] {2}, ByteBuffer.allocate(7)));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.Tensor.raw(
                                "x", DType.F32, new long[] {-2}, ByteBuffer.allocate(8)));
        assertThrows(
                IllegalArgumentException.class,
                () -> new SafetensorsWriter.Tensor("x", DType.F32, new long[] {2}, a, null));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        new SafetensorsWriter.Tensor(
                                "x", DType.F32, new long[] {3}, a, ByteBuffer.allocate(12)));
        assertThrows(
                IllegalArgumentException.class,
                () -> new SafetensorsWriter.Tensor("x", DType.F32, new long[] {3}, null, null));
        assertThrows(
                IllegalArgumentException.class,
                () -> SafetensorsWriter.Tensor.of("x", Nd4j.createFromArray(1, 2)));
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.Tensor.raw(
                                "x",
                                DType.F32,
                                new long[] {1L << 40, 1L << 40},
                                ByteBuffer.allocate(0)));
        // Values of another shape with the same element count are written in C order.
        SafetensorsWriter.Tensor t =
                new SafetensorsWriter.Tensor("x", DType.F32, new long[] {3, 1}, a, null);
        assertEquals(3, t.numel());
        assertEquals(12, t.byteLength());
        ByteBuffer src = ByteBuffer.allocate(16);
        src.position(4);
        SafetensorsWriter.Tensor r =
                SafetensorsWriter.Tensor.raw("x", DType.F32, new long[] {3}, src);
        assertEquals(4, src.position(), "source buffer not consumed");
        assertEquals(12, r.raw().remaining());
    }

    @Test
    void halfAndBf16ArraysAreWrittenExactly() throws IOException {
        Path file = dir.resolve("lowp.safetensors");
        INDArray values = Nd4j.createFromArray(1f, -2.5f, 65504f, 0x1p-24f);
        SafetensorsWriter.write(
                file,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("h", values.castTo(DataType.FLOAT16)),
                        SafetensorsWriter.Tensor.of("b", values.castTo(DataType.BFLOAT16)),
                        SafetensorsWriter.Tensor.of(
                                "h64", values.castTo(DataType.FLOAT16), DType.F64)));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertEquals(DType.F16, in.info("h").dtype());
            assertEquals(DType.BF16, in.info("b").dtype());
            assertArrayEquals(new double[] {1, -2.5, 65504, 0x1p-24}, in.readDoubles("h"));
            assertArrayEquals(new double[] {1, -2.5, 65536, 0x1p-24}, in.readDoubles("b"));
            assertArrayEquals(new double[] {1, -2.5, 65504, 0x1p-24}, in.readDoubles("h64"));
        }
    }

    @Test
    void integerArraysAreConverted() throws IOException {
        Path file = dir.resolve("ints.safetensors");
        SafetensorsWriter.write(
                file,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of(
                                "i", Nd4j.createFromArray(1, -2, 3), DType.F32)));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertArrayEquals(new double[] {1, -2, 3}, in.readDoubles("i"));
        }
    }

    /**
     * A sparse file of over 3 GiB: the data section cannot be mapped at once, so each read maps its
     * own region; offsets beyond 2^31 must work. Skipped where the disk is too small for the worst
     * case.
     */
    @Test
    void filesLargerThan2GiB() throws IOException {
        Assumptions.assumeTrue(
                Files.getFileStore(dir).getUsableSpace() > (8L << 30),
                "needs free space for a sparse file");
        long far = 3L << 30;
        long huge = (1L << 29) + 4; // F32 elements: 2 GiB + 16 bytes
        String header =
                "{\"near\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        + "\"huge\":{\"dtype\":\"F32\",\"shape\":["
                        + huge
                        + "],\"data_offsets\":[8,"
                        + (8 + huge * 4)
                        + "]},"
                        + "\"far\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":["
                        + far
                        + ","
                        + (far + 16)
                        + "]}}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path file = dir.resolve("big.safetensors");
        long dataStart = 8 + h.length;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(dataStart + far + 16);
            ByteBuffer prefix =
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length);
            f.write(prefix.array());
            f.write(h);
            ByteBuffer near =
                    ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(3f).putFloat(4f);
            f.write(near.array());
            f.seek(dataStart + far);
            f.write(
                    ByteBuffer.allocate(16)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putDouble(5)
                            .putDouble(-6)
                            .array());
        }
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertEquals(far + 16, in.dataLength());
            assertArrayEquals(new double[] {3, 4}, in.readDoubles("near"));
            assertArrayEquals(new double[] {5, -6}, in.readDoubles("far"));
            assertArrayEquals(
                    new double[] {5, -6}, in.read("far", DataType.DOUBLE).toDoubleVector());
            assertEquals(dataStart + far, in.info("far").byteOffset());
            assertEquals(5.0, in.raw("far").getDouble(0));
            assertEquals(huge * 4, in.info("huge").byteLength());
            assertThrows(UnsupportedOperationException.class, () -> in.raw("huge"));
        } finally {
            Files.delete(file);
        }
    }
}
