package dev.lokr.cli;

import dev.lokr.io.ParityCases;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.io.Json;
import dev.lokr.io.SafetensorsReader;
import dev.lokr.io.SafetensorsWriter;
import dev.lokr.io.TensorInfo;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import picocli.CommandLine;

/** Runs the {@code lokr} command line in-process on the parity cases and on bad input. */
class LokrCliTest {

    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        return run(LokrCli.commandLine(), args);
    }

    /** Runs {@code cl} with {@code args}, capturing its exit code, stdout and stderr. */
    static Result run(CommandLine cl, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    static Path parityRoot() {
        return ParityCases.root();
    }

    static Stream<Path> cases() throws Exception {
        try (Stream<Path> s = Files.list(parityRoot())) {
            return s.filter(Files::isDirectory).sorted().collect(Collectors.toList()).stream();
        }
    }

    static Path adapterOf(Path dir) {
        Path peft = dir.resolve("adapter_model.safetensors");
        return Files.exists(peft) ? peft : dir.resolve("adapter.safetensors");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void mergeReproducesExpected(Path dir, @TempDir Path tmp) throws Exception {
        String label = "case " + dir.getFileName();
        Path out = tmp.resolve("merged.safetensors");
        double m =
                ((Number)
                                ((Map<?, ?>) Json.parse(Files.readString(dir.resolve("case.json"))))
                                        .get("multiplier"))
                        .doubleValue();
        Result r =
                run(
                        "merge",
                        "--base",
                        dir.resolve("base.safetensors").toString(),
                        "--adapter",
                        adapterOf(dir).toString(),
                        "--out",
                        out.toString(),
                        "--multiplier",
                        Double.toString(m));
        assertEquals(0, r.code(), label + ": " + r.err());
        assertTrue(r.out().contains("merged "), label + ": " + r.out());
        int adapted = 0;
        try (SafetensorsReader e = SafetensorsReader.open(dir.resolve("expected.safetensors"));
                SafetensorsReader b = SafetensorsReader.open(dir.resolve("base.safetensors"));
                SafetensorsReader a = SafetensorsReader.open(out)) {
            assertEquals(e.tensors().size(), a.tensors().size(), label);
            for (TensorInfo t : e.tensors()) {
                assertEquals(t.dtype(), a.info(t.name()).dtype(), label + ": dtype of " + t.name());
                double[] x = a.readDoubles(t.name());
                double[] y = e.readDoubles(t.name());
                double[] z = b.readDoubles(t.name());
                boolean changed = false;
                for (int i = 0; i < y.length; i++) {
                    changed |= y[i] != z[i];
                }
                adapted += changed ? 1 : 0;
                for (int i = 0; i < x.length; i++) {
                    if (!(Math.abs(x[i] - y[i]) <= ParityCases.tolerance(z[i], y[i]))) {
                        throw new AssertionError(
                                label
                                        + ": "
                                        + t.name()
                                        + "["
                                        + i
                                        + "] = "
                                        + x[i]
                                        + ", expected "
                                        + y[i]);
                    }
                }
            }
        }
        assertTrue(adapted > 0, label + ": the case adapts at least one tensor");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void inspectJsonParses(Path dir) throws Exception {
        Result r = run("inspect", adapterOf(dir).toString(), "--json");
        assertEquals(0, r.code(), dir + ": " + r.err());
        Map<?, ?> root = (Map<?, ?>) Json.parse(r.out());
        List<?> modules = (List<?>) root.get("modules");
        assertEquals(1, modules.size(), dir.toString());
        Map<?, ?> m = (Map<?, ?>) modules.get(0);
        assertTrue(((Number) m.get("params")).longValue() > 0, dir + ": " + m);
        assertEquals(root.get("totalParams"), m.get("params"), dir.toString());
        assertTrue(
                List.of("LYCORIS", "PEFT").contains(root.get("layout")),
                dir + ": " + root.get("layout"));
        // every field against the library's own reading of the file
        try (dev.lokr.io.AdapterFile f = dev.lokr.io.AdapterFile.read(adapterOf(dir))) {
            dev.lokr.io.AdapterFile.ModuleInfo info = f.moduleInfo(f.modules().get(0));
            assertEquals(f.format().name(), root.get("layout"), dir.toString());
            assertEquals(info.name(), m.get("name"), dir.toString());
            assertEquals(info.scale(), ((Number) m.get("scale")).doubleValue(), 1e-12, dir.toString());
            assertEquals(info.rank(), ((Number) m.get("rank")).intValue(), dir.toString());
            if (Double.isNaN(info.alpha())) {
                assertEquals(null, m.get("alpha"), dir.toString());
            } else {
                assertEquals(info.alpha(), ((Number) m.get("alpha")).doubleValue(), 1e-12, dir.toString());
            }
            assertEquals(info.w1Mode().name(), m.get("w1"), dir.toString());
            assertEquals(info.w2Mode().name(), m.get("w2"), dir.toString());
            assertEquals(info.tucker(), m.get("tucker"), dir.toString());
            assertEquals(info.decomposeBoth(), m.get("decomposeBoth"), dir.toString());
            assertEquals(info.doraAxis().name(), m.get("dora"), dir.toString());
            assertEquals(info.dtype().name(), m.get("dtype"), dir.toString());
            assertEquals(info.numParams(), ((Number) m.get("params")).longValue(), dir.toString());
            if (info.rank() > 0 && !Double.isNaN(info.alpha()) && info.alpha() != 0
                    && f.format() == dev.lokr.io.AdapterFile.Format.LYCORIS) {
                assertEquals(info.alpha() / info.rank(), ((Number) m.get("scale")).doubleValue(), 1e-12,
                        dir + ": LyCORIS scale is alpha / r");
            }
        }
    }

    @Test
    void aPeft013AdapterIsNotedByInspectAndMerge(@TempDir Path tmp) throws Exception {
        Path dir = parityRoot().resolve("peft_decompose_both");
        Path adapter = tmp.resolve("adapter_model.safetensors");
        Files.copy(dir.resolve("adapter_model.safetensors"), adapter);
        Map<?, ?> config = (Map<?, ?>) Json.parse(Files.readString(dir.resolve("adapter_config.json")));
        Map<Object, Object> old = new java.util.LinkedHashMap<>(config);
        old.remove("rank_dropout_scale");
        old.put("alpha", ((Number) old.get("r")).doubleValue() * 2);
        Files.writeString(tmp.resolve("adapter_config.json"), Json.write(old));
        Result inspect = run("inspect", adapter.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("note: adapter_config.json looks written by PEFT 0.13 or older"),
                inspect.out());
        Result json = run("inspect", adapter.toString(), "--json");
        assertEquals(1, ((List<?>) ((Map<?, ?>) Json.parse(json.out())).get("notes")).size(), json.out());
        Result merge = run("merge", "--base", dir.resolve("base.safetensors").toString(), "--adapter",
                adapter.toString(), "--out", tmp.resolve("merged.safetensors").toString());
        assertEquals(0, merge.code(), merge.err());
        assertTrue(merge.out().contains("note: adapter_config.json looks written by PEFT 0.13 or older"), merge.out());
        assertTrue(merge.out().contains("use the multiplier r / alpha = 0.5"), merge.out());
    }

    @Test
    void oneModuleIsSingular(@TempDir Path tmp) throws Exception {
        Path dir = parityRoot().resolve("linear_plain");
        Result inspect = run("inspect", dir.resolve("adapter.safetensors").toString());
        assertTrue(inspect.out().contains(" layout, 1 LoKR module, "), inspect.out());
        Result merge = run("merge", "--base", dir.resolve("base.safetensors").toString(), "--adapter",
                dir.resolve("adapter.safetensors").toString(), "--out", tmp.resolve("m.safetensors").toString());
        assertTrue(merge.out().contains("(1 module merged)"), merge.out());
    }

    @Test
    void mergeWithoutMultiplierUsesOne(@TempDir Path tmp) throws Exception {
        Path dir = parityRoot().resolve("linear_dora");
        Path noOption = tmp.resolve("a.safetensors");
        Path one = tmp.resolve("b.safetensors");
        String[] common = {"merge", "--base", dir.resolve("base.safetensors").toString(),
            "--adapter", dir.resolve("adapter.safetensors").toString(), "--out"};
        Result r = run(concat(common, noOption.toString()));
        assertEquals(0, r.code(), r.err());
        assertEquals(0, run(concat(common, one.toString(), "--multiplier", "1.0")).code());
        assertArrayEquals(Files.readAllBytes(one), Files.readAllBytes(noOption), "the default multiplier is 1");
        assertTrue(run("merge", "--help").out().contains("default: 1.0"));
    }

    private static String[] concat(String[] head, String... tail) {
        String[] all = java.util.Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, all, head.length, tail.length);
        return all;
    }

    @Test
    void mergeCanWorkOnOneModelOfAFileThatHoldsSeveral(@TempDir Path tmp) throws Exception {
        // the linear_plain base, each tensor under a single-file checkpoint's prefix
        Path dir = parityRoot().resolve("linear_plain");
        String prefix = "model.diffusion_model.";
        Path base = tmp.resolve("checkpoint.safetensors");
        try (SafetensorsReader b = SafetensorsReader.open(dir.resolve("base.safetensors"))) {
            List<SafetensorsWriter.Tensor> ts = new java.util.ArrayList<>();
            for (TensorInfo t : b.tensors()) {
                ts.add(SafetensorsWriter.Tensor.of(prefix + t.name(),
                        b.read(t.name(), org.nd4j.linalg.api.buffer.DataType.FLOAT), t.dtype()));
            }
            SafetensorsWriter.write(base, null, ts);
        }
        Path out = tmp.resolve("merged.safetensors");
        String[] merge = {"merge", "--base", base.toString(), "--adapter", adapterOf(dir).toString(), "--out",
                out.toString()};
        Result r = run(merge);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("needs that base prefix"), r.err());
        r = run(concat(merge, "--base-prefix", prefix, "--only-modules", "lycoris_blocks_"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("merged lycoris_blocks_0_attn_q -> " + prefix + "blocks.0.attn.q.weight"), r.out());
        try (SafetensorsReader e = SafetensorsReader.open(dir.resolve("expected.safetensors"));
                SafetensorsReader a = SafetensorsReader.open(out)) {
            for (TensorInfo t : e.tensors()) {
                double[] want = e.readDoubles(t.name());
                double[] got = a.readDoubles(prefix + t.name());
                for (int i = 0; i < want.length; i++) {
                    assertEquals(want[i], got[i], 1e-5, t.name() + "[" + i + "]");
                }
            }
        }
        r = run(concat(merge, "--base-prefix", prefix, "--only-modules", "lora_te_"));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("no module name starts with 'lora_te_'"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }

    /** A PEFT adapter's modules_to_save replace the base's tensors unless --keep-base-modules says otherwise. */
    @Test
    void mergePutsPeftSavedModulesInPlaceUnlessAskedToKeepTheBases(@TempDir Path tmp) throws Exception {
        org.nd4j.linalg.api.buffer.DataType f = org.nd4j.linalg.api.buffer.DataType.FLOAT;
        Path base = tmp.resolve("base.safetensors");
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", org.nd4j.linalg.factory.Nd4j.ones(f, 6, 4), dev.lokr.io.DType.F32),
                SafetensorsWriter.Tensor.of("head.weight", org.nd4j.linalg.factory.Nd4j.zeros(f, 2, 6),
                        dev.lokr.io.DType.F32)));
        Path adapter = tmp.resolve("adapter_model.safetensors");
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w1", org.nd4j.linalg.factory.Nd4j.ones(f, 2, 2),
                        dev.lokr.io.DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.fc.lokr_w2", org.nd4j.linalg.factory.Nd4j.ones(f, 3, 2),
                        dev.lokr.io.DType.F32),
                SafetensorsWriter.Tensor.of("base_model.model.head.weight",
                        org.nd4j.linalg.factory.Nd4j.ones(f, 2, 6).muli(3), dev.lokr.io.DType.F32)));
        Files.writeString(tmp.resolve("adapter_config.json"),
                "{\"peft_type\":\"LOKR\",\"r\":2,\"alpha\":2,\"modules_to_save\":[\"head\"]}");
        Path out = tmp.resolve("merged.safetensors");
        String[] merge = {"merge", "--base", base.toString(), "--adapter", adapter.toString(), "--out", out.toString()};
        Result r = run(merge);
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("replaced head.weight [2, 6] F32 with the adapter's saved"), r.out());
        try (SafetensorsReader m = SafetensorsReader.open(out)) {
            assertEquals(3.0, m.readDoubles("head.weight")[5], 0.0);
        }
        r = run(concat(merge, "--keep-base-modules"));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("the base's tensors were kept for the 1 saved module tensor among them"), r.out());
        try (SafetensorsReader m = SafetensorsReader.open(out)) {
            assertEquals(0.0, m.readDoubles("head.weight")[5], 0.0);
        }
        assertTrue(run("merge", "--help").out().contains("--keep-base-modules"));
        Result inspect = run("inspect", adapter.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains(", 1 other tensor (merge puts those that name a base tensor, PEFT's"
                + " modules_to_save and saved embeddings, in place of the base's, and ignores the rest)"), inspect.out());
    }

    /** A merge error naming a module with a carriage return and terminal escapes stays one plain line. */
    @Test
    void aMergeErrorWithAHostileModuleNameStaysOneLine(@TempDir Path tmp) throws Exception {
        org.nd4j.linalg.api.buffer.DataType f = org.nd4j.linalg.api.buffer.DataType.FLOAT;
        Path base = tmp.resolve("base.safetensors");
        SafetensorsWriter.write(base, null, List.of(
                SafetensorsWriter.Tensor.of("fc.weight", org.nd4j.linalg.factory.Nd4j.ones(f, 6, 4), dev.lokr.io.DType.F32)));
        Path adapter = tmp.resolve("evil.safetensors");
        String name = "lycoris_x\r\u001b[2Klokr: forged\u2028\u0085";
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of(name + ".lokr_w1", org.nd4j.linalg.factory.Nd4j.ones(f, 2, 2), dev.lokr.io.DType.F32),
                SafetensorsWriter.Tensor.of(name + ".lokr_w2", org.nd4j.linalg.factory.Nd4j.ones(f, 3, 2), dev.lokr.io.DType.F32)));
        Result r = run("merge", "--base", base.toString(), "--adapter", adapter.toString(), "--out",
                tmp.resolve("out.safetensors").toString());
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("lokr: error: "), r.err());
        for (char c : new char[] {'\r', '\u001b', '\u2028', '\u0085'}) {
            assertEquals(-1, r.err().indexOf(c), "raw U+" + Integer.toHexString(c) + " in " + r.err());
        }
        assertTrue(r.err().contains("matches no base tensor"), r.err());
    }

    /** Any error message, here one carrying a user's path with an escape and a carriage return, is one escaped line. */
    @Test
    void anErrorMessageIsPrintedAsOneEscapedLine(@TempDir Path tmp) throws Exception {
        Path missing = tmp.resolve("a\u001b[2Jb\rc.safetensors");
        Result r = run("merge", "--base", missing.toString(), "--adapter", missing.toString(), "--out",
                tmp.resolve("out.safetensors").toString());
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().lines().count(), r.err());
        assertEquals(-1, r.err().indexOf('\u001b'), r.err());
        assertEquals(-1, r.err().indexOf('\r'), r.err());
        assertTrue(r.err().contains("a\\u001b[2Jb\\u000dc.safetensors"), r.err());
    }

    /** An error that escapes picocli's handlers (in main) is reported on one escaped line too. */
    @Test
    void anUnhandledErrorIsOneEscapedLine() {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream err = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        int code = LokrCli.reportUnhandled(new IllegalStateException("bad\u001b[2J\rname\nend"), err, false);
        String out = bytes.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(1, code);
        assertEquals(1, out.lines().count(), out);
        assertEquals(-1, out.indexOf('\u001b'), out);
        assertEquals(-1, out.indexOf('\r'), out);
        assertTrue(out.contains("IllegalStateException: bad\\u001b[2J name end"), out);
    }

    /** With --verbose, an error that escapes picocli's handlers is followed by its stack trace. */
    @Test
    void anUnhandledErrorPrintsItsStackTraceWhenVerbose() {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream err = new java.io.PrintStream(bytes, true, java.nio.charset.StandardCharsets.UTF_8);
        int code = LokrCli.reportUnhandled(new IllegalStateException("boom", new java.io.IOException("disk")), err, true);
        List<String> lines = bytes.toString(java.nio.charset.StandardCharsets.UTF_8).lines().toList();
        assertEquals(1, code);
        assertEquals("lokr: error: IllegalStateException: boom", lines.get(0), lines.toString());
        assertEquals("java.lang.IllegalStateException: boom", lines.get(1), lines.toString());
        assertTrue(lines.get(2).strip().startsWith("at "), lines.toString());
        assertTrue(lines.stream().anyMatch(l -> l.startsWith("Caused by: java.io.IOException: disk")), lines.toString());
    }

    /** A module name holding a line break or a terminal escape is printed escaped, on its own line. */
    @Test
    void inspectEscapesModuleNamesThatCouldForgeLines(@TempDir Path tmp) throws Exception {
        org.nd4j.linalg.api.buffer.DataType f = org.nd4j.linalg.api.buffer.DataType.FLOAT;
        Path adapter = tmp.resolve("evil.safetensors");
        String name = "lycoris_fc\n  lycoris_forged: lokr_w1[1, 1]\u001b[2J";
        SafetensorsWriter.write(adapter, null, List.of(
                SafetensorsWriter.Tensor.of(name + ".lokr_w1", org.nd4j.linalg.factory.Nd4j.ones(f, 2, 2), dev.lokr.io.DType.F32),
                SafetensorsWriter.Tensor.of(name + ".lokr_w2", org.nd4j.linalg.factory.Nd4j.ones(f, 3, 2), dev.lokr.io.DType.F32)));
        Result r = run("inspect", adapter.toString());
        assertEquals(0, r.code(), r.err());
        assertFalse(r.out().contains("\u001b"), r.out());
        assertFalse(r.out().lines().anyMatch(l -> l.startsWith("  lycoris_forged")), r.out());
        assertTrue(r.out().contains("  'lycoris_fc\\u000a  lycoris_forged: lokr_w1[1, 1]\\u001b[2J': lokr_w1[2, 2]"), r.out());
    }

    @Test
    void everySubcommandPrintsTheVersion() {
        Result top = run("--version");
        assertEquals(0, top.code(), top.err());
        assertFalse(top.out().isBlank(), "lokr --version");
        for (String sub : List.of("merge", "inspect", "demo", "memory-report")) {
            Result r = run(sub, "--version");
            assertEquals(0, r.code(), sub + ": " + r.err());
            assertEquals(top.out(), r.out(), sub + " --version");
        }
    }

    @Test
    void inspectTextNamesModules() throws Exception {
        Result r =
                run("inspect", parityRoot().resolve("conv_tucker/adapter.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("lycoris_down_conv1") && r.out().contains("TUCKER"), r.out());
    }

    @Test
    void badInputExitsOneWithOneLine(@TempDir Path tmp) throws Exception {
        Path notThere = tmp.resolve("missing.safetensors");
        Result r = run("inspect", notThere.toString());
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertFalse(r.err().contains("\tat "), r.err());

        Path garbage = tmp.resolve("garbage.safetensors");
        Files.write(garbage, new byte[] {1, 2, 3});
        r =
                run(
                        "merge",
                        "--base",
                        garbage.toString(),
                        "--adapter",
                        garbage.toString(),
                        "--out",
                        tmp.resolve("o").toString());
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        // A module that matches no base weight: the message names it.
        Path dir = parityRoot().resolve("linear_plain");
        r =
                run(
                        "merge",
                        "--base",
                        parityRoot().resolve("linear_dora/base.safetensors").toString(),
                        "--adapter",
                        dir.resolve("adapter.safetensors").toString(),
                        "--out",
                        tmp.resolve("o2").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("lycoris_blocks_0_attn_q"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        r = run("--verbose", "inspect", notThere.toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("\tat "), "--verbose prints the stack trace: " + r.err());
    }

    @Test
    void whatIsNotARegularFileOrFolderIsNamedBeforeAnyWork(@TempDir Path tmp) throws Exception {
        Result r = run("inspect", tmp.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(tmp + ": not a regular file (a directory)"), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());

        Path dir = parityRoot().resolve("linear_plain");
        Path out = tmp.resolve("missing").resolve("out.safetensors");
        r = run("merge", "--base", dir.resolve("base.safetensors").toString(),
                "--adapter", dir.resolve("adapter.safetensors").toString(), "--out", out.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(out.toString()) && r.err().contains("does not exist") && !r.err().contains(".tmp"),
                r.err());
        assertEquals("", r.out(), "nothing is merged before the output folder is checked");
    }

    @Test
    void mergingOverTheAdapterIsRefusedAndKeepsIt(@TempDir Path tmp) throws Exception {
        Path dir = parityRoot().resolve("linear_plain");
        Path adapter = tmp.resolve("adapter.safetensors");
        Files.copy(dir.resolve("adapter.safetensors"), adapter);
        byte[] before = Files.readAllBytes(adapter);
        Path link = tmp.resolve("link.safetensors");
        Files.createSymbolicLink(link, adapter);
        for (Path out : new Path[] {adapter, link, tmp.resolve(".").resolve("adapter.safetensors")}) {
            Result r = run("merge", "--base", dir.resolve("base.safetensors").toString(),
                    "--adapter", adapter.toString(), "--out", out.toString());
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("is the adapter file") && r.err().strip().lines().count() == 1, r.err());
            assertArrayEquals(before, Files.readAllBytes(adapter), "the adapter is untouched");
        }
    }

    @Test
    void mergingOverThePeftConfigIsRefusedAndKeepsIt(@TempDir Path tmp) throws Exception {
        Path dir = parityRoot().resolve("peft_decompose_both");
        Path peft = Files.createDirectory(tmp.resolve("peft"));
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                Files.copy(f, peft.resolve(f.getFileName().toString()));
            }
        }
        Path adapter = peft.resolve("adapter_model.safetensors");
        Path config = peft.resolve("adapter_config.json");
        byte[] before = Files.readAllBytes(config);
        Result r = run("merge", "--base", peft.resolve("base.safetensors").toString(),
                "--adapter", adapter.toString(), "--out", config.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("is the adapter's PEFT config") && r.err().strip().lines().count() == 1, r.err());
        assertArrayEquals(before, Files.readAllBytes(config), "the config is untouched");
    }

    @Test
    void errorsThatEscapeTheCommandsAreOneLine() {
        String oom = LokrCli.describe(new OutOfMemoryError("Java heap space"));
        assertTrue(oom.contains("out of memory (Java heap space)") && oom.contains("-Xmx"), oom);
        assertEquals("StackOverflowError", LokrCli.describe(new StackOverflowError()));
        assertEquals("IllegalStateException: a b", LokrCli.describe(new IllegalStateException("a\nb")));
        ExceptionInInitializerError startup = new ExceptionInInitializerError(
                new RuntimeException("backend", new OutOfMemoryError("Java heap space")));
        assertEquals(oom, LokrCli.describe(startup), "an out-of-memory cause is reported as such");
        assertEquals("ExceptionInInitializerError (caused by NoSuchFileException: libnd4j.so)",
                LokrCli.describe(new ExceptionInInitializerError(
                        new IllegalStateException(new java.nio.file.NoSuchFileException("libnd4j.so")))));
    }

    @Test
    void theVersionLineNamesLokr() {
        Result r = run("--version");
        assertEquals(0, r.code(), r.err());
        // run from classes, not the packaged jar: no manifest version to report, and it says so
        assertEquals("lokr (unknown version: not run from the packaged jar)", r.out().strip());
    }

    @Test
    void usageErrorsExitTwo() {
        Result r = run("merge", "--bogus");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("Usage"), r.err());
        assertEquals(2, run("frobnicate").code());
        assertEquals(2, run().code());
        assertEquals(2, run("merge", "--base", "b").code(), "missing required options");
        assertEquals(0, run("--help").code());
    }
}
