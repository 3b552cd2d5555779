package dev.lokr.math;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * Work that the common fork-join pool may help with but never holds up. The calling thread takes
 * every piece of work that no pool thread has started, and waits only for pieces that a pool thread
 * is running. So a caller finishes even when the common pool is busy or blocked (a service whose pool
 * tasks wait on inference, a pool of parallelism 1 already occupied, or one with no threads), which a
 * plain {@code submit(...).join()} or a parallel stream does not guarantee.
 *
 * <p>Helpers are offered to the pool only while at most its parallelism are waiting there unstarted,
 * so a pool that never runs them holds a bounded number of them; one that a pool thread starts after
 * the work is done finds nothing to do, and holds no reference to the work or its result.
 *
 * <p>An interrupt does not stop the work: the caller still finishes it, without spinning, and keeps its
 * interrupt status.
 */
final class CallerRuns {

    /** Helpers offered to the common pool and not yet started by it, over all callers. */
    private static final AtomicInteger WAITING = new AtomicInteger();

    private CallerRuns() {
    }

    /** @return helpers offered to the common pool and not yet started (for tests) */
    static int waitingHelpers() {
        return WAITING.get();
    }

    /**
     * Runs {@code body} for each chunk index {@code 0 .. chunks-1}, on the calling thread and on idle
     * common-pool threads, and returns when every chunk is done. Each index runs exactly once.
     *
     * @param chunks how many chunks, at least 0
     * @param body   the work of one chunk; chunks may run concurrently
     * @throws RuntimeException or Error: the first one a chunk threw, after every started chunk ended
     */
    static void chunks(int chunks, IntConsumer body) {
        if (chunks <= 1) {
            if (chunks == 1) {
                body.accept(0);
            }
            return;
        }
        Chunks work = new Chunks(chunks, body, Thread.currentThread());
        int helpers = Math.min(chunks - 1, ForkJoinPool.getCommonPoolParallelism());
        for (int h = 0; h < helpers && offer(work::drain); h++) {
            // offered
        }
        work.drain();
        // every chunk is claimed now: wait only for those that pool threads are running
        awaitUninterruptibly(work::finished);
        Throwable failure = work.failure.getAndSet(null);
        work.body = null;   // a helper still queued keeps nothing of the work
        rethrow(failure);
    }

    /** The shared state of one {@link #chunks} call. */
    private static final class Chunks {
        private final int chunks;
        private final Thread caller;
        private final AtomicInteger next = new AtomicInteger();
        private final AtomicInteger unfinished;
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        private volatile IntConsumer body;

        Chunks(int chunks, IntConsumer body, Thread caller) {
            this.chunks = chunks;
            this.body = body;
            this.caller = caller;
            this.unfinished = new AtomicInteger(chunks);
        }

        /** Runs unclaimed chunks until none is left. */
        void drain() {
            for (int i = next.getAndIncrement(); i < chunks; i = next.getAndIncrement()) {
                try {
                    body.accept(i);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (unfinished.decrementAndGet() == 0 && Thread.currentThread() != caller) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        }

        boolean finished() {
            return unfinished.get() == 0;
        }
    }

    /**
     * Starts {@code work} on an idle common-pool thread, if there is one; {@link Pending#join} runs it on
     * the joining thread if no pool thread has started it by then.
     *
     * @param work the work
     * @param <T>  its result type
     * @return the pending work
     */
    static <T> Pending<T> fork(Supplier<T> work) {
        Pending<T> pending = new Pending<>(work);
        offer(pending::run);
        return pending;
    }

    /** Work started by {@link #fork}. */
    static final class Pending<T> {
        private final AtomicBoolean claimed = new AtomicBoolean();
        private Supplier<T> work;
        private volatile boolean done;
        private volatile Thread waiter;
        private T result;
        private Throwable failure;

        private Pending(Supplier<T> work) {
            this.work = work;
        }

        /** Runs the work here unless a thread has claimed it (what the pool calls; tests call it too). */
        void run() {
            if (claimed.compareAndSet(false, true)) {
                execute();
            }
        }

        /**
         * The result: computed here when no pool thread has started the work, else awaited. Call once.
         *
         * @return the work's result
         * @throws RuntimeException or Error: what the work threw
         */
        T join() {
            if (claimed.compareAndSet(false, true)) {
                execute();
            } else {
                waiter = Thread.currentThread();
                awaitUninterruptibly(() -> done);
            }
            T r = result;
            Throwable f = failure;
            result = null;     // a copy of this still queued in the pool keeps neither
            failure = null;
            rethrow(f);
            return r;
        }

        private void execute() {
            Supplier<T> w = work;
            work = null;
            try {
                result = w.get();
            } catch (Throwable t) {
                failure = t;
            } finally {
                done = true;
                Thread j = waiter;
                if (j != null && j != Thread.currentThread()) {
                    LockSupport.unpark(j);
                }
            }
        }
    }

    /** Parks until {@code condition} holds, through interrupts, and keeps the interrupt status. */
    private static void awaitUninterruptibly(BooleanSupplier condition) {
        boolean interrupted = false;
        while (!condition.getAsBoolean()) {
            LockSupport.park(CallerRuns.class);
            if (Thread.interrupted()) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Hands {@code task} to the common pool unless one more helper than it has threads already waits there
     * unstarted, or it refuses.
     *
     * @return whether it was handed over
     */
    private static boolean offer(Runnable task) {
        // one more than the pool's threads: a helper a pool thread offered into its own queue may wait
        // there until that thread's current task ends, and should not shut the next caller out meanwhile
        int limit = Math.max(1, ForkJoinPool.getCommonPoolParallelism()) + 1;
        for (int w = WAITING.get(); ; w = WAITING.get()) {
            if (w >= limit) {
                return false;
            }
            if (WAITING.compareAndSet(w, w + 1)) {
                break;
            }
        }
        try {
            ForkJoinPool.commonPool().execute(() -> {
                WAITING.decrementAndGet();
                task.run();
            });
            return true;
        } catch (RejectedExecutionException e) {
            WAITING.decrementAndGet();
            return false;
        } catch (Throwable t) {
            WAITING.decrementAndGet();   // never leave a slot taken by a helper that was not queued
            throw t;
        }
    }

    private static void rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            throw r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        if (t != null) {
            throw new IllegalStateException(t);
        }
    }
}
