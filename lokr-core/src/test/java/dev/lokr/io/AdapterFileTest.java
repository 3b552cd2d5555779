package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.FactorMode;
import dev.lokr.math.LokrParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** Layout detection, module descriptions, PEFT patterns and every kind of bad adapter. */
class AdapterFileTest {

    static Path parity(String name, String file) {
        return IoTestSupport.parityRoot().resolve(name).resolve(file);
    }

    /**
     * {@code readOtherTensor} reads only the tensors outside the LoKR modules (a PEFT file's saved modules): a
     * module's own tensor, or a name the file lacks, is refused.
     */
    @Test
    void readOtherTensorReadsOnlyTensorsOutsideTheModules(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.head.bias", Nd4j.createFromArray(1f, 2f, 3f), DType.F32)));
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":2,\"alpha\":2}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(Nd4j.createFromArray(1.0, 2.0, 3.0),
                    f.readOtherTensor("base_model.model.head.bias", DataType.DOUBLE));
            for (String name : List.of("base_model.model.fc.lokr_w1", "base_model.model.nothing.weight")) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> f.readOtherTensor(name, DataType.FLOAT));
                assertTrue(e.getMessage().contains("no tensor '" + name + "' outside the LoKR modules"), e.getMessage());
            }
        }
    }

    @Test
    void describesTheParityAdapters() throws Exception {
        try (AdapterFile f = AdapterFile.read(parity("linear_plain", "adapter.safetensors"))) {
            assertEquals(AdapterFile.Format.LYCORIS, f.format());
            AdapterFile.ModuleInfo i = f.moduleInfo("lycoris_blocks_0_attn_q");
            assertEquals(FactorMode.FULL, i.w1Mode());
            assertEquals(FactorMode.LOW_RANK, i.w2Mode());
            assertEquals(4, i.rank());
            assertEquals(2.0, i.alpha());
            assertEquals(0.5, i.scale());
            assertEquals(8 * 8 + 12 * 4 + 4 * 8, i.numParams());
            assertEquals(DType.F32, i.dtype());
        }
        try (AdapterFile f = AdapterFile.read(parity("conv_tucker", "adapter.safetensors"))) {
            AdapterFile.ModuleInfo i = f.moduleInfo("lycoris_down_conv1");
            assertTrue(i.tucker());
            LokrParams p =
                    f.resolve("lycoris_down_conv1", new long[] {256, 128, 3, 3}, DataType.DOUBLE);
            assertEquals(16, p.layout().a());
            assertEquals(16, p.layout().b());
            assertEquals(8, p.layout().c());
            assertEquals(16, p.layout().d());
        }
        try (AdapterFile f = AdapterFile.read(parity("linear_dora", "adapter.safetensors"))) {
            assertEquals(DoraAxis.OUTPUT, f.moduleInfo("lycoris_proj").doraAxis());
        }
        try (AdapterFile f =
                AdapterFile.read(parity("linear_decompose_both", "adapter.safetensors"))) {
            assertTrue(f.moduleInfo("lycoris_mlp_fc1").decomposeBoth());
        }
        try (AdapterFile f =
                AdapterFile.read(parity("peft_decompose_both", "adapter_model.safetensors"))) {
            assertEquals(AdapterFile.Format.PEFT, f.format());
            assertEquals(List.of("transformer.h.0.attn.c_proj"), f.modules());
            AdapterFile.ModuleInfo i = f.moduleInfo("transformer.h.0.attn.c_proj");
            assertEquals(2, i.rank());
            assertEquals(1.5, i.scale());
        }
    }

    /** A PEFT adapter with both factors full (PEFT still scales by alpha / r) plus a config. */
    static Path peft(Path dir, String config) throws Exception {
        List<SafetensorsWriter.Tensor> t = new ArrayList<>();
        for (String m : List.of("model.layers.0.q_proj", "model.layers.0.k_proj")) {
            t.add(
                    SafetensorsWriter.Tensor.of(
                            "base_model.model." + m + ".lokr_w1",
                            Nd4j.ones(DataType.FLOAT, 2, 2),
                            DType.F32));
            t.add(
                    SafetensorsWriter.Tensor.of(
                            "base_model.model." + m + ".lokr_w2",
                            Nd4j.ones(DataType.FLOAT, 3, 3),
                            DType.F32));
        }
        Path file = dir.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, t);
        Files.writeString(dir.resolve("adapter_config.json"), config);
        return file;
    }

    @Test
    void peftPatternsMatchModuleSuffixes(@TempDir Path tmp) throws Exception {
        Path file =
                peft(
                        tmp,
                        "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":2,"
                                + "\"rank_pattern\":{\"q_proj\":8},\"alpha_pattern\":{\"layers\\\\.0\\\\.k_proj\":6}}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(
                    2.0 / 8,
                    f.moduleInfo("model.layers.0.q_proj").scale(),
                    "rank_pattern q_proj applies");
            assertEquals(
                    6.0 / 4,
                    f.moduleInfo("model.layers.0.k_proj").scale(),
                    "alpha_pattern k_proj applies");
            LokrParams p = f.resolve("model.layers.0.q_proj", new long[] {6, 6}, DataType.FLOAT);
            assertEquals(0.25, p.layout().scale(), "PEFT scales even when both factors are full");
        }
    }

    /**
     * PEFT's delta for a Conv1d module with a full 3-D lokr_w2 is torch.kron(w1 padded to [1, a, c], w2): its rows
     * and columns interleave w1's and w2's indices the other way round, which no LoKR module represents. A low-rank
     * lokr_w2 (its kernel folded into lokr_w2_b) is the same delta in both, and is read.
     */
    @Test
    void aPeftConv1dModuleWithAFull3dW2IsRefusedAndALowRankOneIsRead(@TempDir Path tmp) throws Exception {
        Path file = tmp.resolve("adapter_model.safetensors");
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8}");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1", Nd4j.ones(DataType.FLOAT, 4, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 4, 3),
                        DType.F32)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("PEFT Conv1d module with a full 3-D lokr_w2 [3, 4, 3]"), e.getMessage());
        assertTrue(e.getMessage().contains("conv"), e.getMessage());
        // a kernel of 1 is read swapped only beside a 2-D lokr_w1 (below), nor beside a Tucker core: a full w2 with lokr_t2 is no PEFT layout at all
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2", Nd4j.ones(DataType.FLOAT, 4, 4, 1),
                        DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_t2", Nd4j.ones(DataType.FLOAT, 2, 2, 1),
                        DType.F32)));
        AdapterFormatException tucker = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(tucker.getMessage().contains("has both lokr_w2 and"), tucker.getMessage());
        assertTrue(!tucker.getMessage().contains("swapped"), tucker.getMessage());
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 3, 1, 1),
                        DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2", Nd4j.ones(DataType.FLOAT, 4, 5, 1),
                        DType.F32)));
        // PEFT's make_kron needs a 2-D w1 for that order
        AdapterFormatException notSwapped = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(notSwapped.getMessage().contains("lokr_w1 must be 2-D, got [2, 3, 1, 1]"), notSwapped.getMessage());
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1", Nd4j.ones(DataType.FLOAT, 4, 4), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 8),
                        DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 8, 12),
                        DType.F32)));
        try (AdapterFile f = AdapterFile.read(file)) {
            LokrParams p = f.resolve("conv", new long[] {12, 16, 3}, DataType.FLOAT);
            assertEquals(1.0, p.layout().scale());
        }
    }

    /**
     * A PEFT pointwise Conv1d module with a full {@code lokr_w2 [b, d, 1]}: PEFT's delta reshaped to
     * {@code [out, in, 1]} is {@code delta[p a + i, q c + j] = s w1[i, j] w2[p, q, 0]} (torch.kron pads w1 in
     * front), written out here by loops; lokr reads the module with the factors swapped, which is that delta.
     */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aPeftPointwiseConv1dModuleWithAFullW2IsReadAsPeftComputesIt(boolean lowRankW1, @TempDir Path tmp)
            throws Exception {
        int a = 3;
        int c = 2;
        int b = 4;
        int d = 5;
        int r = 2;
        java.util.Random rnd = new java.util.Random(lowRankW1 ? 11 : 12);
        double[][] w1 = new double[a][c];
        double[][] w1a = new double[a][r];
        double[][] w1b = new double[r][c];
        for (int i = 0; i < a; i++) {
            for (int k = 0; k < r; k++) {
                w1a[i][k] = rnd.nextGaussian();
            }
        }
        for (int k = 0; k < r; k++) {
            for (int j = 0; j < c; j++) {
                w1b[k][j] = rnd.nextGaussian();
            }
        }
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < c; j++) {
                w1[i][j] = lowRankW1 ? w1a[i][0] * w1b[0][j] + w1a[i][1] * w1b[1][j] : rnd.nextGaussian();
            }
        }
        double[][][] w2 = new double[b][d][1];
        for (int p = 0; p < b; p++) {
            for (int q = 0; q < d; q++) {
                w2[p][q][0] = rnd.nextGaussian();
            }
        }
        List<SafetensorsWriter.Tensor> t = new ArrayList<>();
        if (lowRankW1) {
            t.add(SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1_a", Nd4j.createFromArray(w1a), DType.F64));
            t.add(SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1_b", Nd4j.createFromArray(w1b), DType.F64));
        } else {
            t.add(SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w1", Nd4j.createFromArray(w1), DType.F64));
        }
        t.add(SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2", Nd4j.createFromArray(w2), DType.F64));
        Path file = tmp.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, t);
        Files.writeString(tmp.resolve("adapter_config.json"),
                "{\"peft_type\":\"LOKR\",\"r\":" + r + ",\"alpha\":3,\"rank_dropout_scale\":false}");
        double s = 3.0 / r;
        try (AdapterFile f = AdapterFile.read(file)) {
            assertTrue(f.notes().get(0).startsWith("1 PEFT module with a full 3-D lokr_w2 [b, d, 1], as a pointwise"
                    + " Conv1d stores it (first: 'conv'), is read with w1 and w2 swapped"), f.notes().toString());
            LokrParams params = f.resolve("conv", new long[] {a * b, c * d, 1}, DataType.DOUBLE);
            INDArray delta = dev.lokr.math.LokrWeights.deltaWeight(params, 1.0, null).reshape(a * b, c * d);
            for (int p = 0; p < b; p++) {
                for (int i = 0; i < a; i++) {
                    for (int q = 0; q < d; q++) {
                        for (int j = 0; j < c; j++) {
                            double want = s * w1[i][j] * w2[p][q][0];
                            assertEquals(want, delta.getDouble(p * a + i, q * c + j), 1e-12,
                                    "lowRankW1=" + lowRankW1 + " delta[" + (p * a + i) + ", " + (q * c + j) + "]");
                        }
                    }
                }
            }
        }
        // a problem in a swapped module says that its roles are swapped
        w2[1][2][0] = Double.NaN;
        t.set(t.size() - 1, SafetensorsWriter.Tensor.of("base_model.model.conv.lokr_w2", Nd4j.createFromArray(w2),
                DType.F64));
        SafetensorsWriter.write(file, null, t);
        try (AdapterFile f = AdapterFile.read(file)) {
            AdapterFormatException e = assertThrows(AdapterFormatException.class,
                    () -> f.resolve("conv", new long[] {a * b, c * d, 1}, DataType.DOUBLE));
            assertTrue(e.getMessage().contains("lokr_w1 holds a non-finite value"), e.getMessage());
            assertTrue(e.getMessage().contains("read with its factors swapped: its lokr_w1 is the file's lokr_w2"),
                    e.getMessage());
        }
    }

    @Test
    void aPeft013ConfigGetsANoteWithTheMultiplierThatUndoesTheScale(@TempDir Path tmp) throws Exception {
        Path file = peft(tmp, "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":2}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(1, f.notes().size(), f.notes().toString());
            assertTrue(f.notes().get(0).contains("PEFT 0.13 or older"), f.notes().get(0));
            assertTrue(f.notes().get(0).endsWith("use the multiplier r / alpha = 2.0"), f.notes().get(0));
        }
        // patterns: only the modules whose alpha differs from their r, each with its own multiplier
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8,"
                + "\"rank_pattern\":{\"q_proj\":4}}");
        try (AdapterFile f = AdapterFile.read(file)) {
            String note = f.notes().get(0);
            assertTrue(note.contains("Multiplier r / alpha = 0.5 restores 1 module (first: 'model.layers.0.q_proj')."),
                    note);
            assertTrue(note.contains("--only-modules"), note);
        }
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8,"
                + "\"rank_pattern\":{\"q_proj\":6},\"alpha_pattern\":{\"q_proj\":6}}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(List.of(), f.notes(), "every module's alpha equals its r: nothing to restore");
        }
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":0}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertTrue(f.notes().get(0).endsWith("With alpha 0 (or so small that r / alpha is not finite), the delta"
                    + " of 2 modules (first: 'model.layers.0.q_proj') cannot be restored by a multiplier."),
                    f.notes().get(0));
        }
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":1e-310}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertTrue(f.notes().get(0).contains("cannot be restored by a multiplier"), f.notes().get(0));
            assertTrue(!f.notes().get(0).contains("Infinity"), f.notes().get(0));
        }
        Files.writeString(tmp.resolve("adapter_config.json"),
                "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":2,\"rank_dropout_scale\":false}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(List.of(), f.notes());
        }
    }

    /**
     * PEFT 0.14 (rank_dropout_scale, no peft_version) took r and alpha from one key, the first of rank_pattern's
     * then alpha_pattern's keys that matches: for q_proj that is "q_proj", so r = 2 and alpha = 4 (alpha_pattern
     * lacks the key), scale 2; 0.15 and later give alpha_pattern's 8, scale 4. lokr applies 4 and says so.
     */
    @Test
    void aPeft014ConfigWhosePatternsPickAnotherAlphaGetsANote(@TempDir Path tmp) throws Exception {
        String patterns = "\"rank_pattern\":{\"q_proj\":2},\"alpha_pattern\":{\"layers\\\\.0\\\\.q_proj\":8}";
        Path file = peft(tmp, "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":4,\"rank_dropout_scale\":false," + patterns
                + "}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(4.0, f.moduleInfo("model.layers.0.q_proj").scale(), "current PEFT's rule");
            assertEquals(1, f.notes().size(), f.notes().toString());
            String note = f.notes().get(0);
            assertTrue(note.contains("PEFT 0.14 took a module's r and alpha from one pattern key"), note);
            assertTrue(note.contains("Multiplier 0.5 gives its delta for 1 module (first: 'model.layers.0.q_proj')."),
                    note);
            assertTrue(note.contains("--only-modules"), note);
        }
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":4,"
                + "\"rank_dropout_scale\":false,\"peft_version\":\"0.18.0\"," + patterns + "}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(List.of(), f.notes(), "written by PEFT 0.18 or later: one rule");
        }
        Files.writeString(tmp.resolve("adapter_config.json"), "{\"peft_type\":\"LOKR\",\"r\":4,\"alpha\":4,"
                + "\"rank_dropout_scale\":false,\"rank_pattern\":{\"q_proj\":2},\"alpha_pattern\":{\"q_proj\":8}}");
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(List.of(), f.notes(), "both rules pick the key q_proj");
        }
    }

    /**
     * A file that PEFT 0.14 cannot have written gets no note about 0.14's rule. Under 0.14's form of the key
     * {@code q|fc}, {@code (.*\.)?q|fc$}, the alternative {@code fc$} must match from the name's start, so 0.14
     * gave {@code x.fc} r = 8, and it would have stored w2 at rank 8: its rank-2 factors (from 0.15's r = 2) show
     * the file was written by PEFT 0.15 to 0.17. The note still told how to get "0.14's delta" of {@code x.v}
     * (0.14: key v, alpha 8; 0.15: alpha_pattern's 1), for a training that never happened.
     */
    @Test
    void noPeft014NoteWhenAStoredRankShowsPeft014DidNotWriteTheFile(@TempDir Path tmp) throws Exception {
        List<SafetensorsWriter.Tensor> t = new ArrayList<>();
        for (String m : List.of("x.fc", "x.v")) {
            t.add(SafetensorsWriter.Tensor.of("base_model.model." + m + ".lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2),
                    DType.F32));
            t.add(SafetensorsWriter.Tensor.of("base_model.model." + m + ".lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 2),
                    DType.F32));
            t.add(SafetensorsWriter.Tensor.of("base_model.model." + m + ".lokr_w2_b", Nd4j.ones(DataType.FLOAT, 2, 3),
                    DType.F32));
        }
        Path file = tmp.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(file, null, t);
        String config = "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8,\"rank_dropout_scale\":false,"
                + "\"rank_pattern\":{\"q|fc\":2,\"v\":2},\"alpha_pattern\":{\"x\\\\.v\":1}}";
        Files.writeString(tmp.resolve("adapter_config.json"), config);
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(4.0, f.moduleInfo("x.fc").scale(), "current PEFT's rule: r 2, alpha 8");
            assertEquals(0.5, f.moduleInfo("x.v").scale(), "current PEFT's rule: r 2, alpha 1");
            assertEquals(List.of(), f.notes(), "x.fc's rank 2 rules PEFT 0.14 (r = 8 there) out");
        }
        // the same config without x.fc's evidence: the note on x.v stays
        Files.writeString(tmp.resolve("adapter_config.json"), config.replace("\"q|fc\":2,", ""));
        SafetensorsWriter.write(file, null, t.subList(3, 6));
        try (AdapterFile f = AdapterFile.read(file)) {
            assertEquals(1, f.notes().size(), f.notes().toString());
            assertTrue(f.notes().get(0).contains("Multiplier 8.0 gives its delta for 1 module (first: 'x.v')"),
                    f.notes().get(0));
        }
    }

    @Test
    void peftWithoutConfigIsRefused(@TempDir Path tmp) throws Exception {
        Path file = peft(tmp, "{}");
        Files.delete(tmp.resolve("adapter_config.json"));
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("adapter_config.json"), e.getMessage());
    }

    // ---- bad adapters ----

    /** Writes a LyCORIS adapter with module "lycoris_proj" made of the given suffix -> shape. */
    static Path lycoris(Path dir, Map<String, long[]> pieces) throws Exception {
        List<SafetensorsWriter.Tensor> t = new ArrayList<>();
        pieces.forEach(
                (k, s) ->
                        t.add(
                                SafetensorsWriter.Tensor.of(
                                        "lycoris_proj." + k,
                                        Nd4j.ones(DataType.FLOAT, s),
                                        DType.F32)));
        Path file = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(file, null, t);
        return file;
    }

    static Map<String, long[]> pieces(Object... kv) {
        Map<String, long[]> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], (long[]) kv[i + 1]);
        }
        return m;
    }

    static long[] s(long... v) {
        return v;
    }

    static Stream<Arguments> badAtRead() {
        return Stream.of(
                Arguments.of(
                        "w1_a without w1_b",
                        pieces("lokr_w1_a", s(6, 2), "lokr_w2", s(8, 12)),
                        "no lokr_w1_b"),
                Arguments.of(
                        "w2_b without w2_a",
                        pieces("lokr_w1", s(6, 8), "lokr_w2_b", s(2, 12)),
                        "no lokr_w2_a"),
                Arguments.of("no w2", pieces("lokr_w1", s(6, 8)), "no lokr_w2"),
                Arguments.of(
                        "w1 and w1_a",
                        pieces(
                                "lokr_w1",
                                s(6, 8),
                                "lokr_w1_a",
                                s(6, 2),
                                "lokr_w1_b",
                                s(2, 8),
                                "lokr_w2",
                                s(8, 12)),
                        "both lokr_w1 and"),
                Arguments.of(
                        "inner dims",
                        pieces("lokr_w1", s(6, 8), "lokr_w2_a", s(8, 3), "lokr_w2_b", s(2, 12)),
                        "[8, 3]"),
                Arguments.of(
                        "ranks differ",
                        pieces(
                                "lokr_w1_a",
                                s(6, 2),
                                "lokr_w1_b",
                                s(2, 8),
                                "lokr_w2_a",
                                s(8, 3),
                                "lokr_w2_b",
                                s(3, 12)),
                        "rank 2"),
                Arguments.of(
                        "t2 without w2 pair",
                        pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 12), "lokr_t2", s(2, 2, 3, 3)),
                        "lokr_t2"),
                Arguments.of(
                        "bad dora",
                        pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 12), "dora_scale", s(4, 12)),
                        "dora_scale"),
                // LyCORIS's loaders list lokr_t1: beside it lokr_w1_a / lokr_w1_b are Tucker factors, and these
                // shapes would otherwise read as w1 = w1a @ w1b without a word
                Arguments.of(
                        "lokr_t1",
                        pieces(
                                "lokr_t1",
                                s(4, 4, 3, 3),
                                "lokr_w1_a",
                                s(4, 4),
                                "lokr_w1_b",
                                s(4, 4),
                                "lokr_w2",
                                s(4, 4, 3, 3)),
                        "'lycoris_proj.lokr_t1', a LoKR tensor that lokr does not read"),
                Arguments.of(
                        "unknown lokr tensor",
                        pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 12), "lokr_w3", s(2, 2)),
                        "'lycoris_proj.lokr_w3', a LoKR tensor that lokr does not read"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badAtRead")
    void missingOrInconsistentPiecesNameTheModule(
            String label, Map<String, long[]> pieces, String mention, @TempDir Path tmp)
            throws Exception {
        Path file = lycoris(tmp, pieces);
        AdapterFormatException e =
                assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file), label);
        assertEquals("lycoris_proj", e.module(), label);
        assertTrue(
                e.getMessage().contains("lycoris_proj") && e.getMessage().contains(mention),
                label + ": " + e.getMessage());
    }

    static Stream<Arguments> badForWeight() {
        return Stream.of(
                Arguments.of(
                        "w1 does not divide",
                        pieces("lokr_w1", s(7, 8), "lokr_w2", s(8, 12)),
                        s(48, 96),
                        "[7, 8]"),
                Arguments.of(
                        "w2 too small",
                        pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 11)),
                        s(48, 96),
                        "[8, 11]"),
                Arguments.of(
                        "w2_a wrong",
                        pieces("lokr_w1", s(6, 8), "lokr_w2_a", s(7, 2), "lokr_w2_b", s(2, 12)),
                        s(48, 96),
                        "[7, 2]"),
                Arguments.of(
                        "w2_b wrong",
                        pieces("lokr_w1", s(6, 8), "lokr_w2_a", s(8, 2), "lokr_w2_b", s(2, 13)),
                        s(48, 96),
                        "[2, 13]"),
                Arguments.of(
                        "conv kernel",
                        pieces("lokr_w1", s(6, 8), "lokr_w2_a", s(8, 2), "lokr_w2_b", s(2, 12)),
                        s(48, 96, 3, 3),
                        "[2, 12]"),
                Arguments.of(
                        "tucker on dense",
                        pieces(
                                "lokr_w1",
                                s(6, 8),
                                "lokr_t2",
                                s(2, 2, 3, 3),
                                "lokr_w2_a",
                                s(2, 8),
                                "lokr_w2_b",
                                s(2, 12)),
                        s(48, 96),
                        "conv"),
                Arguments.of(
                        "dora length",
                        pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 12), "dora_scale", s(40, 1)),
                        s(48, 96),
                        "[40, 1]"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badForWeight")
    void shapesThatDoNotFitNameModuleAndBothShapes(
            String label,
            Map<String, long[]> pieces,
            long[] weight,
            String mention,
            @TempDir Path tmp)
            throws Exception {
        Path file = lycoris(tmp, pieces);
        try (AdapterFile f = AdapterFile.read(file)) {
            AdapterFormatException e =
                    assertThrows(
                            AdapterFormatException.class,
                            () -> f.resolve("lycoris_proj", weight, DataType.FLOAT),
                            label);
            assertEquals("lycoris_proj", e.module(), label);
            String msg = e.getMessage();
            assertTrue(
                    msg.contains(mention) && msg.contains(java.util.Arrays.toString(weight)),
                    label + ": " + msg);
        }
    }

    static Path base(Path dir, Map<String, long[]> tensors) throws Exception {
        List<SafetensorsWriter.Tensor> t = new ArrayList<>();
        tensors.forEach(
                (k, s) ->
                        t.add(
                                SafetensorsWriter.Tensor.of(
                                        k, Nd4j.ones(DataType.FLOAT, s), DType.F32)));
        Path file = dir.resolve("base.safetensors");
        SafetensorsWriter.write(file, null, t);
        return file;
    }

    @Test
    void mergeErrorsNameTheModule(@TempDir Path tmp) throws Exception {
        Path adapter = lycoris(tmp, pieces("lokr_w1", s(6, 8), "lokr_w2", s(8, 12), "alpha", s()));
        Path out = tmp.resolve("out.safetensors");

        Path unmatched = base(tmp, pieces("other.weight", s(48, 96)));
        AdapterFormatException e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> AdapterMerge.mergeFile(unmatched, adapter, out, 1.0, null));
        assertEquals("lycoris_proj", e.module());
        assertTrue(e.getMessage().contains("matches no base tensor"), e.getMessage());

        Path amb = base(tmp, pieces("a.b.weight", s(48, 96), "a_b.weight", s(48, 96)));
        Path adapter2 = tmp.resolve("a2.safetensors");
        SafetensorsWriter.write(
                adapter2,
                null,
                List.of(
                        SafetensorsWriter.Tensor.of(
                                "lycoris_a_b.lokr_w1", Nd4j.ones(DataType.FLOAT, 6, 8), DType.F32),
                        SafetensorsWriter.Tensor.of(
                                "lycoris_a_b.lokr_w2",
                                Nd4j.ones(DataType.FLOAT, 8, 12),
                                DType.F32)));
        e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> AdapterMerge.mergeFile(amb, adapter2, out, 1.0, null));
        assertEquals("lycoris_a_b", e.module());
        assertTrue(
                e.getMessage().contains("ambiguous") && e.getMessage().contains("a.b.weight"),
                e.getMessage());

        Path mismatch = base(tmp, pieces("proj.weight", s(48, 88)));
        e =
                assertThrows(
                        AdapterFormatException.class,
                        () -> AdapterMerge.mergeFile(mismatch, adapter, out, 1.0, null));
        assertEquals("lycoris_proj", e.module());
        assertTrue(
                e.getMessage().contains("[48, 88]") && e.getMessage().contains("[8, 12]"),
                e.getMessage());
        assertTrue(!Files.exists(out), "no output after a failed merge");
    }
}
