package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.math.DoraAxis;
import dev.lokr.math.LokrInit;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import dev.lokr.math.LokrWeights;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Adapter files that are valid safetensors but bad, or unusual, as LoKR adapters. */
class AdapterInputTest {
    @TempDir Path dir;

    // ---- PEFT config ----

    /** A PEFT adapter whose w2 is low-rank with rank 2 (w1 [2, 2], w2_a [3, 2], w2_b [2, 3]). */
    private Path lowRankPeft(String config) throws Exception {
        return lowRankPeft(config, "fc");
    }

    private Path lowRankPeft(String config, String module) throws Exception {
        String m = "base_model.model." + module + ".";
        Path file = dir.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(
                file,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of(m + "lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                        SafetensorsWriter.Tensor.of(m + "lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                        SafetensorsWriter.Tensor.of(m + "lokr_w2_b", Nd4j.ones(DataType.FLOAT, 2, 3), DType.F32)));
        Files.writeString(dir.resolve("adapter_config.json"), config);
        return file;
    }

    @Test
    void aPeftFileIsKnownByItsNameAndConfigEvenWithoutThePrefix() throws Exception {
        Path file = dir.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("fc.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                SafetensorsWriter.Tensor.of("fc.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 2, 3), DType.F32)));
        Files.writeString(dir.resolve("adapter_config.json"), "{\"r\":2,\"alpha\":8}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(AdapterFile.Format.PEFT, f.format());
            assertEquals(4.0, f.moduleInfo(f.modules().get(0)).scale(), 0.0, "PEFT's alpha / r");
        }
        Path other = dir.resolve("x.safetensors");
        Files.copy(file, other);
        Path twice = dir.resolve("twice").resolve("adapter_model.safetensors");
        Files.createDirectories(twice.getParent());
        Files.copy(dir.resolve("adapter_config.json"), twice.resolveSibling("adapter_config.json"));
        SafetensorsWriter.write(twice, null, List.of(
                SafetensorsWriter.Tensor.of("fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 3), DType.F32)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(twice));
        assertTrue(e.getMessage().contains("has two lokr_w1 tensors"), e.getMessage());
        try (AdapterFile f = AdapterFile.read(other)) {
            assertEquals(AdapterFile.Format.LYCORIS, f.format(), "another name: LyCORIS rules");
            assertEquals(1.0, f.moduleInfo(f.modules().get(0)).scale(), 0.0, "no alpha tensor: scale 1");
        }
    }

    static Stream<Arguments> badPeftRanks() {
        return Stream.of(
                Arguments.of("{\"r\":4.5,\"alpha\":9}", "whole number", "4.5"),
                Arguments.of("{\"r\":1e10,\"alpha\":9}", "whole number", "1.0E10"),
                Arguments.of("{\"r\":0,\"alpha\":9}", "whole number", "0"),
                Arguments.of("{\"r\":2,\"rank_pattern\":{\"fc\":2.9}}", "whole number", "2.9"),
                Arguments.of("{\"r\":8,\"alpha\":8}", "rank r = 8", "rank 2"),
                Arguments.of("{\"r\":2,\"rank_pattern\":{\"other\":2,\"fc\":4}}", "rank r = 4", "rank 2"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badPeftRanks")
    void aPeftRankThatIsNotTheTensorsWholeRankIsRefused(String config, String rule, String value)
            throws Exception {
        Path file = lowRankPeft(config);
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file), config);
        assertTrue(e.getMessage().contains(rule) && e.getMessage().contains(value), e.getMessage());
        assertEquals("fc", e.module(), config);
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)   // unbounded, it runs for hours
    void aPatternThatBacktracksWithoutEndIsStoppedAndNamed() throws Exception {
        String module = "a".repeat(60);
        Path file = lowRankPeft("{\"r\":2,\"rank_pattern\":{\"(.*a){12}b\":2}}", module);
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("rank_pattern key '(.*a){12}b' takes too long to match"), e.getMessage());
        assertEquals(module, e.module());
        // an ordinary pattern on a long name still matches
        try (AdapterFile f = AdapterFile.read(lowRankPeft("{\"r\":8,\"rank_pattern\":{\"a+\":2}}", module))) {
            assertEquals(2, f.moduleInfo(module).rank());
        }
    }

    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void manyKeysEachJustWithinTheBoundStillStopAtTheFilesBound() throws Exception {
        // each key backtracks to nearly the per-match bound; 300 of them would take minutes per module
        String module = "a".repeat(51);
        StringBuilder keys = new StringBuilder();
        for (int i = 0; i < 300; i++) {
            keys.append(i == 0 ? "" : ",").append("\"(.*a){4}b|z").append(i).append("\":2");
        }
        Path file = lowRankPeft("{\"r\":2,\"rank_pattern\":{" + keys + "}}", module);
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("the rank_pattern and alpha_pattern keys need more than "
                + AdapterFile.PATTERN_READ_BUDGET + " character reads in all"), e.getMessage());
    }

    /**
     * The note on PEFT 0.14's pattern rule (a config with rank_dropout_scale and no peft_version) matches each key
     * as 0.14 wrote it, {@code (.*\.)?KEY$}, where a top-level alternative loses the {@code (.*\.)?} prefix: here
     * {@code (.*a){12}b} then runs against the whole name and backtracks without end, while current PEFT's
     * {@code (.*\.)?(KEY)$} matches {@code fc} at once (and so did PEFT 0.15 to 0.17, which wrote this config).
     * A note is advice: it must never make a file that reads under current PEFT's rule unreadable. Nor may its
     * matching spend the file's budget of reads, which the modules' own patterns need.
     */
    @Test
    @Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aKeyThatBacktracksOnlyInPeft014sFormDoesNotMakeTheFileUnreadable() throws Exception {
        String module = "a".repeat(40) + ".fc";
        Path file = lowRankPeft("{\"r\":8,\"alpha\":8,\"rank_dropout_scale\":false,"
                + "\"rank_pattern\":{\"(.*a){12}b|fc\":2}}", module);
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(2, f.moduleInfo(module).rank(), "current PEFT's rule: the key matches fc");
            assertEquals(4.0, f.moduleInfo(module).scale());
            assertEquals(1, f.notes().size(), f.notes().toString());
            assertTrue(f.notes().get(0).contains("PEFT 0.14") && f.notes().get(0).contains("not checked"),
                    f.notes().get(0));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"\\\\Q", "(?x) # comment"})
    void aPatternThatOnlyFailsInsidePeftsWrapperIsRefusedAsAFormatError(String key) throws Exception {
        Path file = lowRankPeft("{\"r\":2,\"rank_pattern\":{\"" + key + "\":2}}");
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("adapter_config.json") && e.getMessage().contains("is not a valid regex"),
                e.getMessage());
    }

    @ParameterizedTest(name = "rank {0}")
    @ValueSource(longs = {2147483648L, 4294967300L})
    void aStoredRankBeyondAnIntIsRefusedNotTruncated(long rank) throws Exception {
        // zero-size tensors: a header can claim any rank without data
        String header = "{\"lycoris_fc.lokr_w1\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},"
                + "\"lycoris_fc.lokr_w2_a\":{\"dtype\":\"F32\",\"shape\":[0," + rank + "],\"data_offsets\":[4,4]},"
                + "\"lycoris_fc.lokr_w2_b\":{\"dtype\":\"F32\",\"shape\":[" + rank + ",0],\"data_offsets\":[4,4]}}";
        Path file = dir.resolve("ranks.safetensors");
        Files.write(file, IoTestSupport.file(header, new byte[4]));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("lokr_w2_b [" + rank + ", 0] stores rank " + rank
                + "; a rank is from 1 to 2^31 - 1"), e.getMessage());
    }

    @Test
    void aMatchingPeftRankIsAccepted() throws Exception {
        try (AdapterFile f = AdapterFile.read(lowRankPeft("{\"r\":2,\"alpha\":3}"))) {
            assertEquals(2, f.moduleInfo("fc").rank());
            assertEquals(1.5, f.moduleInfo("fc").scale());
        }
    }

    @Test
    void aConfigThatIsNotUtf8IsRefusedByName() throws Exception {
        Path file = lowRankPeft("{}");
        Files.write(dir.resolve("adapter_config.json"), new byte[] {'{', (byte) 0xFF, '}'});
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(
                e.getMessage().endsWith("adapter_config.json is not valid UTF-8 near byte 1"),
                e.getMessage());
    }

    /** PEFT fails on a null r or alpha ({@code alpha / r}); it is refused, not read as the default 8. */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"{\"r\":null,\"alpha\":3}", "{\"r\":2,\"alpha\":null}"})
    void aNullRankOrAlphaIsRefused(String config) throws Exception {
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(lowRankPeft(config)));
        assertTrue(e.getMessage().endsWith((config.contains("\"r\":null") ? "r" : "alpha")
                + " must be a number, got null"), e.getMessage());
    }

    @Test
    void anOversizedConfigIsRefusedBeforeItIsRead() throws Exception {
        Path file = lowRankPeft("{}");
        Path config = dir.resolve("adapter_config.json");
        try (var ch = java.nio.channels.FileChannel.open(config, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {' '}), AdapterFile.MAX_CONFIG_BYTES); // sparse
        }
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("more than the limit"), e.getMessage());
    }

    @Test
    void aConfigThatIsAFolderIsRefusedByName() throws Exception {
        Path file = lowRankPeft("{}");
        Files.delete(dir.resolve("adapter_config.json"));
        Files.createDirectory(dir.resolve("adapter_config.json"));
        Exception e = assertThrows(java.io.IOException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("not a regular file (a directory)"), e.getMessage());
    }

    // ---- lokr's own metadata ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("strangeModuleMetadata")
    void badlyTypedWriterMetadataIsIgnored(String json) throws Exception {
        Path file = dir.resolve("a.safetensors");
        SafetensorsWriter.write(
                file,
                Map.of(AdapterFile.META_MODULES, json),
                List.of(
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32)));
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrParams p = f.resolve("lycoris_fc", new long[] {4, 4}, DataType.FLOAT);
            assertEquals(1.0, p.layout().scale(), json);
            assertTrue(!p.layout().detachNorm(), json);
        }
    }

    static Stream<String> strangeModuleMetadata() {
        return Stream.of(
                "{\"lycoris_fc\":1}",
                "{\"lycoris_fc\":[1,2]}",
                "{\"lycoris_fc\":\"x\"}",
                "{\"lycoris_fc\":{\"rank\":\"two\",\"detachNorm\":\"yes\",\"dora\":5}}",
                "[1,2,3]",
                "not json");
    }

    // ---- values ----

    @ParameterizedTest(name = "{0}")
    @MethodSource("nonFinite")
    void nonFiniteFactorsAreRefusedAtResolveAndMerge(String tensor, double value) throws Exception {
        Path adapter = dir.resolve("adapter.safetensors");
        INDArray w1 = Nd4j.ones(DataType.DOUBLE, 2, 2);
        INDArray w2 = Nd4j.ones(DataType.DOUBLE, 3, 3);
        INDArray dora = Nd4j.ones(DataType.DOUBLE, 6, 1);
        (tensor.equals("lokr_w1") ? w1 : tensor.equals("lokr_w2") ? w2 : dora).putScalar(1, value);
        SafetensorsWriter.write(
                adapter,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", w1, DType.F64),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", w2, DType.F64),
                        SafetensorsWriter.Tensor.of("lycoris_fc.dora_scale", dora, DType.F64)));
        try (AdapterFile f = AdapterFile.read(adapter)) {
            for (DataType t : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                AdapterFormatException e =
                        assertThrows(
                                AdapterFormatException.class,
                                () -> f.resolve("lycoris_fc", new long[] {6, 6}, t));
                assertTrue(
                        e.getMessage().contains(tensor) && e.getMessage().contains("non-finite")
                                && e.getMessage().contains("flat index 1"),
                        e.getMessage());
            }
        }
        Path base = dir.resolve("base.safetensors");
        SafetensorsWriter.write(
                base, null, List.of(SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 6), DType.F32)));
        Path out = dir.resolve("out.safetensors");
        assertThrows(
                AdapterFormatException.class, () -> AdapterMerge.mergeFile(base, adapter, out, 1.0, null));
        assertTrue(!Files.exists(out));
    }

    static Stream<Arguments> nonFinite() {
        return Stream.of(
                Arguments.of("lokr_w1", Double.NaN),
                Arguments.of("lokr_w2", Double.POSITIVE_INFINITY),
                Arguments.of("dora_scale", Double.NEGATIVE_INFINITY));
    }

    @Test
    void aDoubleTooLargeForFloatIsRefusedWhenReadAsFloat() throws Exception {
        Path adapter = dir.resolve("adapter.safetensors");
        INDArray w1 = Nd4j.ones(DataType.DOUBLE, 2, 2).putScalar(0, 1e300);
        SafetensorsWriter.write(
                adapter,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", w1, DType.F64),
                        SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", Nd4j.ones(DataType.DOUBLE, 2, 2), DType.F64)));
        try (AdapterFile f = AdapterFile.read(adapter)) {
            f.resolve("lycoris_fc", new long[] {4, 4}, DataType.DOUBLE);
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class,
                            () -> f.resolve("lycoris_fc", new long[] {4, 4}, DataType.FLOAT));
            assertTrue(e.getMessage().contains("read as float32"), e.getMessage());
        }
    }

    @Test
    void aFileWithoutLokrModulesIsRefusedAtRead() throws Exception {
        Path file = dir.resolve("lora.safetensors");
        SafetensorsWriter.write(
                file,
                null,
                List.of(SafetensorsWriter.Tensor.of("lora_unet_x.lora_up.weight", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(
                e.getMessage().contains("has no LoKR module") && e.getMessage().contains("lora_unet_x.lora_up.weight"),
                e.getMessage());
    }

    // ---- DoRA with one input or one output ----

    static Stream<Arguments> oneWideDoraLayers() {
        return Stream.of(
                Arguments.of(new long[] {16, 1}, true),
                Arguments.of(new long[] {16, 1, 3, 3}, true),
                Arguments.of(new long[] {1, 16}, false),
                Arguments.of(new long[] {1, 16, 3, 3}, false),
                Arguments.of(new long[] {16, 1}, false),
                Arguments.of(new long[] {1, 16}, true));
    }

    /**
     * A magnitude of one value ({@code [1, 1(, 1, 1)]}) fits both axes; the writer's record, else the
     * target weight, decides.
     */
    @ParameterizedTest(name = "{0} onInput={1}")
    @MethodSource("oneWideDoraLayers")
    void doraOnALayerWithOneInputOrOutputRoundTrips(long[] shape, boolean onInput) throws Exception {
        LokrLayout layout =
                LokrLayout.plan(LokrAdapter.builder().rank(2).alpha(2).dora(true).doraOnInput(onInput).build(), shape);
        LokrParams p = LokrParams.zeros(layout, DataType.DOUBLE);
        INDArray base = Nd4j.rand(DataType.DOUBLE, shape).subi(0.5);
        LokrInit.initialize(p, base, 7);
        p.get(layout.w2Mode() == dev.lokr.math.FactorMode.FULL ? LokrParam.W2 : LokrParam.W2_B)
                .assign(Nd4j.rand(DataType.DOUBLE, p.get(layout.w2Mode() == dev.lokr.math.FactorMode.FULL
                        ? LokrParam.W2 : LokrParam.W2_B).shape()));
        Path file = dir.resolve("dora.safetensors");
        LycorisWriter.save(file, Map.of("fc", p), null, DType.F64);
        DoraAxis expected = onInput ? DoraAxis.INPUT : DoraAxis.OUTPUT;
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrParams back = f.resolve("lycoris_fc", shape, DataType.DOUBLE);
            assertEquals(expected, back.layout().doraAxis());
            INDArray a = LokrWeights.effectiveWeight(p, base, 1.0, null);
            INDArray b = LokrWeights.effectiveWeight(back, base, 1.0, null);
            assertTrue(a.equalsWithEps(b, 1e-12), a + " vs " + b);
        }
        // without lokr's record, the target decides: the axis of length 1
        Path stripped = dir.resolve("stripped.safetensors");
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            List<SafetensorsWriter.Tensor> ts = new java.util.ArrayList<>();
            for (TensorInfo t : in.tensors()) {
                ts.add(SafetensorsWriter.Tensor.raw(t.name(), t.dtype(), t.shape(), in.raw(t.name())));
            }
            SafetensorsWriter.write(stripped, null, ts);
        }
        try (AdapterFile f = AdapterFile.read(stripped)) {
            LokrParams back = f.resolve("lycoris_fc", shape, DataType.DOUBLE);
            boolean oneMagnitude = (onInput ? shape[1] : shape[0]) == 1;
            DoraAxis byTarget = shape[0] == 1 ? DoraAxis.OUTPUT : DoraAxis.INPUT;
            assertEquals(oneMagnitude ? byTarget : expected, back.layout().doraAxis());
        }
    }

    /** Scales whose alpha = scale * rank F32 cannot hold are written in F64 and read back exactly. */
    @ParameterizedTest(name = "scale {0}")
    @org.junit.jupiter.params.provider.ValueSource(doubles = {1e-47, 3e-45, 1e39, 0.25})
    void extremeScalesSurviveAFloatFile(double scale) throws Exception {
        LokrLayout layout =
                LokrLayout.explicit(
                        new long[] {6, 6}, 2, 3, 2, 3, 2, dev.lokr.math.FactorMode.FULL,
                        dev.lokr.math.FactorMode.LOW_RANK, scale, false, DoraAxis.NONE, false);
        LokrParams p = LokrParams.zeros(layout, DataType.FLOAT);
        for (LokrParam k : layout.params()) {
            p.get(k).assign(Nd4j.rand(DataType.FLOAT, p.get(k).shape()));
        }
        Path file = dir.resolve("scale.safetensors");
        LycorisWriter.save(file, Map.of("fc", p), null, DType.F32);
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            float asFloat = (float) (scale * 2);
            boolean fits = Math.abs(asFloat) >= Float.MIN_NORMAL && !Float.isInfinite(asFloat);
            assertEquals(fits ? DType.F32 : DType.F64, in.info("lycoris_fc.alpha").dtype());
        }
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(scale, f.resolve("lycoris_fc", new long[] {6, 6}, DataType.DOUBLE).layout().scale(),
                    Math.abs(scale) * 1e-7);
        }
    }
}
