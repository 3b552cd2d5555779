package dev.lokr.cli;

import dev.lokr.io.AdapterFile;
import dev.lokr.io.Json;
import dev.lokr.io.SafetensorsReader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DemoCommandTest {

    private static final List<String> KEYS = List.of("baseAccuracy", "adaptedAccuracy", "fullFinetuneAccuracy",
            "trainableParams", "totalParams", "mergeMaxAbsDiff", "adapterFile");

    private static LokrCliTest.Result run(String... args) {
        return LokrCliTest.run(new CommandLine(new DemoCommand()), args);
    }

    @Test
    void quickDemoAdaptsMergesSavesAndReports(@TempDir Path dir) throws Exception {
        Path report = dir.resolve("report");
        LokrCliTest.Result o = run("--quick", "--no-progress", "--out", report.toString());
        assertEquals(0, o.code(), "exit code; stderr: " + o.err());
        String[] lines = o.out().strip().split("\\R");
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) Json.parse(lines[lines.length - 1]);
        for (String k : KEYS) {
            assertTrue(json.containsKey(k), "JSON key " + k + " missing in " + json);
        }
        double base = ((Number) json.get("baseAccuracy")).doubleValue();
        double adapted = ((Number) json.get("adaptedAccuracy")).doubleValue();
        double merge = ((Number) json.get("mergeMaxAbsDiff")).doubleValue();
        long trainable = ((Number) json.get("trainableParams")).longValue();
        long total = ((Number) json.get("totalParams")).longValue();
        assertTrue(adapted > base, "adaptedAccuracy " + adapted + " must exceed baseAccuracy " + base);
        assertTrue(merge < 1e-4, "mergeMaxAbsDiff " + merge + " must be < 1e-4");
        assertTrue(trainable > 0 && trainable < total, "trainableParams " + trainable + " must be in (0, " + total + ")");
        assertTrue(Files.size(report.resolve("loss-curves.png")) > 0, "loss-curves.png missing or empty");
        String summary = Files.readString(report.resolve("summary.md"));
        assertTrue(summary.contains("| task B accuracy |"), "summary.md lacks the comparison table:\n" + summary);

        Path adapter = Path.of((String) json.get("adapterFile"));
        assertTrue(Files.isRegularFile(adapter), "adapter file " + adapter + " missing");
        try (SafetensorsReader r = SafetensorsReader.open(adapter)) {
            for (String layer : DemoCommand.TARGETS) {
                assertTrue(r.contains("lycoris_" + layer + ".alpha"), "no alpha for " + layer + " in " + r.tensors());
                assertTrue(r.contains("lycoris_" + layer + ".lokr_w1") || r.contains("lycoris_" + layer + ".lokr_w1_a"),
                        "no lokr_w1 for " + layer + " in " + r.tensors());
            }
        }
        try (AdapterFile f = AdapterFile.read(adapter)) {
            for (String layer : DemoCommand.TARGETS) {
                assertTrue(f.modules().contains("lycoris_" + layer), "module lycoris_" + layer + " missing: " + f.modules());
            }
        }
        double reload = ((Number) json.get("reloadMaxAbsDiff")).doubleValue();
        assertTrue(reload < 1e-4, "reloadMaxAbsDiff " + reload + " must be < 1e-4");
    }

    @Test
    void badOptionExitsWithUsage() {
        LokrCliTest.Result o = run("--rank", "0");
        assertEquals(2, o.code(), "exit code; stderr: " + o.err());
        assertTrue(o.err().contains("--rank must be at least 1, got 0"), "stderr: " + o.err());
        assertTrue(o.err().contains("Usage:"), "usage missing from stderr: " + o.err());

        LokrCliTest.Result unknown = run("--no-such-option");
        assertEquals(2, unknown.code(), "exit code; stderr: " + unknown.err());
    }

    @Test
    void tooManyStepsAreAUsageError() {
        LokrCliTest.Result o = run("--steps", "1000001");
        assertEquals(2, o.code(), o.err());
        assertTrue(o.err().contains("--steps must be from 1 to 1000000, got 1000001"), "stderr: " + o.err());
    }

    @Test
    void demoIsASubcommandOfTheLokrCli() {
        CommandLine cl = LokrCli.commandLine();
        LokrCliTest.Result r = LokrCliTest.run(cl, "demo", "--rank", "0");
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        assertTrue(r.err().contains("--rank must be at least 1, got 0"), "stderr: " + r.err());
        assertTrue(cl.getSubcommands().containsKey("demo"), "subcommands: " + cl.getSubcommands().keySet());
    }

    @Test
    void anOutPathThatIsAFileIsAUsageErrorBeforeAnyTraining(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("not-a-dir");
        Files.writeString(file, "x");
        LokrCliTest.Result o = run("--quick", "--no-progress", "--out", file.toString());
        assertEquals(2, o.code(), "exit code; stderr: " + o.err());
        assertTrue(o.err().contains("--out must be a folder, got a file: " + file), "stderr: " + o.err());
        assertEquals("", o.out(), "nothing ran");
        Path under = file.resolve("report");
        o = run("--quick", "--no-progress", "--out", under.toString());
        assertEquals(2, o.code(), "exit code; stderr: " + o.err());
        assertTrue(o.err().contains("--out folder " + under + " cannot be created"), "stderr: " + o.err());
    }

    @Test
    void aReportFileThatCannotBeReplacedIsAUsageErrorBeforeAnyTraining(@TempDir Path dir) throws Exception {
        for (String name : List.of("summary.md", "loss-curves.png", "lokr-adapter.safetensors")) {
            Path out = dir.resolve("report-" + name);
            Files.createDirectories(out.resolve(name));   // a folder where the file goes
            LokrCliTest.Result o = run("--quick", "--no-progress", "--out", out.toString());
            assertEquals(2, o.code(), name + ": exit code; stderr: " + o.err());
            assertTrue(o.err().contains("--out folder " + out + ": IOException: " + out.resolve(name)
                    + ": is a directory"), name + ": stderr: " + o.err());
            assertEquals("", o.out(), name + ": nothing ran");
        }
    }

    /** One adaptation step (the fewest --steps allows) is timed too: fewer steps than the untimed warm-up. */
    @Test
    void aSingleStepDemoRunsAndTimesItsStep(@TempDir Path dir) throws Exception {
        LokrCliTest.Result o = run("--quick", "--steps", "1", "--no-progress", "--out", dir.resolve("report").toString());
        assertEquals(0, o.code(), "exit code; stderr: " + o.err());
        String[] lines = o.out().strip().split("\\R");
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) Json.parse(lines[lines.length - 1]);
        assertEquals(1, ((Number) json.get("steps")).intValue());
        for (String k : List.of("lokrStepMs", "fullFinetuneStepMs")) {
            double ms = ((Number) json.get(k)).doubleValue();
            assertTrue(ms > 0 && Double.isFinite(ms), k + " " + ms);
        }
    }

    /** The median of the timed steps: the middle one, or the mean of the two middle ones, in ms. */
    @Test
    void theStepTimeIsTheMedianOfTheTimedSteps() {
        assertEquals(3.0, DemoCommand.medianMs(new long[] {9_000_000, 1_000_000, 3_000_000}), 0.0);
        assertEquals(2.5, DemoCommand.medianMs(new long[] {4_000_000, 1_000_000, 2_000_000, 3_000_000}), 0.0);
        assertEquals(0.001, DemoCommand.medianMs(new long[] {1_000}), 0.0);
    }

    @Test
    void aFailedRunIsOneLineAndTheStackTraceOnlyWithVerbose() {
        IllegalStateException failure = new IllegalStateException("disk\nfull",
                new java.io.IOException("no space left"));
        StringWriter err = new StringWriter();
        assertEquals(1, DemoCommand.reportFailure(failure, new PrintWriter(err), false));
        assertEquals("demo failed: IllegalStateException: disk full", err.toString().strip());
        StringWriter verbose = new StringWriter();
        assertEquals(1, DemoCommand.reportFailure(failure, new PrintWriter(verbose), true));
        assertTrue(verbose.toString().startsWith("demo failed: IllegalStateException: disk full")
                && verbose.toString().contains("\tat ") && verbose.toString().contains("no space left"), verbose.toString());
    }
}
