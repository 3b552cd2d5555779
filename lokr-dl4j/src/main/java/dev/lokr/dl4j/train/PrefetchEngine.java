package dev.lokr.dl4j.train;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The engine shared by {@link PrefetchingDataSetIterator} and {@link
 * PrefetchingMultiDataSetIterator}.
 *
 * <p>One reader thread pulls items from the (sequential) source and numbers them; {@code
 * numWorkers} worker threads (at most {@code queueSize}: more would never have an item) apply the
 * per-item stage function (preprocessing, device staging) in parallel; the consumer receives items strictly in source order (results are reordered by sequence
 * number). At most {@code queueSize} items are in flight (read but not yet handed to the consumer).
 *
 * <p>With {@code numWorkers == 0} there are no threads: {@link #hasNext()}/{@link #next()} read the
 * source and apply the stage on the caller's thread.
 *
 * <p>Threads are started lazily by the first {@link #hasNext()}/{@link #next()} of an epoch. With
 * persistent workers they live until {@link #close()}; otherwise they are stopped (and joined) when
 * the consumer sees the end of an epoch, on {@link #reset()} and on {@link #close()}.
 *
 * <p>Not thread-safe for consumers: one thread iterates, resets and closes.
 *
 * @param <T> the item type (DataSet or MultiDataSet)
 */
final class PrefetchEngine<T> implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PrefetchEngine.class);
    private static final AtomicInteger IDS = new AtomicInteger();
    private static final long JOIN_MILLIS = 10_000;

    /** The sequential source being wrapped. */
    interface Source<T> {
        boolean hasNext();

        T next();

        void reset();

        /** A source over a resettable iterator (both DL4J iterator kinds are one). */
        static <T> Source<T> of(Iterator<T> iterator, Runnable reset) {
            return new Source<>() {
                @Override
                public boolean hasNext() {
                    return iterator.hasNext();
                }

                @Override
                public T next() {
                    return iterator.next();
                }

                @Override
                public void reset() {
                    reset.run();
                }
            };
        }
    }

    private static final class Task<T> {
        final int generation;
        final long seq;
        final T item;

        Task(int generation, long seq, T item) {
            this.generation = generation;
            this.seq = seq;
            this.item = item;
        }
    }

    /** A failed stage, stored in place of a result. */
    private static final class Failure {
        final Throwable error;

        Failure(Throwable error) {
            this.error = error;
        }
    }

    private final Source<T> source;
    private final UnaryOperator<T> stage;
    private final int numWorkers;
    private final int queueSize;
    private final boolean persistentWorkers;
    private final String threadNamePrefix;

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();

    // All fields below are guarded by lock.
    private int generation;
    private int cohort;
    private boolean epochActive;
    private volatile boolean closed; // also read without the lock in synchronous mode
    private boolean readerBusy;
    /** Calls of the consumer's thread into the source ({@link #callSource}) under way; the reader waits for them. */
    private int callersInSource;
    private long readSeq;
    private long deliverSeq;
    private long endSeq = -1;
    private Throwable sourceFailure;
    private long sourceFailureSeq = -1;
    private final ArrayDeque<Task<T>> tasks = new ArrayDeque<>();
    private final Map<Long, Object> results = new HashMap<>();
    private final List<Thread> threads = new ArrayList<>();

    // Synchronous mode (numWorkers == 0), used only by the consumer thread.
    private PrefetchException syncFailure;
    private long syncIndex;

    PrefetchEngine(
            Source<T> source,
            UnaryOperator<T> stage,
            int numWorkers,
            int queueSize,
            boolean persistentWorkers) {
        this.source = Objects.requireNonNull(source, "source");
        this.stage = Objects.requireNonNull(stage, "stage");
        if (numWorkers < 0 || numWorkers > TrainingOptions.MAX_WORKERS) {
            throw new IllegalArgumentException("numWorkers must be within 0 to " + TrainingOptions.MAX_WORKERS
                    + ", got " + numWorkers);
        }
        if (queueSize < 1) {
            throw new IllegalArgumentException("queueSize must be >= 1, got " + queueSize);
        }
        this.numWorkers = numWorkers;
        this.queueSize = queueSize;
        this.persistentWorkers = persistentWorkers;
        this.threadNamePrefix = "lokr-prefetch-" + IDS.incrementAndGet() + "-";
    }

    String threadNamePrefix() {
        return threadNamePrefix;
    }

    boolean hasNext() {
        if (numWorkers == 0) {
            return syncHasNext();
        }
        boolean endOfEpoch;
        lock.lock();
        try {
            ensureStarted();
            int gen = generation;
            while (true) {
                if (generation != gen) {
                    // reset() on another thread cleared this epoch: nothing would ever wake this wait again
                    throw new IllegalStateException(
                            "prefetching iterator was reset by another thread while waiting for a batch");
                }
                Object r = results.get(deliverSeq);
                if (r instanceof Failure) {
                    throw workerFailure(deliverSeq, ((Failure) r).error);
                }
                if (r != null) {
                    return true;
                }
                if (sourceFailure != null && sourceFailureSeq == deliverSeq) {
                    throw sourceFailure(deliverSeq, sourceFailure);
                }
                if (endSeq >= 0 && deliverSeq >= endSeq) {
                    endOfEpoch = true;
                    break;
                }
                if (closed) {
                    throw new IllegalStateException(
                            "prefetching iterator was closed while waiting for a batch");
                }
                changed.awaitUninterruptibly();
            }
        } finally {
            lock.unlock();
        }
        if (endOfEpoch && !persistentWorkers) {
            stopThreads();
        }
        return false;
    }

    @SuppressWarnings("unchecked")
    T next() {
        if (!hasNext()) {
            throw new NoSuchElementException(
                    "no more batches in this epoch (call reset() to start another)");
        }
        if (numWorkers == 0) {
            return syncNext();
        }
        lock.lock();
        try {
            checkOpen();
            Object r = results.remove(deliverSeq);
            if (r == null) {
                throw new IllegalStateException("prefetching iterator was reset or closed by another thread"
                        + " between hasNext() and next()");
            }
            deliverSeq++;
            changed.signalAll();
            return (T) r;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Calls into the wrapped iterator from the consumer's thread (its {@code inputColumns()}, {@code totalOutcomes()},
     * {@code batch()} and labels), never while the reader thread is inside it: DL4J's iterators are not thread-safe, and
     * some read a batch to answer such a call ({@code RecordReaderDataSetIterator.inputColumns()} calls its own
     * {@code next()} before the first batch). Waits until the reader leaves the source; the reader does not enter
     * it again until the call returns.
     *
     * @param call the call into the source
     * @param <R>  its result type
     * @return what {@code call} returns
     */
    <R> R callSource(Supplier<R> call) {
        if (numWorkers == 0) {
            return call.get();
        }
        lock.lock();
        try {
            while (readerBusy) {
                changed.awaitUninterruptibly();
            }
            callersInSource++;
        } finally {
            lock.unlock();
        }
        try {
            return call.get();
        } finally {
            lock.lock();
            try {
                callersInSource--;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    void reset() {
        if (numWorkers == 0) {
            checkOpen();
            source.reset();
            syncFailure = null;
            syncIndex = 0;
            return;
        }
        if (persistentWorkers) {
            lock.lock();
            try {
                checkOpen();
                clearEpoch();
                // The reader must not be inside the source while it is reset.
                while (readerBusy) {
                    changed.awaitUninterruptibly();
                }
            } finally {
                lock.unlock();
            }
        } else {
            lock.lock();
            try {
                checkOpen();
            } finally {
                lock.unlock();
            }
            stopThreads();
            lock.lock();
            try {
                clearEpoch();
                // A reader stuck in the source past the join timeout must leave it before it is reset.
                while (readerBusy) {
                    changed.awaitUninterruptibly();
                }
            } finally {
                lock.unlock();
            }
        }
        source.reset();
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            epochActive = false;
            tasks.clear();
            results.clear();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        if (numWorkers > 0) {
            joinAll(drainThreads());
        }
    }

    // ---- synchronous mode -------------------------------------------------------------------

    private boolean syncHasNext() {
        checkOpen();
        if (syncFailure != null) {
            throw syncFailure; // the same failure, with its cause, until reset()
        }
        try {
            return source.hasNext();
        } catch (RuntimeException | Error e) {
            throw syncFailure = sourceFailure(syncIndex, e);
        }
    }

    private T syncNext() {
        long index = syncIndex++;
        T item;
        try {
            item = source.next();
        } catch (RuntimeException | Error e) {
            throw syncFailure = sourceFailure(index, e);
        }
        if (item == null) {
            throw syncFailure = sourceFailure(
                    index, new NullPointerException("the wrapped iterator returned null"));
        }
        try {
            T out = stage.apply(item);
            if (out == null) {
                throw new NullPointerException("the batch stage returned null");
            }
            return out;
        } catch (RuntimeException | Error e) {
            throw syncFailure = workerFailure(index, e);
        }
    }

    // ---- threads ----------------------------------------------------------------------------

    /** Starts the epoch (and the threads if none run). Caller holds the lock. */
    private void ensureStarted() {
        checkOpen();
        if (epochActive || (endSeq >= 0 && deliverSeq >= endSeq)) {
            return; // running, or this epoch is over (threads are not restarted before reset())
        }
        epochActive = true;
        if (threads.isEmpty()) {
            int myCohort = cohort;
            Thread reader = newThread(() -> readLoop(myCohort), threadNamePrefix + "0");
            threads.add(reader);
            for (int i = 1; i <= Math.min(numWorkers, queueSize); i++) {
                threads.add(newThread(() -> workLoop(myCohort), threadNamePrefix + i));
            }
            for (Thread t : threads) {
                t.start();
            }
        }
        changed.signalAll();
    }

    private static Thread newThread(Runnable body, String name) {
        Thread t = new Thread(body, name);
        t.setDaemon(true);
        t.setUncaughtExceptionHandler(
                (th, e) -> log.error("prefetch thread {} died unexpectedly", th.getName(), e));
        return t;
    }

    /** Caller holds the lock. */
    private void clearEpoch() {
        generation++;
        epochActive = false;
        tasks.clear();
        results.clear();
        readSeq = 0;
        deliverSeq = 0;
        endSeq = -1;
        sourceFailure = null;
        sourceFailureSeq = -1;
        changed.signalAll();
    }

    /**
     * @throws IllegalStateException if {@link #close()} was called
     */
    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("prefetching iterator is closed");
        }
    }

    /** Stops the current threads and waits for them; the caller must not hold the lock. */
    private void stopThreads() {
        List<Thread> old;
        lock.lock();
        try {
            cohort++;
            epochActive = false;
            old = drainThreads();
            changed.signalAll();
        } finally {
            lock.unlock();
        }
        joinAll(old);
    }

    private List<Thread> drainThreads() {
        lock.lock();
        try {
            List<Thread> old = new ArrayList<>(threads);
            threads.clear();
            return old;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits for each thread up to {@code JOIN_MILLIS}, interrupts one still running (stuck inside the source or
     * a stage function) and waits as long again. An interrupt of the calling thread does not cut the waits
     * short; it is restored at the end.
     */
    private void joinAll(List<Thread> old) {
        boolean interrupted = false;
        for (Thread t : old) {
            interrupted |= joinFor(t, JOIN_MILLIS);
            if (t.isAlive()) {
                t.interrupt();
                interrupted |= joinFor(t, JOIN_MILLIS);
                if (t.isAlive()) {
                    log.warn("prefetch thread {} did not stop within {} ms", t.getName(), 2 * JOIN_MILLIS);
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** Joins {@code t} for up to {@code millis}, even if interrupted meanwhile; returns whether it was. */
    private static boolean joinFor(Thread t, long millis) {
        boolean interrupted = false;
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (t.isAlive()) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                break;
            }
            try {
                t.join(left);
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        return interrupted;
    }

    private boolean stopped(int myCohort) {
        return closed || cohort != myCohort;
    }

    private void readLoop(int myCohort) {
        while (true) {
            int gen;
            long seq;
            lock.lock();
            try {
                while (!stopped(myCohort)
                        && !(epochActive
                                && endSeq < 0
                                && sourceFailure == null
                                && readSeq - deliverSeq < queueSize
                                && callersInSource == 0)) {
                    changed.awaitUninterruptibly();
                }
                if (stopped(myCohort)) {
                    return;
                }
                gen = generation;
                seq = readSeq;
                readerBusy = true;
            } finally {
                lock.unlock();
            }
            T item = null;
            boolean has = false;
            Throwable error = null;
            try {
                has = source.hasNext();
                if (has) {
                    item = source.next();
                    if (item == null) {
                        error = new NullPointerException("the wrapped iterator returned null");
                    }
                }
            } catch (Throwable e) {
                error = e;
            }
            lock.lock();
            try {
                readerBusy = false;
                if (gen == generation && epochActive && !stopped(myCohort)) {
                    if (error != null) {
                        sourceFailure = error;
                        sourceFailureSeq = seq;
                    } else if (!has) {
                        endSeq = seq;
                    } else {
                        readSeq = seq + 1;
                        tasks.addLast(new Task<>(gen, seq, item));
                    }
                }
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    private void workLoop(int myCohort) {
        while (true) {
            Task<T> task;
            lock.lock();
            try {
                while (!stopped(myCohort) && tasks.isEmpty()) {
                    changed.awaitUninterruptibly();
                }
                if (stopped(myCohort)) {
                    return;
                }
                task = tasks.pollFirst();
            } finally {
                lock.unlock();
            }
            Object result;
            try {
                T out = stage.apply(task.item);
                result =
                        out != null
                                ? out
                                : new Failure(
                                        new NullPointerException("the batch stage returned null"));
            } catch (Throwable e) {
                result = new Failure(e);
            }
            lock.lock();
            try {
                if (task.generation == generation && epochActive) {
                    results.put(task.seq, result);
                    changed.signalAll();
                }
            } finally {
                lock.unlock();
            }
        }
    }

    private static PrefetchException sourceFailure(long seq, Throwable cause) {
        return new PrefetchException(
                "the wrapped iterator failed while reading batch "
                        + seq
                        + " of this epoch: "
                        + cause,
                seq,
                cause);
    }

    private static PrefetchException workerFailure(long seq, Throwable cause) {
        return new PrefetchException(
                "a prefetch worker failed while processing batch "
                        + seq
                        + " of this epoch: "
                        + cause,
                seq,
                cause);
    }

    @Override
    public String toString() {
        return "PrefetchEngine{threads="
                + threadNamePrefix
                + "*, numWorkers="
                + numWorkers
                + ", queueSize="
                + queueSize
                + ", persistentWorkers="
                + persistentWorkers
                + "}";
    }
}
