package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;


/** Checks every adapt-train-merge example must pass. */
final class RunChecks {

    /** Merged network outputs must equal the adapted network's within this (float softmax outputs). */
    static final double MERGE_TOLERANCE = 1e-4;

    private RunChecks() {
    }

    /** Tiny networks: one OpenMP thread avoids spinning threads on small shared machines. */
    static void singleThreaded() {
        ExampleSupport.tinyNetworkThreads();
    }

    /** Loss decreased clearly, the adapter changed outputs, merge equals adapted, the base stayed frozen. */
    static void common(AdapterRun r, long seed) {
        String where = r.name() + " seed " + seed + ": ";
        assertTrue(r.lossAfter() < 0.9 * r.lossBefore(),
                where + "loss must drop by 10%, got " + r.lossBefore() + " -> " + r.lossAfter());
        assertTrue(r.adapterEffect() > 1e-3, where + "adapter must change the outputs, max change " + r.adapterEffect());
        assertTrue(r.mergeMaxDiff() <= MERGE_TOLERANCE, where + "merged vs adapted max diff " + r.mergeMaxDiff());
        assertTrue(r.baseUnchanged(), where + "frozen W or b changed during training");
        assertTrue(r.trainable() > 0 && r.trainable() < r.total() / 4,
                where + "trainable " + r.trainable() + " of " + r.total());
        long sum = r.layouts().values().stream().mapToLong(l -> l.numParams()).sum();
        assertEquals(sum, r.trainable(), where + "trainable count vs layouts");
        assertTrue(r.report().contains("trainable"), where + "report: " + r.report());
        assertEquals(5, r.lines().size(), where);
    }
}
