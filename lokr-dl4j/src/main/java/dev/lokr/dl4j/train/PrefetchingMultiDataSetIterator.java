package dev.lokr.dl4j.train;

import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.dataset.api.MultiDataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

/**
 * The {@link MultiDataSetIterator} counterpart of {@link PrefetchingDataSetIterator}: same engine,
 * same ordering, threading, failure and shutdown guarantees. Workers apply this iterator's {@link
 * MultiDataSetPreProcessor} and stage all feature, label and mask arrays when {@code pinMemory} is
 * on a CUDA backend.
 */
public final class PrefetchingMultiDataSetIterator implements MultiDataSetIterator, AutoCloseable {
    private static final long serialVersionUID = 1L;

    private final transient MultiDataSetIterator source;
    private final transient PrefetchEngine<MultiDataSet> engine;
    private final transient DeviceStaging staging;
    private transient volatile MultiDataSetPreProcessor preProcessor;
    /** The batch objects this iterator's preprocessor has run on, so a reused one is not preprocessed twice. */
    private final transient OncePerObject<MultiDataSet> preprocessed = new OncePerObject<>();

    /**
     * Wraps {@code source} with the prefetch settings of {@code options}.
     *
     * @param source the iterator to read ahead
     * @param options the training options
     */
    public PrefetchingMultiDataSetIterator(MultiDataSetIterator source, TrainingOptions options) {
        this(
                source,
                Objects.requireNonNull(options, "options").numWorkers(),
                options.queueSize(),
                options.persistentWorkers(),
                DeviceStaging.forCurrentBackend(options.pinMemory()));
    }

    PrefetchingMultiDataSetIterator(
            MultiDataSetIterator source,
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

    private MultiDataSet process(MultiDataSet mds) {
        MultiDataSetPreProcessor p = preProcessor;
        if (p != null) {
            preprocessed.run(mds, p::preProcess);
        }
        stageAll(mds.getFeatures());
        stageAll(mds.getLabels());
        stageAll(mds.getFeaturesMaskArrays());
        stageAll(mds.getLabelsMaskArrays());
        return mds;
    }

    private void stageAll(INDArray[] arrays) {
        if (arrays != null) {
            staging.stage(arrays);
        }
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
    public MultiDataSet next() {
        return engine.next();
    }

    /**
     * Not supported: batches are read ahead at the wrapped iterator's batch size.
     *
     * @throws UnsupportedOperationException always
     */
    @Override
    public MultiDataSet next(int num) {
        engine.checkOpen();
        throw new UnsupportedOperationException(
                "next(" + num + ") is not supported by a prefetching iterator; use next()");
    }

    /**
     * Sets the preprocessor that worker threads apply to each batch. Set it before iterating. It runs
     * once per batch object, as in {@link PrefetchingDataSetIterator#setPreProcessor}: a source that
     * returns the same objects every epoch has each preprocessed in the first epoch only, and a batch is
     * handed out only once its preprocessing has ended.
     */
    @Override
    public void setPreProcessor(MultiDataSetPreProcessor preProcessor) {
        engine.checkOpen();
        this.preProcessor = preProcessor;
    }

    @Override
    public MultiDataSetPreProcessor getPreProcessor() {
        engine.checkOpen();
        return preProcessor;
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
     * Discards batches read ahead, resets the wrapped iterator and starts a new epoch.
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

    /** Stops and joins all threads, as {@link PrefetchingDataSetIterator#close()}; idempotent. */
    @Override
    public void close() {
        engine.close();
    }

    @Override
    public String toString() {
        return "PrefetchingMultiDataSetIterator{"
                + engine
                + ", pinMemory="
                + staging.pinMemory()
                + "}";
    }
}
