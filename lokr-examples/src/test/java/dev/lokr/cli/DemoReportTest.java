package dev.lokr.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link DemoReport#summary}: the step count's plural (the mutation review found it untested). */
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
}
