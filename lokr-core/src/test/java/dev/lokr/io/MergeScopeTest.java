package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link AdapterMerge.Scope}: merging one model of a Stable-Diffusion-style adapter ({@code lora_unet_},
 * {@code lora_te1_}, ...) into one model of a file that holds several under prefixes.
 */
class MergeScopeTest {

    @TempDir Path dir;

    private static final String UNET = "model.diffusion_model.";
    private static final String TE = "cond_stage_model.transformer.";

    /** A base file shaped like a single-file checkpoint: each weight [6, 4], each model under its prefix. */
    private Path base() throws IOException {
        Path file = dir.resolve("checkpoint.safetensors");
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
        long seed = 1;
        for (String key : List.of(UNET + "input_blocks.1.proj_in.weight", UNET + "input_blocks.1.proj_in.bias",
                TE + "text_model.encoder.layers.0.q_proj.weight", "text_model.encoder.layers.0.q_proj.weight")) {
            ts.add(SafetensorsWriter.Tensor.of(key, Nd4j.rand(DataType.FLOAT, key.endsWith("bias") ? new long[] {6}
                    : new long[] {6, 4}).addi(seed++), DType.F32));
        }
        SafetensorsWriter.write(file, null, ts);
        return file;
    }

    /** w1 [2, 2] and w2 [3, 2], both full (scale 1): dW = kron(w1, w2), [6, 4]. */
    private static void module(List<SafetensorsWriter.Tensor> ts, String name, double value) {
        ts.add(SafetensorsWriter.Tensor.of(name + ".lokr_w1", Nd4j.valueArrayOf(new long[] {2, 2}, value, DataType.FLOAT), DType.F32));
        ts.add(SafetensorsWriter.Tensor.of(name + ".lokr_w2", Nd4j.valueArrayOf(new long[] {3, 2}, 1.0, DataType.FLOAT), DType.F32));
    }

    private Path adapter(String... modules) throws IOException {
        Path file = dir.resolve("adapter.safetensors");
        List<SafetensorsWriter.Tensor> ts = new ArrayList<>();
        for (int i = 0; i < modules.length; i++) {
            module(ts, modules[i], i + 1);
        }
        SafetensorsWriter.write(file, null, ts);
        return file;
    }

    private static INDArray read(Path file, String key) throws IOException {
        try (SafetensorsReader r = SafetensorsReader.open(file)) {
            return r.read(key, DataType.DOUBLE);
        }
    }

    @Test
    void eachModelMergesUnderItsPrefixAndEveryOtherTensorIsKept() throws IOException {
        Path base = base();
        Path adapter = adapter("lora_unet_input_blocks_1_proj_in", "lora_te_text_model_encoder_layers_0_q_proj");
        Path out = dir.resolve("merged.safetensors");
        List<String> log = new ArrayList<>();
        List<AdapterMerge.Merged> done = AdapterMerge.mergeFile(base, adapter, out, 1.0,
                new AdapterMerge.Scope("lora_unet_", UNET), log::add);
        assertEquals(1, done.size());
        assertEquals(UNET + "input_blocks.1.proj_in.weight", done.get(0).baseTensor());
        assertTrue(log.get(0).equals("left out 1 module whose names do not start with 'lora_unet_' (first: "
                + "lora_te_text_model_encoder_layers_0_q_proj)"), log.toString());
        String unetW = UNET + "input_blocks.1.proj_in.weight";
        assertEquals(1.0, read(out, unetW).sub(read(base, unetW)).minNumber().doubleValue(), 1e-6, "+ kron(1, 1)");
        assertEquals(1.0, read(out, unetW).sub(read(base, unetW)).maxNumber().doubleValue(), 1e-6);
        for (String kept : List.of(UNET + "input_blocks.1.proj_in.bias", TE + "text_model.encoder.layers.0.q_proj.weight",
                "text_model.encoder.layers.0.q_proj.weight")) {
            assertEquals(read(base, kept), read(out, kept), kept);
        }

        // then the text encoder, into the file the first merge wrote
        done = AdapterMerge.mergeFile(out, adapter, out, 1.0, new AdapterMerge.Scope("lora_te_", TE), null);
        String teW = TE + "text_model.encoder.layers.0.q_proj.weight";
        assertEquals(teW, done.get(0).baseTensor());
        assertEquals(2.0, read(out, teW).sub(read(base, teW)).maxNumber().doubleValue(), 1e-6, "+ kron(2, 1)");
        assertEquals(1.0, read(out, unetW).sub(read(base, unetW)).maxNumber().doubleValue(), 1e-6, "unet kept");
    }

