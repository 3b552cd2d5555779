package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Runs {@link SwitchAdaptersExample} for a few seeds. */
class SwitchAdaptersExampleTest {

    @BeforeAll
    static void threads() {
        RunChecks.singleThreaded();
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 1234})
    void switchesAndRestoresAdapters(long seed) {
        SwitchAdaptersExample.Result r = SwitchAdaptersExample.run(seed);
        String where = "seed " + seed + ": " + r + ": ";
        assertTrue(r.accuracyAOnA() > r.accuracyBaseOnA() + 0.1, where + "adapter A must learn task A");
        assertTrue(r.accuracyAOnA() > r.accuracyBOnA(), where + "adapter A must beat adapter B on task A");
        assertTrue(r.accuracyBOnB() > r.accuracyAOnB(), where + "adapter B must beat adapter A on task B");
        assertTrue(r.switchDiff() > 1e-2, where + "switching must change outputs");
        assertEquals(0.0, r.restoreDiff(), where + "switching back must restore outputs exactly");
        assertTrue(r.halfDiff() > 1e-3, where + "multiplier 0.5 must change outputs");
        assertTrue(r.zeroMultiplierVsBase() <= 1e-6, where + "multiplier 0 must give the base outputs");
        assertEquals(4, r.lines().size(), where);
    }
}
