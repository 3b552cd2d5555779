package dev.lokr.dl4j.train;

import static dev.lokr.dl4j.train.PrefetchTestSupport.SeededIterator;
import static dev.lokr.dl4j.train.PrefetchTestSupport.liveThreads;
import static dev.lokr.dl4j.train.PrefetchTestSupport.reference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

/** The prefetching iterator when its caller is interrupted, closes it, or uses it after a failure or close. */
class PrefetchRobustnessTest {

    private static final Duration NO_HANG = Duration.ofSeconds(60);

    /** A source that takes {@code millis} per batch, so a reader is inside it when the consumer acts. */
    private static final class SlowIterator extends SeededIterator {
        private static final long serialVersionUID = 1L;
        private final long millis;

        SlowIterator(long seed, int numBatches, long millis) {
            super(seed, numBatches, 2, 3);
            this.millis = millis;
        }

        @Override
        public DataSet next() {
            long end = System.nanoTime() + millis * 1_000_000L;
            while (System.nanoTime() < end) {
                Thread.onSpinWait(); // busy on purpose: an interrupt must not cut the read short
            }
            return super.next();
        }
    }

    private static PrefetchingDataSetIterator prefetch(
            org.nd4j.linalg.dataset.api.iterator.DataSetIterator src, int workers, boolean persistent) {
        return new PrefetchingDataSetIterator(src, workers, 2, persistent, new DeviceStaging(false, false, msg -> {
            throw new AssertionError("unexpected notice: " + msg);
        }));
    }

    private static void assertEpoch(List<DataSet> expected, PrefetchingDataSetIterator it, String id) {
        for (int i = 0; i < expected.size(); i++) {
            assertTrue(it.hasNext(), id + ": batch " + i + " missing");
            assertEquals(expected.get(i).getFeatures(), it.next().getFeatures(), id + ": batch " + i);
        }
        assertTrue(!it.hasNext(), id + ": extra batches");
    }

    @Test
    void anInterruptedResetStillRestartsTheEpochInOrder() {
        List<DataSet> ref = reference(5, 6, 2, 3);
        assertTimeoutPreemptively(NO_HANG, () -> {
            for (boolean persistent : new boolean[] {false, true}) {
                try (PrefetchingDataSetIterator it = prefetch(new SlowIterator(5, 6, 150), 1, persistent)) {
                    assertTrue(it.hasNext());   // the reader is now inside the source
                    Thread.currentThread().interrupt();
                    it.reset();
                    assertTrue(Thread.interrupted(), "the interrupt is kept for the caller");
                    assertEpoch(ref, it, "persistent=" + persistent);
                }
            }
        });
    }

