package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs {@link PythonAdapterExample} on lokr-core's parity case {@code linear_plain}. */
class PythonAdapterExampleTest {

    private static final String CASE = "/parity-cases/linear_plain/";

    @TempDir
    static Path dir;

    /** Copies the case out of lokr-core's test-jar (a jar entry is not a file the reader can map). */
    @BeforeAll
    static void extract() throws Exception {
        RunChecks.singleThreaded();
        for (String f : new String[] {"base.safetensors", "adapter.safetensors", "expected.safetensors"}) {
            try (InputStream in = PythonAdapterExampleTest.class.getResourceAsStream(CASE + f)) {
                if (in == null) {
                    throw new IllegalStateException(CASE + f + " not on the test class path (lokr-core test-jar)");
                }
                Files.copy(in, dir.resolve(f));
            }
        }
    }

    @Test
    void mergedNetworkMatchesPyTorch() throws Exception {
        PythonAdapterExample.Result r = PythonAdapterExample.run(dir, 1.0);
        assertEquals("lycoris_blocks_0_attn_q", r.module());
        assertTrue(r.deltaMaxAbs() > 1e-3, "the adapter must change the weight, max change " + r.deltaMaxAbs());
        assertTrue(r.weightMaxDiff() <= 1e-5, "merged weight vs expected: " + r.weightMaxDiff());
        assertTrue(r.outputMaxDiff() <= 1e-5, "network output vs expected: " + r.outputMaxDiff());
        assertEquals(4, r.lines().size());
    }

    @Test
    void otherMultiplierDoesNotMatch() throws Exception {
        PythonAdapterExample.Result r = PythonAdapterExample.run(dir, 0.5);
        assertTrue(r.weightMaxDiff() > 1e-4, "multiplier 0.5 must differ from the m = 1 expectation: "
                + r.weightMaxDiff());
    }

    @Test
    void missingFileIsAnError() {
        assertThrows(java.io.IOException.class, () -> PythonAdapterExample.run(dir.resolve("nope"), 1.0));
    }
}