    @Test
    void withoutTheBasePrefixTheMessageSaysWhatIsMissing() throws IOException {
        Path base = base();
        Path adapter = adapter("lora_unet_input_blocks_1_proj_in");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base, adapter, dir.resolve("o.safetensors"), 1.0, null));
        assertTrue(e.getMessage().contains("matches no base tensor") && e.getMessage().contains(
                "a file that holds the model under a prefix such as 'model.diffusion_model.' needs that base prefix"),
                e.getMessage());
        AdapterFormatException noDot = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base, adapter, dir.resolve("o.safetensors"), 1.0,
                        new AdapterMerge.Scope("", "model.diffusion_model"), null));
        assertTrue(noDot.getMessage().contains("usually ends with '.' ('model.diffusion_model.')"), noDot.getMessage());
    }

    @Test
    void twoModelsOfOneNameAreMergedOneAtATime() throws IOException {
        // SDXL: lora_te1_ and lora_te2_ name the same path in two text encoders
        Path base = base();
        Path adapter = adapter("lora_te1_text_model_encoder_layers_0_q_proj", "lora_te2_text_model_encoder_layers_0_q_proj");
        Path out = dir.resolve("merged.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class,
                () -> AdapterMerge.mergeFile(base, adapter, out, 1.0, null));
        assertTrue(e.getMessage().contains("both match base tensor 'text_model.encoder.layers.0.q_proj.weight'; "
                + "merge the modules of one model at a time"), e.getMessage());
        List<AdapterMerge.Merged> done = AdapterMerge.mergeFile(base, adapter, out, 1.0,
                new AdapterMerge.Scope("lora_te2_", ""), null);
        assertEquals("lora_te2_text_model_encoder_layers_0_q_proj", done.get(0).module());
        String w = "text_model.encoder.layers.0.q_proj.weight";
        assertEquals(2.0, read(out, w).sub(read(base, w)).maxNumber().doubleValue(), 1e-6, "te2's kron(2, 1)");
    }

    @Test
    void prefixesThatSelectNothingAreRefused() throws IOException {
        Path base = base();
        Path adapter = adapter("lora_unet_input_blocks_1_proj_in");
        Path out = dir.resolve("o.safetensors");
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterMerge.mergeFile(base,
                adapter, out, 1.0, new AdapterMerge.Scope("lora_te_", ""), null));
        assertTrue(e.getMessage().contains("no module name starts with 'lora_te_'; the modules are "
                + "[lora_unet_input_blocks_1_proj_in]"), e.getMessage());
        SafetensorsFormatException f = assertThrows(SafetensorsFormatException.class, () -> AdapterMerge.mergeFile(
                base, adapter, out, 1.0, new AdapterMerge.Scope("", "first_stage_model."), null));
        assertTrue(f.getMessage().contains("no tensor name starts with the base prefix 'first_stage_model.'"),
                f.getMessage());
        assertTrue(!out.toFile().exists(), "nothing written");
    }

    /** A base tensor that cannot take a merged weight is refused by name before anything is written. */
    @Test
    void aTargetThatCannotTakeAMergedWeightIsRefusedByName() throws IOException {
        Path adapter = adapter("lycoris_fc");
        Path out = dir.resolve("merged.safetensors");
        for (SafetensorsWriter.Tensor t : List.of(
                SafetensorsWriter.Tensor.raw("fc.weight", DType.I64, new long[] {6, 4},
                        java.nio.ByteBuffer.allocate(6 * 4 * 8)),
                SafetensorsWriter.Tensor.of("fc.weight", Nd4j.create(DataType.FLOAT, 0, 4), DType.F32))) {
            Path base = dir.resolve("base.safetensors");
            SafetensorsWriter.write(base, null, List.of(t));
            AdapterFormatException e = assertThrows(AdapterFormatException.class,
                    () -> AdapterMerge.mergeFile(base, adapter, out, 1.0, null));
            assertTrue(e.getMessage().contains("module 'lycoris_fc'") || e.getMessage().contains("lycoris_fc"),
                    e.getMessage());
            assertTrue(e.getMessage().contains("merges into base tensor 'fc.weight'")
                    && e.getMessage().contains(base.toString())
                    && e.getMessage().contains("cannot take a merged weight"), e.getMessage());
            assertTrue(!java.nio.file.Files.exists(out), "nothing written");
        }
    }
}
