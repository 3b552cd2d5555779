package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Reads the safetensors files that Python's safetensors produced for the parity cases. */
class ParityFilesTest {
    @TempDir Path tmp;

    static Stream<Path> cases() {
        return IoTestSupport.parityCases().stream();
    }

    static Stream<Path> files() {
        return IoTestSupport.parityFiles().stream();
    }

    @Test
    void casesArePresent() {
        assertTrue(IoTestSupport.parityCases().size() >= 6, IoTestSupport.parityCases().toString());
        assertTrue(
                IoTestSupport.parityFiles().size() >= 18, IoTestSupport.parityFiles().toString());
    }

    @ParameterizedTest
    @MethodSource("files")
    void everyTensorReads(Path file) throws IOException {
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertFalse(in.tensors().isEmpty(), file.toString());
            long covered = 0;
            for (TensorInfo t : in.tensors()) {
                String msg = file + " " + t;
                assertEquals(DType.F32, t.dtype(), msg);
                INDArray f = in.read(t.name(), DataType.FLOAT);
                INDArray d = in.read(t.name(), DataType.DOUBLE);
                double[] values = in.readDoubles(t.name());
                assertArrayEquals(t.shape(), f.shape(), msg);
                assertArrayEquals(t.shape(), d.shape(), msg);
                assertEquals(t.numel(), values.length, msg);
                assertArrayEquals(values, d.reshape(values.length).toDoubleVector(), msg);
                for (double v : values) {
                    assertTrue(Double.isFinite(v), msg);
                }
                assertEquals(t.byteLength(), in.raw(t.name()).remaining(), msg);
                covered += t.byteLength();
            }
            assertEquals(
                    in.dataLength(), covered, file + ": the reference writes tensors back to back");
        }
    }

    @ParameterizedTest
    @MethodSource("files")
    void rawCopyIsByteIdenticalToTheReference(Path file) throws IOException {
        Path copy = tmp.resolve(file.getFileName());
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            List<SafetensorsWriter.Tensor> tensors = new ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                tensors.add(
                        SafetensorsWriter.Tensor.raw(
                                t.name(), t.dtype(), t.shape(), in.raw(t.name())));
            }
            SafetensorsWriter.write(copy, in.metadata(), tensors);
        }
        assertArrayEquals(Files.readAllBytes(file), Files.readAllBytes(copy), file.toString());
    }

    @ParameterizedTest
    @MethodSource("cases")
    void shapesMatchCaseJson(Path dir) throws IOException {
        Map<?, ?> caseJson =
                assertInstanceOf(
                        Map.class,
                        Json.parse(
                                Files.readString(
                                        dir.resolve("case.json"), StandardCharsets.UTF_8)));
        assertEquals(dir.getFileName().toString(), caseJson.get("name"));
        try (SafetensorsReader base = SafetensorsReader.open(dir.resolve("base.safetensors"));
                SafetensorsReader expected =
                        SafetensorsReader.open(dir.resolve("expected.safetensors"))) {
            assertEquals(base.tensors().size(), expected.tensors().size(), dir.toString());
            for (TensorInfo t : base.tensors()) {
                TensorInfo e = expected.info(t.name());
                assertEquals(t.dtype(), e.dtype(), t.name());
                assertArrayEquals(t.shape(), e.shape(), t.name());
            }
            if ("peft".equals(caseJson.get("layout"))) {
                Map<?, ?> config =
                        assertInstanceOf(
                                Map.class,
                                Json.parse(
                                        Files.readString(
                                                dir.resolve("adapter_config.json"),
                                                StandardCharsets.UTF_8)));
                assertTrue(config.containsKey("r"), config.toString());
                try (SafetensorsReader adapter =
                        SafetensorsReader.open(dir.resolve("adapter_model.safetensors"))) {
                    for (TensorInfo t : adapter.tensors()) {
                        assertTrue(t.name().startsWith("base_model.model."), t.name());
                        String module =
                                t.name()
                                        .substring(
                                                "base_model.model.".length(),
                                                t.name().lastIndexOf(".lokr_"));
                        assertTrue(base.contains(module + ".weight"), t.name());
                    }
                }
                return;
            }
            Map<?, ?> opts = (Map<?, ?>) caseJson.get("opts");
            try (SafetensorsReader adapter =
                    SafetensorsReader.open(dir.resolve("adapter.safetensors"))) {
                for (Object o : (List<?>) caseJson.get("layers")) {
                    Map<?, ?> layer = (Map<?, ?>) o;
                    String path = (String) layer.get("path");
                    long in = (Long) layer.get("in");
                    long out = (Long) layer.get("out");
                    long[] weight =
                            "conv".equals(layer.get("kind"))
                                    ? new long[] {
                                        out, in, (Long) layer.get("k"), (Long) layer.get("k")
                                    }
                                    : new long[] {out, in};
                    assertArrayEquals(weight, base.info(path + ".weight").shape(), path);
                    assertArrayEquals(new long[] {out}, base.info(path + ".bias").shape(), path);

                    String prefix = "lycoris_" + path.replace('.', '_') + ".";
                    TensorInfo alpha = adapter.info(prefix + "alpha");
                    assertEquals(0, alpha.rank(), "alpha is a 0-d tensor");
                    assertEquals(
                            ((Number) opts.get("alpha")).doubleValue(),
                            adapter.read(alpha.name(), DataType.DOUBLE).getDouble(0));
                    long w1 = 0;
                    for (TensorInfo t : adapter.tensors()) {
                        assertTrue(t.name().startsWith(prefix), t.name());
                        if (t.name().endsWith(".lokr_w1")) {
                            w1 = t.numel();
                        }
                    }
                    assertTrue(w1 > 0 || adapter.contains(prefix + "lokr_w1_a"), path);
                }
            }
        }
    }
}
