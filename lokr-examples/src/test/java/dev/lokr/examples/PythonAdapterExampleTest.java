package dev.lokr.examples;

import dev.lokr.io.ParityCases;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Runs {@link PythonAdapterExample} on lokr-core's dense parity cases. */
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
        assertEquals("blocks.0.attn.q", r.modulePath());
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

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"linear_plain", "linear_dora", "linear_scalar", "linear_decompose_both",
            "peft_decompose_both"})
    void everyDenseParityCaseMatchesPyTorch(String name) throws Exception {
        PythonAdapterExample.Result r = PythonAdapterExample.run(ParityCases.root().resolve(name), 1.0);
        assertTrue(r.deltaMaxAbs() > 1e-4, name + ": the adapter must change the weight, " + r.deltaMaxAbs());
        assertTrue(r.weightMaxDiff() <= 1e-5, name + ": merged weight vs expected: " + r.weightMaxDiff());
        assertTrue(r.outputMaxDiff() <= 1e-4, name + ": network output vs expected: " + r.outputMaxDiff());
    }

    @Test
    void aConvolutionCaseIsRefusedNamingTheShape() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PythonAdapterExample.run(ParityCases.root().resolve("conv_tucker"), 1.0));
        assertTrue(e.getMessage().contains("down.conv1.weight is [256, 128, 3, 3]")
                && e.getMessage().contains("lokr merge"), e.getMessage());
    }

    @Test
    void missingFileIsAnError() {
        assertThrows(java.io.IOException.class, () -> PythonAdapterExample.run(dir.resolve("nope"), 1.0));
    }
}
