package dev.lokr.math;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;
import java.util.function.Supplier;

/**
 * Work that the common fork-join pool may help with but never holds up. The calling thread takes
 * every piece of work that no pool thread has started, and waits only for pieces that a pool thread
 * is running. So a caller finishes even when the common pool is busy or blocked (a service whose pool
 * tasks wait on inference, a pool of parallelism 1 already occupied), which a plain
 * {@code submit(...).join()} or a parallel stream does not guarantee. Stateless.
 *
 * <p>An interrupt does not stop the work: the caller still finishes it and keeps its interrupt status.
 */
final class CallerRuns {

    private CallerRuns() {
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
        AtomicInteger next = new AtomicInteger();
        AtomicInteger unfinished = new AtomicInteger(chunks);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread caller = Thread.currentThread();
        Runnable drain = () -> {
            for (int i = next.getAndIncrement(); i < chunks; i = next.getAndIncrement()) {
                try {
                    body.accept(i);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (unfinished.decrementAndGet() == 0) {
                        LockSupport.unpark(caller);
                    }
                }
            }
        };
        int helpers = Math.min(chunks - 1, ForkJoinPool.getCommonPoolParallelism());
        for (int h = 0; h < helpers; h++) {
            if (!offer(drain)) {
                break;
            }
        }
        drain.run();
        // every chunk is claimed now: wait only for those that pool threads are running
        while (unfinished.get() > 0) {
            LockSupport.park(CallerRuns.class);
        }
        rethrow(failure.get());
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
        offer(pending);
        return pending;
    }

    /** Work started by {@link #fork}. */
    static final class Pending<T> implements Runnable {
        private final Supplier<T> work;
        private final AtomicBoolean claimed = new AtomicBoolean();
        private volatile boolean done;
        private volatile Thread waiter;
        private T result;
        private Throwable failure;

        private Pending(Supplier<T> work) {
            this.work = work;
        }

        /** Runs the work here unless a thread has claimed it. For the pool; callers use {@link #join}. */
        @Override
        public void run() {
            if (claimed.compareAndSet(false, true)) {
                execute();
            }
        }

        /**
         * The result: computed here when no pool thread has started the work, else awaited.
         *
         * @return the work's result
         * @throws RuntimeException or Error: what the work threw
         */
        T join() {
            if (claimed.compareAndSet(false, true)) {
                execute();
            } else {
                waiter = Thread.currentThread();
                while (!done) {
                    LockSupport.park(this);
                }
            }
            rethrow(failure);
            return result;
        }

        private void execute() {
            try {
                result = work.get();
            } catch (Throwable t) {
                failure = t;
            } finally {
                done = true;
                Thread w = waiter;
                if (w != null) {
                    LockSupport.unpark(w);
                }
            }
        }
    }

    /** Hands {@code task} to the common pool; false when it refuses. */
    private static boolean offer(Runnable task) {
        try {
            ForkJoinPool.commonPool().execute(task);
            return true;
        } catch (RejectedExecutionException e) {
            return false;
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
