package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Runs {@link ScalarExample} for a few seeds and checks what it reports. */
class ScalarExampleTest {

    @BeforeAll
    static void threads() {
        RunChecks.singleThreaded();
    }

    @ParameterizedTest
    @ValueSource(longs = {7, 1234})
    void adaptsTrainsAndMerges(long seed) {
        AdapterRun r = ScalarExample.run(seed);
        RunChecks.common(r, seed);
        assertEquals(List.of("dense_0", "dense_1"), List.copyOf(r.layouts().keySet()), "seed " + seed);
        for (Map.Entry<String, LokrLayout> e : r.layouts().entrySet()) {
            String where = "seed " + seed + ", layer " + e.getKey() + ": " + e.getValue();
            LokrLayout l = e.getValue();
            assertTrue(l.scalar(), where);
            assertTrue(l.params().contains(LokrParam.SCALAR), where);
        }
    }
}
