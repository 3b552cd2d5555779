package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LyCORIS modules of a PyTorch {@code Conv1d} (weight {@code [out, in, k]}): a full {@code lokr_w2 [b, d, k]} and a
 * Tucker {@code lokr_t2 [r, r, k]}, merged into a 3-D base weight and checked against loops over the spec's
 * {@code dW = kron(w1, w2)} with the kernel as the last axis.
 */
class Conv1dFilesTest {

    @TempDir Path dir;

    private static INDArray seq(DataType type, double start, long... shape) {
        long n = 1;
        for (long s : shape) {
            n *= s;
        }
        return Nd4j.linspace(start, start + 0.01 * (n - 1), n, DataType.DOUBLE).reshape('c', shape).castTo(type);
    }

    @Test
    void aFullConv1dModuleMergesAsTheSpecSays() throws IOException {
        // weight [6, 4, 3]: w1 [2, 2] (a, c), w2 [3, 2, 3] (b, d, k); both full, so s = 1
        INDArray w1 = seq(DataType.FLOAT, 0.5, 2, 2);
        INDArray w2 = seq(DataType.FLOAT, -0.2, 3, 2, 3);
        INDArray base = seq(DataType.FLOAT, 1.0, 6, 4, 3);
        Path basePath = dir.resolve("base.safetensors");
        SafetensorsWriter.write(basePath, null, List.of(SafetensorsWriter.Tensor.of("conv.weight", base, DType.F32)));
        Path adapter = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w1", w1, DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w2", w2, DType.F32)));
        Path out = dir.resolve("merged.safetensors");
        AdapterMerge.mergeFile(basePath, adapter, out, 1.0, null);
        double[] merged;
        try (SafetensorsReader r = SafetensorsReader.open(out)) {
            assertEquals(List.of(6L, 4L, 3L), java.util.Arrays.stream(r.info("conv.weight").shape()).boxed().toList());
            merged = r.readDoubles("conv.weight");
        }
        double max = 0;
        for (int a = 0; a < 2; a++) {
            for (int b = 0; b < 3; b++) {
                for (int c = 0; c < 2; c++) {
                    for (int d = 0; d < 2; d++) {
                        for (int k = 0; k < 3; k++) {
                            int o = a * 3 + b;
                            int i = c * 2 + d;
                            double want = base.getDouble(o, i, k) + w1.getDouble(a, c) * w2.getDouble(b, d, k);
                            max = Math.max(max, Math.abs(want - merged[(o * 4 + i) * 3 + k]));
                        }
                    }
                }
            }
        }
        assertTrue(max < 1e-5, "merged vs loops: " + max);
    }

    @Test
    void aTuckerConv1dModuleReadsOntoBothWeightForms() throws IOException {
        // weight [6, 4, 3]: w1 [2, 2]; Tucker rank 1: t2 [1, 1, 3], w2_a [1, 3], w2_b [1, 2]
        Path adapter = dir.resolve("tucker.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w1", seq(DataType.FLOAT, 0.5, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_t2", seq(DataType.FLOAT, 0.1, 1, 1, 3), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w2_a", seq(DataType.FLOAT, 0.2, 1, 3), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w2_b", seq(DataType.FLOAT, 0.3, 1, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_conv.alpha", Nd4j.scalar(1f), DType.F32)));
        try (AdapterFile f = AdapterFile.read(adapter)) {
            dev.lokr.math.LokrParams p3 = f.resolve("lycoris_conv", new long[] {6, 4, 3}, DataType.DOUBLE);
            dev.lokr.math.LokrParams p4 = f.resolve("lycoris_conv", new long[] {6, 4, 3, 1}, DataType.DOUBLE);
            assertEquals(java.util.Arrays.toString(new long[] {6, 4, 3, 1}),
                    java.util.Arrays.toString(p3.layout().weightShape()), "a Conv1d weight is planned as [out, in, k, 1]");
            for (dev.lokr.math.LokrParam k : p4.layout().params()) {
                assertEquals(p4.get(k), p3.get(k), k.toString());
            }
            AdapterFormatException e = assertThrows(AdapterFormatException.class,
                    () -> f.resolve("lycoris_conv", new long[] {6, 4, 5}, DataType.DOUBLE));
            assertTrue(e.getMessage().contains("lokr_t2 is [1, 1, 3] but the target weight [6, 4, 5]"), e.getMessage());
        }
    }

    @Test
    void aLowRankConv1dW2bReadsFlatOr3d() throws IOException {
        // LyCORIS's modules store w2_b [r, d*k]; its functional API can give [r, d, k]: the same values
        INDArray w2b = seq(DataType.FLOAT, 0.3, 1, 2, 3);
        java.util.List<dev.lokr.math.LokrParams> read = new java.util.ArrayList<>();
        for (INDArray stored : List.of(w2b.reshape('c', 1, 6), w2b)) {
            Path adapter = dir.resolve("lowrank" + stored.rank() + ".safetensors");
            SafetensorsWriter.write(adapter, null, List.of(
                    SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w1", seq(DataType.FLOAT, 0.5, 2, 2), DType.F32),
                    SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w2_a", seq(DataType.FLOAT, 0.2, 3, 1), DType.F32),
                    SafetensorsWriter.Tensor.of("lycoris_conv.lokr_w2_b", stored, DType.F32),
                    SafetensorsWriter.Tensor.of("lycoris_conv.alpha", Nd4j.scalar(1f), DType.F32)));
            try (AdapterFile f = AdapterFile.read(adapter)) {
                read.add(f.resolve("lycoris_conv", new long[] {6, 4, 3}, DataType.DOUBLE));
            }
        }
        for (dev.lokr.math.LokrParam k : read.get(0).layout().params()) {
            assertEquals(read.get(0).get(k), read.get(1).get(k), k.toString());
        }
    }

    @Test
    void theWriterWritesConv1dFormOnlyForModulesWithAKernelOfWidthOne() {
        dev.lokr.math.LokrParams dense = dev.lokr.math.LokrParams.zeros(
                dev.lokr.LokrAdapter.builder().build().layoutFor(6, 4), DataType.FLOAT);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LycorisWriter.save(
                dir.resolve("x.safetensors"), java.util.Map.of("fc", dense), null, null, java.util.Set.of("fc")));
        assertTrue(e.getMessage().contains("conv1d module 'fc' must be a module with a weight [out, in, k, 1], got [6, 4]"),
                e.getMessage());
    }
}
