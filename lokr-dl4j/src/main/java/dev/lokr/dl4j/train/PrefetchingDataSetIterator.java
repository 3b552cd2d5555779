package dev.lokr.dl4j.train;

import java.util.List;
import java.util.Objects;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * A {@link DataSetIterator} that reads a wrapped iterator ahead on background threads and returns
 * exactly the wrapped iterator's batches, in the wrapped iterator's order.
 *
 * <p>One reader thread pulls batches from the source; {@code numWorkers} worker threads (at most
 * {@code queueSize}) apply this
 * iterator's {@linkplain #setPreProcessor(DataSetPreProcessor) preprocessor} and, when {@code
 * pinMemory} is on and the backend is CUDA, move the batch arrays (features, labels, masks) to the
 * device; batches are handed out in source order. At most {@code queueSize} batches are in flight.
 * With {@code numWorkers == 0} no thread is started and everything happens on the caller's thread.
 *
 * <p>Threads are daemons named {@code lokr-prefetch-<id>-<n>} ({@code n = 0} is the reader). With
 * {@code persistentWorkers} they survive {@link #reset()} and live until {@link #close()};
 * otherwise they are stopped when an epoch ends, on {@code reset()} and on {@code close()}, and
 * recreated for the next epoch. A failure in the source or a worker is rethrown from {@code
 * hasNext()}/{@code next()} as a {@link PrefetchException} with the original cause, after the
 * batches before it.
 *
 * <p>{@link #asyncSupported()} is {@code false} so DL4J does not wrap this iterator again; {@code
 * next(int)} is not supported. Iterate, reset and close from one thread. After {@link #close()} every
 * method except {@code close()}, {@code remove()} (never supported), {@code toString()} and
 * {@code threadNamePrefix()} throws {@link IllegalStateException}.
 */
public final class PrefetchingDataSetIterator implements DataSetIterator, AutoCloseable {
    private static final long serialVersionUID = 1L;

    private final transient DataSetIterator source;
    private final transient PrefetchEngine<DataSet> engine;
    private final transient DeviceStaging staging;
    private transient volatile DataSetPreProcessor preProcessor;
    /** The batch objects this iterator's preprocessor has run on, so a reused one is not preprocessed twice. */
    private final transient OncePerObject<DataSet> preprocessed = new OncePerObject<>();

    /**
     * Wraps {@code source} with the prefetch settings of {@code options} ({@code numWorkers},
     * {@code queueSize}, {@code persistentWorkers}, {@code pinMemory}).
     *
     * @param source the iterator to read ahead; not used directly by the caller afterwards
     * @param options the training options
     */
    public PrefetchingDataSetIterator(DataSetIterator source, TrainingOptions options) {
        this(
                source,
                Objects.requireNonNull(options, "options").numWorkers(),
                options.queueSize(),
                options.persistentWorkers(),
                DeviceStaging.forCurrentBackend(options.pinMemory()));
    }

    PrefetchingDataSetIterator(
            DataSetIterator source,
            int numWorkers,
            int queueSize,
            boolean persistentWorkers,
            DeviceStaging staging) {
        this.source = Objects.requireNonNull(source, "source");
        this.staging = Objects.requireNonNull(staging, "staging");
        this.engine =
                new PrefetchEngine<>(
                        PrefetchEngine.Source.of(source, source::reset),
                        this::process,
                        numWorkers,
                        queueSize,
                        persistentWorkers);
    }

    private DataSet process(DataSet ds) {
        DataSetPreProcessor p = preProcessor;
        if (p != null) {
            preprocessed.run(ds, p::preProcess);
        }
        staging.stage(
                ds.getFeatures(),
                ds.getLabels(),
                ds.getFeaturesMaskArray(),
                ds.getLabelsMaskArray());
        return ds;
    }

    /**
     * @return the prefix of this iterator's thread names, {@code "lokr-prefetch-<id>-"}
     */
    public String threadNamePrefix() {
        return engine.threadNamePrefix();
    }

    @Override
    public boolean hasNext() {
        return engine.hasNext();
    }

    @Override
    public DataSet next() {
        return engine.next();
    }

    /**
     * Not supported: batches are read ahead at the wrapped iterator's batch size.
     *
     * @throws UnsupportedOperationException always
     */
    @Override
    public DataSet next(int num) {
        engine.checkOpen();
        throw new UnsupportedOperationException(
                "next(" + num + ") is not supported by a prefetching iterator; use next()");
    }

    @Override
    public int inputColumns() {
        engine.checkOpen();
        return engine.callSource(source::inputColumns);
    }

    @Override
    public int totalOutcomes() {
        engine.checkOpen();
        return engine.callSource(source::totalOutcomes);
    }

    /**
     * @return whether the wrapped iterator can be reset
     */
    @Override
    public boolean resetSupported() {
        engine.checkOpen();
        return source.resetSupported();
    }

    /**
     * @return {@code false}: this iterator is already asynchronous
     */
    @Override
    public boolean asyncSupported() {
        engine.checkOpen();
        return false;
    }

    /**
     * Discards batches read ahead, resets the wrapped iterator and starts a new epoch on the next
     * {@code hasNext()}/{@code next()}.
     *
     * @throws UnsupportedOperationException if the wrapped iterator does not support reset
     * @throws IllegalStateException if this iterator is closed
     */
    @Override
    public void reset() {
        engine.checkOpen();
        if (!source.resetSupported()) {
            throw new UnsupportedOperationException(
                    "the wrapped iterator "
                            + source.getClass().getName()
                            + " does not support reset()");
        }
        engine.reset();
    }

    @Override
    public int batch() {
        engine.checkOpen();
        return engine.callSource(source::batch);
    }

    /**
     * Sets the preprocessor that worker threads apply to each batch (after the wrapped iterator's
     * own preprocessor). Set it before iterating; batches already read ahead keep the previous one.
     * It runs once per batch object: a source that returns the same {@code DataSet} objects every
     * epoch (such as {@code ExistingDataSetIterator}) has each preprocessed in place in the first
     * epoch only, as DL4J's own iterators do, instead of once more every epoch; one whose preprocessor
     * threw is preprocessed again when it comes back after {@code reset()}. A batch is handed out
     * only once its preprocessing has ended: a worker that meets a batch object another worker is still
     * preprocessing (after a {@code reset()} that cut the earlier epoch short, or an object the source
     * returns twice within an epoch) waits for that worker.
     */
    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        engine.checkOpen();
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        engine.checkOpen();
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        engine.checkOpen();
        return engine.callSource(source::getLabels);
    }

    /**
     * Stops and joins all threads; idempotent. Afterwards every other method except {@code remove()},
     * {@code toString()} and {@code threadNamePrefix()} throws {@link IllegalStateException}. A thread stuck inside the wrapped
     * iterator is interrupted after 10 s; if it is still there 10 s later, it is named in a warning and left
     * behind (a daemon).
     */
    @Override
    public void close() {
        engine.close();
    }

    @Override
    public String toString() {
        return "PrefetchingDataSetIterator{" + engine + ", pinMemory=" + staging.pinMemory() + "}";
    }
}
