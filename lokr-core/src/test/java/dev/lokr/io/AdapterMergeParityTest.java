package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every parity case, merged through {@link AdapterMerge}, reproduces its expected.safetensors. */
class AdapterMergeParityTest {

    static Stream<Path> cases() {
        return IoTestSupport.parityCases().stream();
    }

    /** The adapter file of a case folder (LyCORIS or PEFT). */
    static Path adapterOf(Path dir) {
        Path peft = dir.resolve("adapter_model.safetensors");
        return Files.exists(peft) ? peft : dir.resolve("adapter.safetensors");
    }

    static double multiplierOf(Path dir) throws Exception {
        Object m =
                ((java.util.Map<?, ?>) Json.parse(Files.readString(dir.resolve("case.json"))))
                        .get("multiplier");
        return ((Number) m).doubleValue();
    }

    /**
     * Checks {@code actual} against {@code expected}: same names, dtypes, shapes; tensors named in
     * {@code adapted} within {@link ParityCases#tolerance} of each value (float32 precision of the
     * magnitudes involved, from {@code base}), the rest byte-identical.
     */
    static void assertMatches(Path base, Path expected, Path actual, List<String> adapted, String label)
            throws Exception {
        try (SafetensorsReader e = SafetensorsReader.open(expected);
                SafetensorsReader a = SafetensorsReader.open(actual);
                SafetensorsReader b = SafetensorsReader.open(base)) {
            List<String> names = new ArrayList<>();
            e.tensors().forEach(t -> names.add(t.name()));
            List<String> got = new ArrayList<>();
            a.tensors().forEach(t -> got.add(t.name()));
            assertEquals(names, got, label + ": tensor names");
            for (TensorInfo te : e.tensors()) {
                TensorInfo ta = a.info(te.name());
                assertEquals(te.dtype(), ta.dtype(), label + ": dtype of " + te.name());
                assertArrayEquals(te.shape(), ta.shape(), label + ": shape of " + te.name());
                if (adapted.contains(te.name())) {
                    double[] x = a.readDoubles(te.name());
                    double[] y = e.readDoubles(te.name());
                    double[] w = b.readDoubles(te.name());
                    for (int i = 0; i < x.length; i++) {
                        double tol = ParityCases.tolerance(w[i], y[i]);
                        if (!(Math.abs(x[i] - y[i]) <= tol)) {
                            throw new AssertionError(
                                    label
                                            + ": "
                                            + te.name()
                                            + "["
                                            + i
                                            + "] = "
                                            + x[i]
                                            + ", expected "
                                            + y[i]
                                            + " within "
                                            + tol);
                        }
                    }
                } else {
                    ByteBuffer bx = a.raw(te.name());
                    ByteBuffer by = e.raw(te.name());
                    assertEquals(
                            by,
                            bx,
                            label + ": untouched tensor " + te.name() + " must be byte-identical");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void mergeReproducesExpected(Path dir, @TempDir Path tmp) throws Exception {
        String label = "case " + dir.getFileName();
        Path out = tmp.resolve("merged.safetensors");
        List<String> lines = new ArrayList<>();
        List<AdapterMerge.Merged> merged =
                AdapterMerge.mergeFile(
                        dir.resolve("base.safetensors"),
                        adapterOf(dir),
                        out,
                        multiplierOf(dir),
                        lines::add);
        assertFalse(merged.isEmpty(), label + ": nothing merged");
        assertEquals(merged.size(), lines.size(), label + ": one log line per module");
        List<String> adapted = new ArrayList<>();
        merged.forEach(m -> adapted.add(m.baseTensor()));
        assertMatches(dir.resolve("base.safetensors"), dir.resolve("expected.safetensors"), out, adapted, label);
        // The adapter really changes the weight (so the comparison above is not base == expected).
        try (SafetensorsReader b = SafetensorsReader.open(dir.resolve("base.safetensors"));
                SafetensorsReader o = SafetensorsReader.open(out)) {
            for (String t : adapted) {
                double[] x = b.readDoubles(t);
                double[] y = o.readDoubles(t);
                boolean differs = false;
                for (int i = 0; i < x.length && !differs; i++) {
                    differs = x[i] != y[i];
                }
                assertTrue(differs, label + ": merging left " + t + " unchanged");
            }
        }
    }

    /**
     * Other strengths: each merged weight is the adapter's effective weight at that multiplier (DoRA included),
     * computed in float64 and rounded once to the file's F32: within half a float ulp of each value, that is
     * {@code 2^-24} of it (or {@code 2^-150} below F32's normal range). A merge computed in float32 is several
     * ulps off; a bound of 1e-6 of the largest value passed it.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theMultiplierReachesEveryMergedWeight(Path dir, @TempDir Path tmp) throws Exception {
        for (double m : new double[] {0.5, -1.25}) {
            String label = "case " + dir.getFileName() + ", multiplier " + m;
            Path out = tmp.resolve("merged.safetensors");
            List<AdapterMerge.Merged> merged =
                    AdapterMerge.mergeFile(dir.resolve("base.safetensors"), adapterOf(dir), out, m, null);
            try (SafetensorsReader b = SafetensorsReader.open(dir.resolve("base.safetensors"));
                    SafetensorsReader o = SafetensorsReader.open(out);
                    SafetensorsReader e = SafetensorsReader.open(dir.resolve("expected.safetensors"));
                    AdapterFile f = AdapterFile.read(adapterOf(dir))) {
                for (AdapterMerge.Merged one : merged) {
                    org.nd4j.linalg.api.ndarray.INDArray base = b.read(one.baseTensor(),
                            org.nd4j.linalg.api.buffer.DataType.DOUBLE);
                    org.nd4j.linalg.api.ndarray.INDArray want = dev.lokr.math.LokrWeights.effectiveWeight(
                            f.resolve(one.module(), one.shape(), org.nd4j.linalg.api.buffer.DataType.DOUBLE),
                            base, m, null);
                    double[] got = o.readDoubles(one.baseTensor());
                    double[] w = want.dup('c').data().asDouble();
                    double[] atOne = e.readDoubles(one.baseTensor());
                    double fromOne = 0;
                    double scale = 0;
                    for (int i = 0; i < got.length; i++) {
                        double oneRounding = Math.max(0x1p-24 * Math.abs(w[i]), 0x1p-150);
                        assertTrue(Math.abs(got[i] - w[i]) <= oneRounding, label + ": " + one.baseTensor() + "["
                                + i + "] = " + got[i] + ", expected " + w[i] + " rounded once to F32");
                        fromOne = Math.max(fromOne, Math.abs(got[i] - atOne[i]));
                        scale = Math.max(scale, Math.abs(w[i]));
                    }
                    assertTrue(fromOne > 1e-4 * scale, label + ": the merge ignored the multiplier");
                }
            }
        }
    }
}
