package dev.lokr.examples;

import dev.lokr.io.ParityCases;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Runs {@link PythonAdapterExample} on lokr-core's parity case {@code linear_plain}. */
class PythonAdapterExampleTest {

    private static Path dir;

    @BeforeAll
    static void setUp() {
        RunChecks.singleThreaded();
        dir = ParityCases.root().resolve("linear_plain");
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
