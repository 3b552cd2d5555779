package dev.lokr.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link DemoReport#summary}: the step count's plural (the mutation review found it untested), the step-time note. */
class DemoReportTest {

    private static Map<String, Object> result(int steps) {
        Map<String, Object> r = new LinkedHashMap<>();
        for (String key : List.of("baseAccuracy", "adaptedAccuracy", "fullFinetuneAccuracy", "trainableParams",
                "fullFinetuneTrainableParams", "lokrStepMs", "fullFinetuneStepMs", "lokrTrainingMemoryBytes",
                "fullFinetuneTrainingMemoryBytes", "totalParams", "baseAccuracyTaskA", "mergedAccuracy",
                "mergeMaxAbsDiff", "adapterFileBytes", "reloadMaxAbsDiff", "seconds")) {
            r.put(key, 1);
        }
        r.put("adapterFile", "lokr-adapter.safetensors");
        r.put("steps", steps);
        return r;
    }

    @Test
    void oneStepIsSingularAndOthersArePlural(@TempDir Path dir) throws Exception {
        LokrAdapter options = LokrAdapter.builder().build();
        String one = Files.readString(DemoReport.summary(dir.resolve("one.md"), result(1), options, List.of("dense")));
        assertTrue(one.contains("; 1 training step each."), one);
        String two = Files.readString(DemoReport.summary(dir.resolve("two.md"), result(2), options, List.of("dense")));
        assertTrue(two.contains("; 2 training steps each."), two);
    }

    /** The step-time row gives LoKR's median, then full fine-tuning's, in the table's column order. */
    @Test
    void theStepTimeRowGivesLokrThenFullFineTuning(@TempDir Path dir) throws Exception {
        Map<String, Object> r = result(3);
        r.put("lokrStepMs", 16.0);
        r.put("fullFinetuneStepMs", 11.5);
        String md = Files.readString(DemoReport.summary(dir.resolve("times.md"), r, LokrAdapter.builder().build(),
                List.of("dense")));
        assertTrue(md.contains("| median step time (ms, batch 32) | - | 16.00 | 11.50 |"), md);
    }

    /** The note on step time appears only when the LoKR step was the slower one. */
    @Test
    void aSlowerLokrStepIsExplained(@TempDir Path dir) throws Exception {
        LokrAdapter options = LokrAdapter.builder().build();
        Map<String, Object> r = result(3);
        r.put("lokrStepMs", 16.0);
        r.put("fullFinetuneStepMs", 11.0);
        String slower = Files.readString(DemoReport.summary(dir.resolve("slower.md"), r, options, List.of("dense")));
        assertTrue(slower.contains("A LoKR step took longer than a full fine-tuning step here"), slower);
        r.put("lokrStepMs", 11.0);
        String equal = Files.readString(DemoReport.summary(dir.resolve("equal.md"), r, options, List.of("dense")));
        assertFalse(equal.contains("took longer"), equal);
        r.put("lokrStepMs", 9.0);
        String faster = Files.readString(DemoReport.summary(dir.resolve("faster.md"), r, options, List.of("dense")));
        assertFalse(faster.contains("took longer"), faster);
    }
}
