package dev.lokr.math;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link CallerRuns}: every chunk runs once, failures reach the caller, and a common pool whose threads
 * are all blocked holds up neither the chunks, nor forked work, nor a DoRA forward on several threads.
 */
class CallerRunsTest {

    @Test
    void everyChunkRunsExactlyOnceAndTheFirstFailureReachesTheCaller() {
        for (int chunks : new int[] {0, 1, 2, 3, 8, 100}) {
            AtomicIntegerArray runs = new AtomicIntegerArray(Math.max(chunks, 1));
            CallerRuns.chunks(chunks, runs::incrementAndGet);
            for (int i = 0; i < chunks; i++) {
                assertEquals(1, runs.get(i), "chunk " + i + " of " + chunks);
            }
        }
        IllegalStateException boom = new IllegalStateException("chunk 5");
        assertSame(boom, assertThrows(IllegalStateException.class, () -> CallerRuns.chunks(8, i -> {
            if (i == 5) {
                throw boom;
            }
        })));
        assertEquals(42, CallerRuns.fork(() -> 42).join());
        // work a pool thread has started is awaited, not run again nor skipped
        CountDownLatch started = new CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger runs = new java.util.concurrent.atomic.AtomicInteger();
        CallerRuns.Pending<Integer> slow = CallerRuns.fork(() -> {
            runs.incrementAndGet();
            started.countDown();
            try {
                Thread.sleep(300);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 43;
        });
        // another thread claims it (or a pool thread already has): the common pool may be busy in a shared JVM
        Thread other = new Thread(slow::run, "claimer");
        other.start();
        try {
            assertTrue(started.await(30, TimeUnit.SECONDS), "no thread started the work");
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        assertEquals(43, slow.join());
        assertEquals(1, runs.get(), "the work ran once");
        assertSame(boom, assertThrows(IllegalStateException.class,
                () -> CallerRuns.fork(() -> { throw boom; }).join()));
    }

    @Test
    void aBlockedCommonPoolHoldsNothingUp() throws Exception {
        LokrLayout layout = LokrAdapter.builder().rank(2).dora(true).build().layoutFor(48, 40);
        LokrParams params = LokrParams.zeros(layout, DataType.FLOAT);
        LokrCases.randomize(params, 7);
        Random r = new Random(8);
        INDArray weight = LokrCases.random(r, DataType.FLOAT, 48, 40);
        INDArray x = LokrCases.random(r, DataType.FLOAT, 5, 40);
        INDArray want = LokrDense.forward(params, weight, null, x, 1.0, null, new LokrDense.Cache());

        List<Future<?>> blockers = new ArrayList<>();
        CountDownLatch release = blockThePool(blockers);
        ExecutorService callers = Executors.newFixedThreadPool(6);
        try {
            assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
                AtomicIntegerArray runs = new AtomicIntegerArray(8);
                CallerRuns.chunks(8, runs::incrementAndGet);
                for (int i = 0; i < 8; i++) {
                    assertEquals(1, runs.get(i), "chunk " + i);
                }
                assertEquals("done", CallerRuns.fork(() -> "done").join());
                List<Future<INDArray>> outputs = new ArrayList<>();
                for (int t = 0; t < 6; t++) {
                    outputs.add(callers.submit(() -> {
                        INDArray y = null;
                        for (int step = 0; step < 20; step++) {
                            y = LokrDense.forward(params, weight, null, x, 1.0, null, new LokrDense.Cache());
                        }
                        return y;
                    }));
                }
                for (Future<INDArray> y : outputs) {
                    assertEquals(want, y.get(), "a DoRA forward while the common pool is blocked");
                }
            }, "work waited for a blocked common pool");
        } finally {
            release.countDown();
            callers.shutdownNow();
            for (Future<?> b : blockers) {
                b.get(30, TimeUnit.SECONDS);
            }
        }
    }

