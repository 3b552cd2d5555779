package dev.lokr.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.io.Json;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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
        String[][] cases = {
            {"--layers", "0", "--layers must be from 1 to 1024, got 0"},
            {"--layers", "100000000", "--layers must be from 1 to 1024, got 100000000"},
            {"--width", "-3", "--width must be from 1 to 16384, got -3"},
            {"--batch", "70000", "--batch must be from 1 to 65536, got 70000"},
            {"--steps", "10001", "--steps must be from 1 to 10000, got 10001"},
        };
        for (String[] c : cases) {
            LokrCliTest.Result r = LokrCliTest.run("memory-report", c[0], c[1]);
            assertEquals(LokrCli.EXIT_USAGE, r.code(), r.err());
            assertTrue(r.err().contains(c[2]), r.err());
        }
    }

    @Test
    void aFailedChildIsReportedByItsLastLines() {
        assertEquals("c | d | e", MemoryReportCommand.tail("a\nb\n\nc\n  d  \ne\n\n", 3));
        assertEquals("only", MemoryReportCommand.tail("only", 3));
        assertEquals("", MemoryReportCommand.tail("", 3));
        for (String option : MemoryReportCommand.memoryOptions()) {
            assertTrue(option.startsWith("-X") || option.startsWith("-Dorg.bytedeco.javacpp."), option);
        }
    }

    @Test
    void aRunLargerThanTheMachineIsRefusedBeforeAnyChildStarts() {
        LokrCliTest.Result r = LokrCliTest.run("memory-report", "--layers", "1024", "--width", "16384");
        assertEquals(LokrCli.EXIT_USAGE, r.code(), r.err());
        assertTrue(r.err().contains("--layers 1024 --width 16384 --batch 256 needs about")
                && r.err().contains("more than this machine's"), r.err());
        assertTrue(MemoryReportCommand.estimatedBytes(1024, 16384, 256) > 2e12, "about 2.2 TB");
    }

    @Test
    void aMeasuringChildEndsWhenItsParentsEndOfThePipeCloses() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                LokrCli.class.getName(), "memory-report", "--setting", "off", "--layers", "1", "--width", "8",
                "--batch", "2", "--steps", "10000", "--watch-parent")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            assertFalse(child.waitFor(3, TimeUnit.SECONDS), "the child runs while the pipe is open");
            child.getOutputStream().close();   // what the OS does when the parent dies, SIGKILL included
            assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child outlived its parent's end of the pipe");
            assertEquals(3, child.exitValue());
        } finally {
            child.destroyForcibly();
        }
    }
}
