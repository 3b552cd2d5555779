package dev.lokr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.io.Json;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Runs {@code lokr memory-report} on a tiny stack, with its child JVMs. */
class MemoryReportCommandTest {

    private static final List<String> KEYS =
            List.of(
                    "gradientCheckpointing",
                    "peakBytes",
                    "activationPeakBytes",
                    "stepMs",
                    "segments");


    @Test
    void tinyRunPrintsOneJsonLinePerSetting() {
        LokrCliTest.Result r =
                LokrCliTest.run(
                        "memory-report",
                        "--json",
                        "--layers",
                        "4",
                        "--width",
                        "64",
                        "--batch",
                        "8",
                        "--steps",
                        "2");
        assertEquals(0, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        String[] lines = r.out().strip().split("\\R");
        assertEquals(2, lines.length, "lines: " + r.out());
        for (int i = 0; i < 2; i++) {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = (Map<String, Object>) Json.parse(lines[i]);
            for (String k : KEYS) {
                assertTrue(
                        m.containsKey(k), "key " + k + " missing in line " + i + ": " + lines[i]);
            }
            assertEquals(i == 1, m.get("gradientCheckpointing"), "line " + i + ": " + lines[i]);
            assertTrue(((Number) m.get("peakBytes")).longValue() > 0, lines[i]);
            assertTrue(((Number) m.get("activationPeakBytes")).longValue() >= 0, lines[i]);
            assertTrue(((Number) m.get("stepMs")).doubleValue() > 0, lines[i]);
            // 5 units: one segment off; Segmentation.automatic() gives 1 + 2 + 2 units on
            assertEquals(i == 1 ? 3L : 1L, ((Number) m.get("segments")).longValue(), lines[i]);
        }
    }

    @Test
    void badSizeIsAUsageError() {
        LokrCliTest.Result r = LokrCliTest.run("memory-report", "--layers", "0");
        assertEquals(LokrCli.EXIT_USAGE, r.code(), r.err());
        assertTrue(r.err().contains("--layers must be >= 1, got 0"), r.err());
    }
}
