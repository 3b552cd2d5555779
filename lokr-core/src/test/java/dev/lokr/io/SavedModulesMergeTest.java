package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link AdapterMerge.SavedModules}: a PEFT adapter's {@code modules_to_save} (a trained head) replaces the
 * base's tensors, as PEFT's {@code merge_and_unload} does, or the base's are kept on request; a saved tensor
 * that cannot go in place is refused before anything is written.
 */
class SavedModulesMergeTest {

    @TempDir Path dir;

    /** Base: a LoKR target fc [6, 4], a head [3, 6] + bias [3] in F16, and an unrelated tensor. */
    private Path base() throws IOException {
        Path file = dir.resolve("base.safetensors");
        SafetensorsWriter.write(file, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("head.weight", Nd4j.zeros(DataType.FLOAT, 3, 6), DType.F16),
                SafetensorsWriter.Tensor.of("head.bias", Nd4j.zeros(DataType.FLOAT, 3), DType.F16),
                SafetensorsWriter.Tensor.of("other.weight", Nd4j.ones(DataType.FLOAT, 2, 2).muli(7), DType.F32)));
        return file;
    }

    /** A PEFT adapter: module fc (w1 [2, 2], w2 [3, 2], r 2, alpha 2: scale 1) and the given extra tensors. */
    private Path adapter(SafetensorsWriter.Tensor... extra) throws IOException {
        Path file = dir.resolve("adapter_model.safetensors");
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>(List.of(
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32)));
        ts.addAll(List.of(extra));
        SafetensorsWriter.write(file, null, ts);
        Files.writeString(dir.resolve("adapter_config.json"),
                "{\"peft_type\":\"LOKR\",\"r\":2,\"alpha\":2,\"modules_to_save\":[\"head\"]}");
        return file;
    }

    private static SafetensorsWriter.Tensor saved(String name, INDArray values) {
        return SafetensorsWriter.Tensor.of(name, values, DType.F32);
    }

    private static INDArray read(Path file, String name) throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            return r.read(name, DataType.DOUBLE);
        }
    }

    private static DType dtype(Path file, String name) throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            return r.info(name).dtype();
        }
    }

    @Test
    void savedModulesReplaceTheBaseTensorsInTheBaseDtype() throws Exception {
        INDArray head = Nd4j.linspace(DataType.DOUBLE, 1, 18, 1).reshape(3, 6).muli(0.25);
        INDArray bias = Nd4j.createFromArray(0.5, -1.5, 2.0);
        Path adapter = adapter(saved("base_model.model.head.weight", head.castTo(DataType.FLOAT)),
                saved("base_model.model.head.bias", bias.castTo(DataType.FLOAT)),
                saved("base_model.model.embed_tokens.token_adapter.trainable_tokens_delta", Nd4j.ones(DataType.FLOAT, 2)));
        Path out = dir.resolve("merged.safetensors");
        List<String> log = new ArrayList<>();
        List<AdapterMerge.Merged> merged = AdapterMerge.mergeFile(base(), adapter, out, 1.0, log::add);
        assertEquals(1, merged.size(), merged.toString());
        assertEquals(head, read(out, "head.weight"));
        assertEquals(bias, read(out, "head.bias"));
        assertEquals(DType.F16, dtype(out, "head.weight"), "the base's dtype is kept");
        assertEquals(Nd4j.ones(DataType.DOUBLE, 6, 4).addi(1), read(out, "fc.weight"), "the LoKR module is merged");
        assertEquals(Nd4j.ones(DataType.DOUBLE, 2, 2).muli(7), read(out, "other.weight"));
        assertTrue(log.contains("replaced head.weight [3, 6] F16 with the adapter's saved "
                + "base_model.model.head.weight (PEFT modules_to_save or a saved embedding)"), log.toString());
        assertTrue(log.contains("ignored 1 tensor of the adapter that belongs to no LoKR module and replaces no base"
                + " tensor (first: base_model.model.embed_tokens.token_adapter.trainable_tokens_delta)"),
                "a tensor that names no base tensor is still reported: " + log);
    }

    /**
     * The replaced lines come after the file is written, in the base file's order (head.weight before head.bias
     * there, whatever the adapter's order), and a refusal while writing leaves none.
     */
    @Test
    void replacedLinesFollowTheWriteInBaseOrderAndNeverPrecedeARefusal() throws Exception {
        Path adapter = adapter(saved("base_model.model.head.bias", Nd4j.ones(DataType.FLOAT, 3)),
                saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)));
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, dir.resolve("merged.safetensors"), 1.0, log::add);
        assertEquals(3, log.size(), log.toString());
        assertTrue(log.get(0).startsWith("merged fc -> fc.weight"), log.toString());
        assertTrue(log.get(1).startsWith("replaced head.weight "), log.toString());
        assertTrue(log.get(2).startsWith("replaced head.bias "), log.toString());

        INDArray nan = Nd4j.ones(DataType.FLOAT, 3);
        nan.putScalar(2, Float.NaN);
        Path bad = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)),
                saved("base_model.model.head.bias", nan));
        Path out = dir.resolve("refused.safetensors");
        List<String> refusedLog = new ArrayList<>();
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base(), bad, out, 1.0, refusedLog::add));
        assertTrue(e.getMessage().contains("saved tensor 'base_model.model.head.bias' holds a non-finite value (NaN at"
                + " flat index 2) and cannot replace base tensor 'head.bias' [3] F16; nothing was written"),
                e.getMessage());
        assertFalse(Files.exists(out));
        assertFalse(refusedLog.stream().anyMatch(l -> l.startsWith("replaced")), refusedLog.toString());
    }

    @Test
    void theIgnoredLineCountsInThePlural() throws Exception {
        Path adapter = adapter(saved("base_model.model.a.token_adapter.trainable_tokens_delta", Nd4j.ones(DataType.FLOAT, 2)),
                saved("base_model.model.classifier.weight", Nd4j.ones(DataType.FLOAT, 2)));
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, dir.resolve("merged.safetensors"), 1.0, log::add);
        assertTrue(log.contains("ignored 2 tensors of the adapter that belong to no LoKR module and replace no base"
                + " tensor (first: base_model.model.a.token_adapter.trainable_tokens_delta)"), log.toString());
    }

    @Test
    void keepingTheBaseModulesLeavesThemAndSaysSo() throws Exception {
        Path adapter = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)));
        Path out = dir.resolve("merged.safetensors");
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, out, 1.0, AdapterMerge.Scope.ALL, AdapterMerge.SavedModules.KEEP,
                log::add);
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 3, 6), read(out, "head.weight"));
        assertTrue(log.stream().anyMatch(l -> l.startsWith("ignored 1 tensor") && l.endsWith(
                "; the base's tensors were kept for the 1 saved module tensor among them")), log.toString());
        assertFalse(log.stream().anyMatch(l -> l.startsWith("replaced")), log.toString());
    }

    @Test
    void keepingSaysNothingOfSavedModulesWhenThereAreNone() throws Exception {
        Path adapter = adapter(saved("base_model.model.embed_tokens.token_adapter.trainable_tokens_delta",
                Nd4j.ones(DataType.FLOAT, 2)));
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, dir.resolve("merged.safetensors"), 1.0, AdapterMerge.Scope.ALL,
                AdapterMerge.SavedModules.KEEP, log::add);
        assertTrue(log.contains("ignored 1 tensor of the adapter that belongs to no LoKR module and replaces no base"
                + " tensor (first: base_model.model.embed_tokens.token_adapter.trainable_tokens_delta)"),
                log.toString());
    }

    /** A BatchNorm in modules_to_save brings its I64 num_batches_tracked: copied byte for byte into an I64. */
    @Test
    void aSavedTensorOfANonFloatDtypeIsCopiedIntoTheSameDtypeAndRefusedIntoAnother() throws Exception {
        Path base = dir.resolve("bn-base.safetensors");
        java.nio.ByteBuffer zero = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(0, 0L);
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.raw("bn.num_batches_tracked", DType.I64, new long[0], zero),
                SafetensorsWriter.Tensor.of("bn.running_mean", Nd4j.zeros(DataType.FLOAT, 3), DType.F32)));
        java.nio.ByteBuffer steps = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putLong(0, 123456789012L);
        Path adapter = adapter(SafetensorsWriter.Tensor.raw("base_model.model.bn.num_batches_tracked", DType.I64,
                new long[0], steps), saved("base_model.model.bn.running_mean", Nd4j.ones(DataType.FLOAT, 3)));
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter, out, 1.0, null);
        try (SafetensorsReader r = SafetensorsReader.open(out)) {
            assertEquals(DType.I64, r.info("bn.num_batches_tracked").dtype());
            assertEquals(123456789012L, r.raw("bn.num_batches_tracked").order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(0));
        }
        assertEquals(Nd4j.ones(DataType.DOUBLE, 3), read(out, "bn.running_mean"));
        // into a base tensor of another dtype an I64 does not convert
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("bn.num_batches_tracked", Nd4j.scalar(0f), DType.F32),
                SafetensorsWriter.Tensor.of("bn.running_mean", Nd4j.zeros(DataType.FLOAT, 3), DType.F32)));
        Path refused = dir.resolve("refused.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base, adapter, refused, 1.0, null));
        assertTrue(e.getMessage().contains("saved tensor 'base_model.model.bn.num_batches_tracked' [] I64 would replace"
                + " base tensor 'bn.num_batches_tracked' [] F32"), e.getMessage());
        assertTrue(e.getMessage().contains("only F32, F16, BF16 and F64 values convert"), e.getMessage());
        assertFalse(Files.exists(refused));
    }

    @Test
    void aModulePrefixLeavesOutTheSavedModulesOutsideIt() throws Exception {
        Path adapter = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)));
        Path out = dir.resolve("merged.safetensors");
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, out, 1.0, new AdapterMerge.Scope("fc", ""), log::add);
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 3, 6), read(out, "head.weight"));
        assertTrue(log.contains("ignored 1 tensor of the adapter that belongs to no LoKR module and replaces no base"
                + " tensor (first: base_model.model.head.weight)"), log.toString());
        AdapterMerge.mergeFile(base(), adapter, out, 1.0, new AdapterMerge.Scope("", ""), null);
        assertEquals(Nd4j.ones(DataType.DOUBLE, 3, 6), read(out, "head.weight"), "inside the prefix: replaced");
    }

    @Test
    void aSavedTensorOfAnotherShapeIsRefusedBeforeWriting() throws Exception {
        Path adapter = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 4, 6)));
        Path out = dir.resolve("merged.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base(), adapter, out, 1.0, null));
        assertTrue(e.getMessage().contains("saved tensor 'base_model.model.head.weight' [4, 6] F32 would replace base"
                + " tensor 'head.weight' [3, 6] F16"), e.getMessage());
        assertTrue(e.getMessage().contains("the shapes differ"), e.getMessage());
        assertTrue(e.getMessage().contains("--keep-base-modules"), e.getMessage());
        assertFalse(Files.exists(out));
        // the base's tensors kept: the same adapter merges
        AdapterMerge.mergeFile(base(), adapter, out, 1.0, AdapterMerge.Scope.ALL, AdapterMerge.SavedModules.KEEP,
                null);
        assertTrue(Files.exists(out));
    }

    @Test
    void aSavedValueTheBaseDtypeCannotStoreIsRefused() throws Exception {
        INDArray head = Nd4j.ones(DataType.FLOAT, 3, 6);
        head.putScalar(1, 2, 70000f);   // beyond F16
        Path adapter = adapter(saved("base_model.model.head.weight", head));
        Path out = dir.resolve("merged.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base(), adapter, out, 1.0, null));
        assertTrue(e.getMessage().contains("saved tensor 'base_model.model.head.weight' holds 70000.0 at flat index 8,"
                + " beyond the range of F16"), e.getMessage());
        assertTrue(e.getMessage().contains("cannot replace base tensor 'head.weight' [3, 6] F16; nothing was written"),
                e.getMessage());
        assertFalse(Files.exists(out));
    }

    @Test
    void aSavedTensorOnALoKrTargetIsRefused() throws Exception {
        Path adapter = adapter(saved("base_model.model.fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4)));
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base(), adapter, dir.resolve("merged.safetensors"), 1.0, null));
        assertTrue(e.getMessage().contains("merges into base tensor 'fc.weight', which the adapter's saved tensor"
                + " 'base_model.model.fc.weight' would also replace"), e.getMessage());
    }

    @Test
    void theBasePrefixAppliesToSavedTensorsToo() throws Exception {
        Path base = dir.resolve("prefixed.safetensors");
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("model.fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("model.head.weight", Nd4j.zeros(DataType.FLOAT, 3, 6), DType.F32),
                SafetensorsWriter.Tensor.of("head.weight", Nd4j.zeros(DataType.FLOAT, 3, 6), DType.F32)));
        Path adapter = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)));
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter, out, 1.0, new AdapterMerge.Scope("", "model."), null);
        assertEquals(Nd4j.ones(DataType.DOUBLE, 3, 6), read(out, "model.head.weight"));
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 3, 6), read(out, "head.weight"), "outside the prefix: untouched");
    }

    /**
     * An F64 saved tensor goes into an F64 base tensor at full precision: it is read in double, not through
     * float32 (0.1 and its multiples are not float32 values).
     */
    @Test
    void anF64SavedTensorReplacesAnF64BaseTensorExactly() throws Exception {
        Path base = dir.resolve("f64-base.safetensors");
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("head.weight", Nd4j.zeros(DataType.DOUBLE, 3, 6), DType.F64)));
        INDArray head = Nd4j.linspace(DataType.DOUBLE, 1, 18, 1).reshape(3, 6).muli(0.1);
        Path adapter = adapter(SafetensorsWriter.Tensor.of("base_model.model.head.weight", head, DType.F64));
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(base, adapter, out, 1.0, null);
        assertEquals(DType.F64, dtype(out, "head.weight"));
        assertArrayEquals(head.dup('c').data().asDouble(), read(out, "head.weight").dup('c').data().asDouble(), 0.0);
    }

    /** No choice for the saved modules is an error, not a silent KEEP. */
    @Test
    void aNullSavedModulesChoiceIsRefused() throws Exception {
        Path adapter = adapter(saved("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6)));
        Path out = dir.resolve("merged.safetensors");
        assertThrows(NullPointerException.class,
                () -> AdapterMerge.mergeFile(base(), adapter, out, 1.0, AdapterMerge.Scope.ALL, null, null));
        assertFalse(Files.exists(out));
    }

    @Test
    void aLycorisFileHasNoSavedModules() throws Exception {
        Path adapter = dir.resolve("lycoris.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                // a PEFT-style name in a LyCORIS file (not all names start with base_model.model.)
                SafetensorsWriter.Tensor.of("base_model.model.head.weight", Nd4j.ones(DataType.FLOAT, 3, 6), DType.F32)));
        Path out = dir.resolve("merged.safetensors");
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base(), adapter, out, 1.0, log::add);
        assertEquals(Nd4j.zeros(DataType.DOUBLE, 3, 6), read(out, "head.weight"));
        assertTrue(log.stream().anyMatch(l -> l.startsWith("ignored 1 tensor ")), log.toString());
    }
}
