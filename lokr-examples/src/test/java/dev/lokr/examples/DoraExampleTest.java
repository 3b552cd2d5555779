package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.math.DoraAxis;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Runs {@link DoraExample} for a few seeds and checks what it reports. */
class DoraExampleTest {

    @BeforeAll
    static void threads() {
        RunChecks.singleThreaded();
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 1234})
    void adaptsTrainsAndMerges(long seed) {
        AdapterRun r = DoraExample.run(seed);
        RunChecks.common(r, seed);
        assertEquals(List.of("dense_0", "dense_1"), List.copyOf(r.layouts().keySet()), "seed " + seed);
        for (Map.Entry<String, LokrLayout> e : r.layouts().entrySet()) {
            String where = "seed " + seed + ", layer " + e.getKey() + ": " + e.getValue();
            LokrLayout l = e.getValue();
            assertEquals(DoraAxis.OUTPUT, l.doraAxis(), where);
            assertTrue(l.params().contains(LokrParam.MAGNITUDE), where);
        }
    }
}
