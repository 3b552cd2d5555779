package dev.lokr.dl4j.offload;

import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.List;
import java.util.NoSuchElementException;

/**
 * Iterates over the batches of a {@link FeatureCache} in order. Resettable; not asynchronous (DL4J's
 * prefetching thread would read the cache from another thread), and the batches cannot be re-split.
 */
final class CachedFeatureIterator implements DataSetIterator {

    private static final long serialVersionUID = 1L;

    private final transient FeatureCache cache;
    private transient DataSetPreProcessor preProcessor;
    private int next;

    CachedFeatureIterator(FeatureCache cache) {
        this.cache = cache;
    }

    @Override
    public boolean hasNext() {
        return next < cache.size();
    }

    @Override
    public DataSet next() {
        if (!hasNext()) {
            throw new NoSuchElementException("all " + cache.size() + " cached batches were read; call reset()");
        }
        DataSet ds = cache.get(next++);
        if (preProcessor != null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    @Override
    public DataSet next(int num) {
        DataSet ds = next();
        if (num != ds.numExamples()) {
            throw new UnsupportedOperationException("cached batches cannot be re-split: asked for " + num
                    + " examples, the next cached batch has " + ds.numExamples());
        }
        return ds;
    }

    @Override
    public int inputColumns() {
        return cache.size() == 0 ? -1 : (int) cache.get(0).getFeatures().size(1);
    }

    @Override
    public int totalOutcomes() {
        if (cache.size() == 0) {
            return -1;
        }
        DataSet first = cache.get(0);
        return first.getLabels() == null ? -1 : (int) first.getLabels().size(1);
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return false;
    }

    @Override
    public void reset() {
        next = 0;
    }

    @Override
    public int batch() {
        return cache.size() == 0 ? 0 : cache.get(0).numExamples();
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return null;
    }
}
