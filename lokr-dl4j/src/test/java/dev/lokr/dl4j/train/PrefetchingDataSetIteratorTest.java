package dev.lokr.dl4j.train;

import static dev.lokr.dl4j.train.PrefetchTestSupport.awaitNoThreads;
import static dev.lokr.dl4j.train.PrefetchTestSupport.jitterDouble;
import static dev.lokr.dl4j.train.PrefetchTestSupport.liveThreads;
import static dev.lokr.dl4j.train.PrefetchTestSupport.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.dl4j.train.PrefetchTestSupport.SeededIterator;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.dataset.DataSet;

class PrefetchingDataSetIteratorTest {
    private static final Duration NO_HANG = Duration.ofSeconds(10);

    private static DeviceStaging noStaging() {
        return new DeviceStaging(
                false,
                false,
                msg -> {
                    throw new AssertionError("unexpected notice: " + msg);
                });
    }

    static Stream<Arguments> orderCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 11;
        for (int workers : new int[] {0, 1, 2, 4}) {
            for (boolean persistent : new boolean[] {true, false}) {
                for (int queue : new int[] {1, 3}) {
                    out.add(Arguments.of(seed++, workers, persistent, queue));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "seed={0} workers={1} persistent={2} queue={3}")
    @MethodSource("orderCases")
    void deliversSourceOrderOverEpochs(long seed, int workers, boolean persistent, int queue) {
        String ctx =
                "seed="
                        + seed
                        + " workers="
                        + workers
                        + " persistent="
                        + persistent
                        + " queue="
                        + queue;
        int batches = 13;
        List<DataSet> ref = reference(seed, batches, 3, 5);
        SeededIterator src = new SeededIterator(seed, batches, 3, 5);
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(src, workers, queue, persistent, noStaging())) {
            it.setPreProcessor(jitterDouble(seed));
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        for (int epoch = 0; epoch < 3; epoch++) {
                            if (epoch > 0) {
                                it.reset();
                            }
                            for (int i = 0; i < batches; i++) {
                                assertTrue(
                                        it.hasNext(),
                                        ctx + " epoch=" + epoch + " batch=" + i + ": hasNext");
                                DataSet got = it.next();
                                DataSet want = ref.get(i);
                                assertEquals(
                                        want.getFeatures().mul(2).putScalar(0, i),
                                        got.getFeatures(),
                                        ctx + " epoch=" + epoch + " batch=" + i + ": features");
                                assertEquals(
                                        want.getLabels(),
                                        got.getLabels(),
                                        ctx + " epoch=" + epoch + " batch=" + i);
                            }
                            assertFalse(it.hasNext(), ctx + " epoch=" + epoch + ": exhausted");
                            assertFalse(
                                    it.hasNext(), ctx + " epoch=" + epoch + ": still exhausted");
                            assertThrows(NoSuchElementException.class, it::next, ctx);
                        }
                    },
                    ctx);
            assertEquals(2, src.resets, ctx + ": source resets");
        }
    }

    /**
     * DL4J's {@code ExistingDataSetIterator} (like a list of batches) returns the same objects every
     * epoch: the wrapper's preprocessor, which works in place, must run on each once, not once per
     * epoch. Fresh batches ({@link #deliversSourceOrderOverEpochs}) are preprocessed every epoch.
     */
    @ParameterizedTest(name = "workers={0} persistent={1}")
    @org.junit.jupiter.params.provider.CsvSource({"0,true", "2,true", "2,false"})
    void reusedBatchObjectsArePreprocessedOnce(int workers, boolean persistent) {
        String ctx = "workers=" + workers + " persistent=" + persistent;
        List<DataSet> batches = reference(7, 4, 3, 5);
        List<DataSet> original = new ArrayList<>();
        for (DataSet d : batches) {
            original.add(d.copy());
        }
        try (PrefetchingDataSetIterator it = new PrefetchingDataSetIterator(
                new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(batches), workers, 2,
                persistent, noStaging())) {
            it.setPreProcessor(d -> d.getFeatures().addi(1));
            for (int epoch = 0; epoch < 3; epoch++) {
                if (epoch > 0) {
                    it.reset();
                }
                for (int i = 0; i < batches.size(); i++) {
                    DataSet got = it.next();
                    assertSame(batches.get(i), got, ctx + " epoch=" + epoch + " batch=" + i);
                    assertEquals(original.get(i).getFeatures().add(1), got.getFeatures(),
                            ctx + " epoch=" + epoch + " batch=" + i + ": preprocessed exactly once");
                }
                assertFalse(it.hasNext(), ctx + " epoch=" + epoch);
            }
        }
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void resetMidEpochRestartsFromTheFirstBatch(long seed) {
        List<DataSet> ref = reference(seed, 10, 2, 4);
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(seed, 10, 2, 4), 2, 2, seed % 2 == 0, noStaging())) {
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        for (int i = 0; i < 3; i++) {
                            it.next();
                        }
                        it.reset();
                        int n = 0;
                        while (it.hasNext()) {
                            assertEquals(
                                    ref.get(n).getFeatures(),
                                    it.next().getFeatures(),
                                    "seed=" + seed + " batch=" + n);
                            n++;
                        }
                        assertEquals(10, n, "seed=" + seed);
                    });
        }
    }

    static Stream<Long> seeds() {
        return Stream.of(3L, 4L, 5L, 6L);
    }

    /**
     * At most {@code queueSize} batches are in flight: while the consumer takes none, the reader reads
     * {@code queueSize} batches and then parks on the engine's condition (not inside the source); each
     * batch taken lets it read one more.
     */
    @ParameterizedTest(name = "queue={0} persistent={1}")
    @org.junit.jupiter.params.provider.CsvSource({"1,true", "3,false"})
    void readsAtMostQueueSizeBatchesAhead(int queue, boolean persistent) throws Exception {
        java.util.concurrent.atomic.AtomicInteger reads = new java.util.concurrent.atomic.AtomicInteger();
        SeededIterator src = new SeededIterator(31, 10, 2, 3) {
            private static final long serialVersionUID = 1L;

            @Override
            public DataSet next() {
                reads.incrementAndGet();
                return super.next();
            }
        };
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(src, 2, queue, persistent, noStaging())) {
            assertTrue(it.hasNext());
            Thread reader = liveThreads(it.threadNamePrefix() + "0").iterator().next();
            awaitParkedOnCondition(reader, reads, queue);
            assertEquals(queue, reads.get(), "batches read with none taken");
            it.next();
            awaitParkedOnCondition(reader, reads, queue + 1);
            assertEquals(queue + 1, reads.get(), "batches read with one taken");
        }
    }

    /**
     * Waits (up to 10 s) until {@code reader} has read at least {@code atLeast} batches and waits on a
     * condition (in the engine, for room in the queue), as opposed to running or queueing for the lock.
     */
    private static void awaitParkedOnCondition(
            Thread reader, java.util.concurrent.atomic.AtomicInteger reads, int atLeast)
            throws InterruptedException {
        long end = System.nanoTime() + 10_000_000_000L;
        while (System.nanoTime() < end) {
            if (reads.get() >= atLeast
                    && java.util.concurrent.locks.LockSupport.getBlocker(reader)
                            instanceof java.util.concurrent.locks.AbstractQueuedSynchronizer.ConditionObject) {
                return;
            }
            Thread.sleep(2);
        }
        throw new AssertionError("the reader did not wait for room after " + reads.get() + " reads");
    }

    @Test
    void persistentWorkersSurviveReset() throws Exception {
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(1, 6, 2, 3), 3, 3, true, noStaging())) {
            String prefix = it.threadNamePrefix();
            assertTrue(liveThreads(prefix).isEmpty(), "no thread before the first hasNext()");
            drain(it);
            Set<Thread> first = liveThreads(prefix);
            assertEquals(4, first.size(), "reader + 3 workers after epoch 1: " + first);
            for (Thread t : first) {
                assertTrue(t.isDaemon(), t.getName() + " must be a daemon");
                assertTrue(t.getName().matches("lokr-prefetch-\\d+-\\d+"), t.getName());
            }
            for (int epoch = 1; epoch < 3; epoch++) {
                it.reset();
                drain(it);
                assertEquals(first, liveThreads(prefix), "same threads after epoch " + (epoch + 1));
            }
            it.close();
            assertEquals(Set.of(), awaitNoThreads(prefix, 5_000), "threads left after close()");
        }
    }

    @Test
    void nonPersistentWorkersStopAtEpochEndAndAreRecreated() throws Exception {
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(2, 6, 2, 3), 2, 2, false, noStaging())) {
            String prefix = it.threadNamePrefix();
            Set<Thread> seen = new HashSet<>();
            for (int epoch = 0; epoch < 3; epoch++) {
                if (epoch > 0) {
                    it.reset();
                    assertEquals(
                            Set.of(),
                            liveThreads(prefix),
                            "no thread after reset before epoch " + epoch);
                }
                it.next();
                Set<Thread> during = liveThreads(prefix);
                assertEquals(
                        3,
                        during.size(),
                        "reader + 2 workers during epoch " + epoch + ": " + during);
                for (Thread t : during) {
                    assertTrue(seen.add(t), "thread " + t.getName() + " reused in epoch " + epoch);
                }
                while (it.hasNext()) {
                    it.next();
                }
                assertEquals(
                        Set.of(),
                        awaitNoThreads(prefix, 5_000),
                        "threads left at end of epoch " + epoch);
            }
            // a reset in the middle of an epoch also stops them
            it.reset();
            it.next();
            assertFalse(liveThreads(prefix).isEmpty());
            it.reset();
            assertEquals(Set.of(), liveThreads(prefix), "threads left after a mid-epoch reset");
        }
    }

    @Test
    void zeroWorkersStartsNoThread() {
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(3, 4, 2, 3), 0, 1, true, noStaging())) {
            drain(it);
            assertEquals(Set.of(), liveThreads(it.threadNamePrefix()));
        }
    }

    static Stream<Arguments> failureCases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 100;
        for (int workers : new int[] {0, 1, 3}) {
            for (int failAt : new int[] {0, 4}) {
                for (boolean inWorker : new boolean[] {false, true}) {
                    out.add(Arguments.of(seed++, workers, failAt, inWorker));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "seed={0} workers={1} failAt={2} inWorker={3}")
    @MethodSource("failureCases")
    void failurePropagatesWithCauseInOrderAndWithoutHang(
            long seed, int workers, int failAt, boolean inWorker) throws Exception {
        String ctx =
                "seed="
                        + seed
                        + " workers="
                        + workers
                        + " failAt="
                        + failAt
                        + " inWorker="
                        + inWorker;
        IllegalStateException boom = new IllegalStateException("boom " + ctx);
        SeededIterator src =
                inWorker
                        ? new SeededIterator(seed, 8, 2, 3)
                        : new SeededIterator(seed, 8, 2, 3, failAt, boom, true);
        PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(src, workers, 2, seed % 2 == 0, noStaging());
        if (inWorker) {
            it.setPreProcessor(
                    ds -> {
                        if (ds.getFeatures().getFloat(0) == failAt) {
                            throw boom;
                        }
                    });
        }
        String prefix = it.threadNamePrefix();
        List<DataSet> ref = reference(seed, 8, 2, 3);
        assertTimeoutPreemptively(
                NO_HANG,
                () -> {
                    for (int i = 0; i < failAt; i++) {
                        assertEquals(
                                ref.get(i).getFeatures(),
                                it.next().getFeatures(),
                                ctx + " batch=" + i);
                    }
                    PrefetchException e = assertThrows(PrefetchException.class, it::next, ctx);
                    assertSame(boom, e.getCause(), ctx + ": cause");
                    assertEquals(failAt, e.batchIndex(), ctx + ": batch index");
                    assertTrue(
                            e.getMessage().contains("batch " + failAt),
                            ctx + ": " + e.getMessage());
                    if (workers > 0) {
                        // The failure is sticky until reset().
                        PrefetchException again =
                                assertThrows(PrefetchException.class, it::hasNext, ctx);
                        assertSame(boom, again.getCause(), ctx);
                    }
                },
                ctx);
        it.close();
        assertEquals(Set.of(), awaitNoThreads(prefix, 5_000), ctx + ": threads left after close()");
    }

    @Test
    void failureIsClearedByReset() {
        IllegalStateException boom = new IllegalStateException("once");
        boolean[] thrown = {false};
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(9, 5, 2, 3), 2, 2, true, noStaging())) {
            it.setPreProcessor(
                    ds -> {
                        if (!thrown[0] && ds.getFeatures().getFloat(0) == 2) {
                            thrown[0] = true;
                            throw boom;
                        }
                    });
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        it.next();
                        it.next();
                        assertSame(
                                boom, assertThrows(PrefetchException.class, it::next).getCause());
                        it.reset();
                        assertEquals(5, drain(it), "a full epoch after reset");
                    });
        }
    }

    @ParameterizedTest(name = "persistent={0}")
    @MethodSource("booleans")
    void closeMidEpochLeavesNoThread(boolean persistent) throws Exception {
        PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(5, 50, 2, 3), 4, 4, persistent, noStaging());
        it.setPreProcessor(jitterDouble(5));
        String prefix = it.threadNamePrefix();
        it.next();
        assertEquals(5, liveThreads(prefix).size(), "reader + 4 workers running");
        assertTimeoutPreemptively(NO_HANG, it::close);
        assertEquals(Set.of(), awaitNoThreads(prefix, 5_000), "threads left after close()");
        it.close(); // idempotent
        assertThrows(IllegalStateException.class, it::hasNext);
        assertThrows(IllegalStateException.class, it::reset);
    }

    @ParameterizedTest(name = "resettable source={0}")
    @MethodSource("booleans")
    void everyMethodButCloseThrowsAfterClose(boolean resettable) {
        PrefetchingDataSetIterator it = new PrefetchingDataSetIterator(
                new SeededIterator(6, 4, 2, 3, -1, null, resettable), 2, 2, true, noStaging());
        it.next();
        it.close();
        List<org.junit.jupiter.api.function.Executable> calls = List.of(it::hasNext, it::next, () -> it.next(2),
                it::reset, it::resetSupported, it::asyncSupported, it::inputColumns, it::totalOutcomes, it::batch,
                it::getLabels, it::getPreProcessor, () -> it.setPreProcessor(null));
        for (int i = 0; i < calls.size(); i++) {
            IllegalStateException e = assertThrows(IllegalStateException.class, calls.get(i), "call " + i);
            assertTrue(e.getMessage().contains("closed"), e.getMessage());
        }
        it.close();
        assertTrue(it.toString().contains("PrefetchingDataSetIterator"));
        assertTrue(it.threadNamePrefix().startsWith("lokr-prefetch-"));
        PrefetchingMultiDataSetIterator multi = new PrefetchingMultiDataSetIterator(
                new org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter(
                        new SeededIterator(6, 4, 2, 3, -1, null, resettable)), 2, 2, true, noStaging());
        multi.close();
        for (org.junit.jupiter.api.function.Executable call : List.<org.junit.jupiter.api.function.Executable>of(
                multi::hasNext, multi::next, () -> multi.next(2), multi::reset, multi::resetSupported,
                multi::asyncSupported, multi::getPreProcessor, () -> multi.setPreProcessor(null))) {
            assertThrows(IllegalStateException.class, call);
        }
    }

    static Stream<Boolean> booleans() {
        return Stream.of(true, false);
    }

    @Test
    void pinMemoryOnCpuNotifiesOnceAndChangesNothing() {
        List<String> notices = new ArrayList<>();
        List<DataSet> ref = reference(21, 6, 3, 4);
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(21, 6, 3, 4),
                        2,
                        2,
                        true,
                        new DeviceStaging(true, false, notices::add))) {
            assertTimeoutPreemptively(
                    NO_HANG,
                    () -> {
                        for (int epoch = 0; epoch < 3; epoch++) {
                            if (epoch > 0) {
                                it.reset();
                            }
                            int i = 0;
                            while (it.hasNext()) {
                                DataSet got = it.next();
                                assertEquals(
                                        ref.get(i).getFeatures(),
                                        got.getFeatures(),
                                        "epoch=" + epoch + " batch=" + i);
                                assertEquals(
                                        ref.get(i).getLabels(),
                                        got.getLabels(),
                                        "epoch=" + epoch + " batch=" + i);
                                i++;
                            }
                            assertEquals(6, i);
                        }
                    });
        }
        assertEquals(1, notices.size(), "one notice for the iterator: " + notices);
        assertTrue(notices.get(0).contains("pinMemory=true has no effect"), notices.get(0));
    }

    @Test
    void pinMemoryOffNeverNotifies() {
        List<String> notices = new ArrayList<>();
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(
                        new SeededIterator(22, 3, 2, 2),
                        1,
                        1,
                        true,
                        new DeviceStaging(false, false, notices::add))) {
            assertEquals(3, drain(it));
        }
        assertEquals(List.of(), notices);
    }

    @Test
    void iteratorContract() {
        SeededIterator src = new SeededIterator(7, 3, 4, 6);
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(src, 1, 1, true, noStaging())) {
            assertFalse(
                    it.asyncSupported(),
                    "asyncSupported must be false so DL4J does not wrap again");
            assertTrue(it.resetSupported());
            assertEquals(6, it.inputColumns());
            assertEquals(2, it.totalOutcomes());
            assertEquals(4, it.batch());
            assertEquals(List.of("a", "b"), it.getLabels());
            UnsupportedOperationException e =
                    assertThrows(UnsupportedOperationException.class, () -> it.next(2));
            assertTrue(e.getMessage().contains("next(2)"), e.getMessage());
        }
        SeededIterator once = new SeededIterator(7, 3, 4, 6, -1, null, false);
        try (PrefetchingDataSetIterator it =
                new PrefetchingDataSetIterator(once, 1, 1, true, noStaging())) {
            assertFalse(it.resetSupported());
            UnsupportedOperationException e =
                    assertThrows(UnsupportedOperationException.class, it::reset);
            assertTrue(e.getMessage().contains("does not support reset"), e.getMessage());
        }
    }

    @Test
    void rejectsBadSettings() {
        SeededIterator src = new SeededIterator(1, 1, 1, 1);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new PrefetchingDataSetIterator(src, -1, 1, true, noStaging()));
        assertEquals("numWorkers must be within 0 to 256, got -1", e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new PrefetchingDataSetIterator(src, Integer.MAX_VALUE, 1, true, noStaging()));
        assertEquals("numWorkers must be within 0 to 256, got " + Integer.MAX_VALUE, e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> new PrefetchingDataSetIterator(src, 1, 0, true, noStaging()));
        assertEquals("queueSize must be >= 1, got 0", e.getMessage());
    }

    private static int drain(PrefetchingDataSetIterator it) {
        int n = 0;
        while (it.hasNext()) {
            it.next();
            n++;
        }
        return n;
    }
}
