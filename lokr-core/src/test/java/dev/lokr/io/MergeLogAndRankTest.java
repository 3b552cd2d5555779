package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What the mutation review of the merge-scope and PEFT-reader changes found untested: the merge log names a
 * rank only for layouts that have one, and a stored rank of 0 is refused as a format error.
 */
class MergeLogAndRankTest {

    @TempDir Path dir;

    @Test
    void theMergeLogNamesARankOnlyForALowRankLayout() throws Exception {
        Path base = dir.resolve("base.safetensors");
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("full.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32),
                SafetensorsWriter.Tensor.of("low.weight", Nd4j.ones(DataType.FLOAT, 6, 4), DType.F32)));
        Path adapter = dir.resolve("adapter.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                // both full: w1 [2, 2], w2 [3, 2]; no rank to speak of
                SafetensorsWriter.Tensor.of("lycoris_full.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_full.lokr_w2", Nd4j.ones(DataType.FLOAT, 3, 2), DType.F32),
                // w2 low rank 1: w2_a [3, 1], w2_b [1, 2]
                SafetensorsWriter.Tensor.of("lycoris_low.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_low.lokr_w2_a", Nd4j.ones(DataType.FLOAT, 3, 1), DType.F32),
                SafetensorsWriter.Tensor.of("lycoris_low.lokr_w2_b", Nd4j.ones(DataType.FLOAT, 1, 2), DType.F32)));
        List<String> log = new ArrayList<>();
        AdapterMerge.mergeFile(base, adapter, dir.resolve("out.safetensors"), 1.0, log::add);
        assertEquals(2, log.size(), log.toString());
        String full = log.stream().filter(l -> l.startsWith("merged lycoris_full")).findFirst().orElseThrow();
        String low = log.stream().filter(l -> l.startsWith("merged lycoris_low")).findFirst().orElseThrow();
        assertTrue(full.contains("(FULL/FULL, scale "), full);
        assertFalse(full.contains("rank"), "a both-full layout has no rank: " + full);
        assertTrue(low.contains("(FULL/LOW_RANK, rank 1, scale "), low);
    }

    /** A merge line prints names from the files escaped when they could break the line, plain otherwise. */
    @Test
    void mergedLinesEscapeNamesThatCouldBreakThem() {
        assertEquals("'lycoris_a\\u000amerged x' -> 'a b.weight' [2, 3] F32",
                new AdapterMerge.Merged("lycoris_a\nmerged x", "a b.weight", new long[] {2, 3}, DType.F32).toString());
        assertEquals("lycoris_fc -> fc.weight [2, 3] F16",
                new AdapterMerge.Merged("lycoris_fc", "fc.weight", new long[] {2, 3}, DType.F16).toString());
    }

    @Test
    void aStoredRankOfZeroIsRefused() throws Exception {
        // zero-size tensors: a header can claim rank 0 without data
        String header = "{\"lycoris_fc.lokr_w1\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},"
                + "\"lycoris_fc.lokr_w2_a\":{\"dtype\":\"F32\",\"shape\":[3,0],\"data_offsets\":[4,4]},"
                + "\"lycoris_fc.lokr_w2_b\":{\"dtype\":\"F32\",\"shape\":[0,2],\"data_offsets\":[4,4]}}";
        Path file = dir.resolve("rank0.safetensors");
        Files.write(file, IoTestSupport.file(header, new byte[4]));
        AdapterFormatException e = assertThrows(AdapterFormatException.class, () -> AdapterFile.read(file));
        assertTrue(e.getMessage().contains("lokr_w2_b [0, 2] stores rank 0; a rank is from 1 to 2^31 - 1"),
                e.getMessage());
    }
}