    /**
     * Against the class's advice, a reset from another thread while the consumer waits in hasNext(): the wait
     * ends with a clear error instead of lasting for ever, and the iterator serves the new epoch in order.
     */
    @Test
    void aResetFromAnotherThreadEndsAWaitingHasNext() {
        List<DataSet> ref = reference(7, 4, 2, 3);
        assertTimeoutPreemptively(NO_HANG, () -> {
            for (boolean persistent : new boolean[] {false, true}) {
                try (PrefetchingDataSetIterator it = prefetch(new SlowIterator(7, 4, 1500), 1, persistent)) {
                    java.util.concurrent.CompletableFuture<Throwable> waiting =
                            java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                                try {
                                    it.hasNext();   // the first batch takes 1.5 s to read
                                    return null;
                                } catch (Throwable t) {
                                    return t;
                                }
                            }, runnable -> new Thread(runnable, "consumer").start());
                    Thread.sleep(300);
                    it.reset();
                    Throwable t = waiting.get();
                    assertTrue(t instanceof IllegalStateException, "persistent=" + persistent + ": " + t);
                    assertEquals("prefetching iterator was reset by another thread while waiting for a batch",
                            t.getMessage());
                    assertEpoch(ref, it, "after the reset, persistent=" + persistent);
                }
            }
        });
    }

    @Test
    void anInterruptedCloseStillStopsItsThreads() {
        assertTimeoutPreemptively(NO_HANG, () -> {
            PrefetchingDataSetIterator it = prefetch(new SlowIterator(6, 6, 150), 2, true);
            String prefix = it.toString().replaceAll(".*threads=([^*]*)\\*.*", "$1");
            assertTrue(it.hasNext());
            Thread.currentThread().interrupt();
            it.close();
            assertTrue(Thread.interrupted(), "the interrupt is kept for the caller");
            assertEquals(List.of(), new ArrayList<>(liveThreads(prefix)), "threads left after close()");
        });
    }

    /** Without workers as with them, a failure's batch index counts from the start of its epoch. */
    @org.junit.jupiter.params.ParameterizedTest(name = "workers={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 1})
    void aFailuresBatchIndexCountsFromTheEpochsStart(int workers) {
        IllegalArgumentException boom = new IllegalArgumentException("boom");
        try (PrefetchingDataSetIterator it = prefetch(new SeededIterator(9, 5, 2, 3, 2, boom, true), workers, true)) {
            assertTimeoutPreemptively(NO_HANG, () -> {
                for (int epoch = 0; epoch < 2; epoch++) {
                    if (epoch > 0) {
                        it.reset();
                    }
                    it.next();
                    it.next();
                    PrefetchException e = assertThrows(PrefetchException.class, it::next);
                    assertSame(boom, e.getCause());
                    assertEquals(2, e.batchIndex(), "workers=" + workers + " epoch=" + epoch);
                    assertTrue(e.getMessage().contains("batch 2 of this epoch"), e.getMessage());
                }
            });
        }
    }

    /**
     * A worker still processing a batch of the old epoch when a persistent iterator is reset: its result is
     * dropped, never delivered in the new epoch in place of the batch with the same index.
     */
    @Test
    void aBatchStillInAWorkerAtResetIsNotDeliveredInTheNextEpoch() {
        java.util.concurrent.CountDownLatch inStage = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Thread[] staleWorker = new Thread[1];
        SeededIterator src = new SeededIterator(11, 4, 2, 3) {
            private static final long serialVersionUID = 1L;

            @Override
            public DataSet next() {
                DataSet d = super.next();
                d.getFeatures().putScalar(0, 100 * resets + d.getFeatures().getFloat(0)); // 100 * epoch + batch
                return d;
            }
        };
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (PrefetchingDataSetIterator it = prefetch(src, 2, true)) {
                it.setPreProcessor(ds -> {
                    if (ds.getFeatures().getFloat(0) == 1) { // batch 1 of epoch 0 stays in its worker
                        staleWorker[0] = Thread.currentThread();
                        inStage.countDown();
                        awaitUninterruptibly(release);
                    }
                });
                assertEquals(0, it.next().getFeatures().getFloat(0));
                inStage.await();
                it.reset();
                assertEquals(100, it.next().getFeatures().getFloat(0));
                assertTrue(it.hasNext(), "batch 1 of epoch 1 is ready, from the other worker");
                release.countDown();
                awaitParkedOnCondition(staleWorker[0]); // done with the old batch: dropped (or stored)
                for (int i = 1; i < 4; i++) {
                    assertEquals(100 + i, it.next().getFeatures().getFloat(0), "batch " + i + " of epoch 1");
                }
                assertTrue(!it.hasNext());
            }
        });
    }

    /**
     * A source that hands out the same batch objects every epoch ({@code ExistingDataSetIterator}), reset while a
     * worker of the first epoch still preprocesses one of them: the new epoch hands that batch out only once its
     * preprocessing has ended (before, the other worker skipped the object as done and it was handed out raw).
     */
    @Test
    void aReusedBatchStillBeingPreprocessedAtResetIsHandedOutPreprocessed() {
        List<DataSet> batches = reference(13, 3, 2, 3);
        List<org.nd4j.linalg.api.ndarray.INDArray> want = new ArrayList<>();
        for (DataSet d : batches) {
            want.add(d.getFeatures().add(1));
        }
        java.util.concurrent.CountDownLatch inStage = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicReference<Thread> staleWorker = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean handedOut = new java.util.concurrent.atomic.AtomicBoolean();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (PrefetchingDataSetIterator it = prefetch(
                    new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(batches), 2, true)) {
                it.setPreProcessor(ds -> {
                    if (ds == batches.get(1) && staleWorker.compareAndSet(null, Thread.currentThread())) {
                        inStage.countDown();
                        awaitUninterruptibly(release);   // batch 1 of epoch 0 stays in its worker
                    }
                    ds.getFeatures().addi(1);
                });
                assertEquals(want.get(0), it.next().getFeatures());
                inStage.await();
                it.reset();
                assertEquals(want.get(0), it.next().getFeatures(), "batch 0 of epoch 1");
                // the stale worker goes on once the other worker waits for it or batch 1 was handed out
                Thread releaser = new Thread(() -> {
                    long end = System.nanoTime() + 10_000_000_000L;
                    while (!handedOut.get() && !waitsOnAMonitor(it.threadNamePrefix(), staleWorker.get())
                            && System.nanoTime() < end) {
                        Thread.onSpinWait();
                    }
                    release.countDown();
                }, "releaser");
                releaser.start();
                org.nd4j.linalg.api.ndarray.INDArray atHandOut = it.next().getFeatures().dup();
                handedOut.set(true);
                releaser.join();
                assertEquals(want.get(1), atHandOut, "batch 1 of epoch 1, as handed out: preprocessed once");
                assertEquals(want.get(2), it.next().getFeatures(), "batch 2 of epoch 1");
                assertTrue(!it.hasNext());
            } finally {
                release.countDown();
            }
        });
    }

    /**
     * A reused batch object whose preprocessor threw, handed out again after the reset that follows the failure:
     * it is preprocessed then (before, it counted as preprocessed and was handed out raw, silently).
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "workers={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 2})
    void aReusedBatchWhosePreprocessorFailedIsPreprocessedWhenItComesBack(int workers) {
        List<DataSet> batches = reference(14, 3, 2, 3);
        List<org.nd4j.linalg.api.ndarray.INDArray> want = new ArrayList<>();
        for (DataSet d : batches) {
            want.add(d.getFeatures().add(1));
        }
        IllegalStateException boom = new IllegalStateException("batch 1, once");
        java.util.concurrent.atomic.AtomicBoolean failed = new java.util.concurrent.atomic.AtomicBoolean();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (PrefetchingDataSetIterator it = prefetch(
                    new org.deeplearning4j.datasets.iterator.ExistingDataSetIterator(batches), workers, true)) {
                it.setPreProcessor(ds -> {
                    if (ds == batches.get(1) && failed.compareAndSet(false, true)) {
                        throw boom;
                    }
                    ds.getFeatures().addi(1);
                });
                assertEquals(want.get(0), it.next().getFeatures());
                assertSame(boom, assertThrows(PrefetchException.class, it::next).getCause());
                it.reset();
                for (int i = 0; i < batches.size(); i++) {
                    assertEquals(want.get(i), it.next().getFeatures(), "workers=" + workers + ": batch " + i
                            + " after the reset, preprocessed once");
                }
                assertTrue(!it.hasNext());
            }
        });
    }

    /** Whether a thread named with {@code prefix}, other than {@code except}, waits in {@code Object.wait}. */
    private static boolean waitsOnAMonitor(String prefix, Thread except) {
        for (Thread t : liveThreads(prefix)) {
            if (t != except && t.getState() == Thread.State.WAITING
                    && java.util.concurrent.locks.LockSupport.getBlocker(t) == null) {
                return true;
            }
        }
        return false;
    }

    private static void awaitUninterruptibly(java.util.concurrent.CountDownLatch latch) {
        boolean interrupted = false;
        while (true) {
            try {
                latch.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Waits until {@code t} waits on a condition (for work), as opposed to running or queueing for a lock. */
    private static void awaitParkedOnCondition(Thread t) throws InterruptedException {
        while (!(java.util.concurrent.locks.LockSupport.getBlocker(t)
                instanceof java.util.concurrent.locks.AbstractQueuedSynchronizer.ConditionObject)) {
            Thread.sleep(2);
        }
    }

    /** A wrapped iterator that returns null fails as the source, naming the batch, with or without workers. */
    @org.junit.jupiter.params.ParameterizedTest(name = "workers={0}")
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 2})
    void aNullBatchFromTheSourceIsASourceFailure(int workers) {
        SeededIterator src = new SeededIterator(12, 4, 2, 3) {
            private static final long serialVersionUID = 1L;

            @Override
            public DataSet next() {
                DataSet d = super.next();
                return cursor == 2 ? null : d;
            }
        };
        try (PrefetchingDataSetIterator it = prefetch(src, workers, true)) {
            assertTimeoutPreemptively(NO_HANG, () -> {
                it.next();
                PrefetchException e = assertThrows(PrefetchException.class, it::next);
                assertEquals(1, e.batchIndex(), "workers=" + workers);
                assertTrue(e.getMessage().startsWith("the wrapped iterator failed while reading batch 1"),
                        e.getMessage());
                assertTrue(e.getCause() instanceof NullPointerException, String.valueOf(e.getCause()));
                assertEquals("the wrapped iterator returned null", e.getCause().getMessage());
            });
        }
    }

    @Test
    void withoutWorkersACloseIsFinalAndAFailureKeepsItsCause() {
        PrefetchingDataSetIterator closed = prefetch(new SeededIterator(7, 3, 2, 3), 0, true);
        assertTrue(closed.hasNext());
        closed.close();
        assertThrows(IllegalStateException.class, closed::hasNext);
        assertThrows(IllegalStateException.class, closed::next);
        assertThrows(IllegalStateException.class, closed::reset);

        IllegalArgumentException boom = new IllegalArgumentException("boom");
        try (PrefetchingDataSetIterator failing =
                prefetch(new SeededIterator(8, 4, 2, 3, 1, boom, true), 0, true)) {
            failing.next();
            PrefetchException first = assertThrows(PrefetchException.class, failing::next);
            assertSame(boom, first.getCause());
            PrefetchException again = assertThrows(PrefetchException.class, failing::hasNext);
            assertSame(boom, again.getCause(), "a later call reports the same failure with its cause");
            failing.reset();
            assertTrue(failing.hasNext(), "reset() clears the failure");
        }
    }
}