    /** Blocks every common-pool thread until the returned latch is released; waits until they are all blocked. */
    private static CountDownLatch blockThePool(List<Future<?>> blockers) throws InterruptedException {
        int workers = ForkJoinPool.getCommonPoolParallelism();
        CountDownLatch started = new CountDownLatch(workers);
        CountDownLatch release = new CountDownLatch(1);
        for (int w = 0; w < workers; w++) {
            blockers.add(ForkJoinPool.commonPool().submit(() -> {
                started.countDown();
                release.await();
                return null;
            }));
        }
        assertTrue(started.await(30, TimeUnit.SECONDS), "the pool's threads did not start the blockers");
        return release;
    }

    @Test
    void aPoolThatRunsNothingKeepsNeitherTheWorkNorItsResultsAndQueuesABoundedNumberOfHelpers() throws Exception {
        List<Future<?>> blockers = new ArrayList<>();
        CountDownLatch release = blockThePool(blockers);
        try {
            List<java.lang.ref.WeakReference<Object>> results = new ArrayList<>();
            List<java.lang.ref.WeakReference<Object>> captured = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                Object big = new byte[1 << 20];
                captured.add(new java.lang.ref.WeakReference<>(big));
                results.add(new java.lang.ref.WeakReference<>(CallerRuns.fork(() -> new byte[big.hashCode() & 1]).join()));
                Object held = new byte[1 << 20];
                captured.add(new java.lang.ref.WeakReference<>(held));
                CallerRuns.chunks(4, c -> held.hashCode());
            }
            assertTrue(ForkJoinPool.commonPool().getQueuedSubmissionCount() <= ForkJoinPool.getCommonPoolParallelism() + 1,
                    "queued helpers: " + ForkJoinPool.commonPool().getQueuedSubmissionCount());
            for (int gc = 0; gc < 20 && (results.stream().anyMatch(r -> r.get() != null)
                    || captured.stream().anyMatch(r -> r.get() != null)); gc++) {
                System.gc();
                Thread.sleep(20);
            }
            assertTrue(results.stream().allMatch(r -> r.get() == null), "a result is still held by a queued helper");
            assertTrue(captured.stream().allMatch(r -> r.get() == null), "work is still held by a queued helper");
        } finally {
            release.countDown();
            for (Future<?> b : blockers) {
                b.get(30, TimeUnit.SECONDS);
            }
        }
    }

    /**
     * Waits until no helper of an earlier test waits in the pool: while one does, new work may not be offered
     * (the bound on waiting helpers), and a test that needs a pool thread's help would not get it.
     */
    private static void awaitNoWaitingHelpers() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (CallerRuns.waitingHelpers() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertEquals(0, CallerRuns.waitingHelpers(), "helpers still waiting in the common pool");
    }

    @Test
    void anInterruptedCallerWaitsForAPoolThreadWithoutSpinningAndStaysInterrupted() throws Exception {
        awaitNoWaitingHelpers();
        Thread caller = Thread.currentThread();
        java.util.concurrent.atomic.AtomicBoolean helperStarted = new java.util.concurrent.atomic.AtomicBoolean();
        java.lang.management.ThreadMXBean bean = java.lang.management.ManagementFactory.getThreadMXBean();
        long[] from = new long[2];   // the caller's CPU time and the wall clock when it starts waiting
        try {
            CallerRuns.chunks(2, c -> {
                if (Thread.currentThread() == caller) {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
                    while (!helperStarted.get() && System.nanoTime() < deadline) {
                        Thread.onSpinWait();
                    }
                    from[0] = bean.getCurrentThreadCpuTime();   // measured from here: only the wait counts
                    from[1] = System.nanoTime();
                    caller.interrupt();
                } else {
                    helperStarted.set(true);
                    try {
                        Thread.sleep(600);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
            });
            long wallMs = (System.nanoTime() - from[1]) / 1_000_000;
            long cpuMs = (bean.getCurrentThreadCpuTime() - from[0]) / 1_000_000;
            assertTrue(helperStarted.get(), "no pool thread took a chunk");
            assertTrue(Thread.currentThread().isInterrupted(), "the interrupt was lost");
            assertTrue(wallMs >= 200, "returned before the pool thread's chunk ended: " + wallMs + " ms");
            assertTrue(cpuMs < wallMs / 2, "the caller spun while waiting: " + cpuMs + " ms of CPU in " + wallMs
                    + " ms");
        } finally {
            Thread.interrupted();
        }
    }
}
