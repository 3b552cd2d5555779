package dev.lokr.dl4j.train;

import java.util.Objects;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

/**
 * Immutable training options for LoKR fine-tuning. Create with {@link #builder()} (defaults for
 * this machine) or {@link #builder(Platform)} (defaults for a given platform); {@link
 * Builder#build()} validates.
 *
 * <table>
 *   <caption>Options and defaults</caption>
 *   <tr><th>option</th><th>default</th><th>rule</th></tr>
 *   <tr><td>gradientCheckpointing</td><td>true</td><td></td></tr>
 *   <tr><td>offloadEncoder</td><td>false</td><td></td></tr>
 *   <tr><td>pinMemory</td><td>true only on a CUDA backend</td><td>a no-op elsewhere</td></tr>
 *   <tr><td>persistentWorkers</td><td>false on Windows, true elsewhere (Linux, macOS)</td><td></td></tr>
 *   <tr><td>numWorkers</td><td>min(4, availableProcessors)</td><td>0 to {@value #MAX_WORKERS}; 0 = no
 *       background threads; at most {@code queueSize} of them are started (no more batches are in
 *       flight)</td></tr>
 *   <tr><td>queueSize</td><td>4</td><td>&gt;= 1</td></tr>
 * </table>
 */
public final class TrainingOptions {
    /** Default {@link #queueSize()}. */
    public static final int DEFAULT_QUEUE_SIZE = 4;

    /** Upper bound of the default {@link #numWorkers()}. */
    public static final int MAX_DEFAULT_WORKERS = 4;

    /** Upper bound of {@link #numWorkers()}. */
    public static final int MAX_WORKERS = 256;

    private final boolean gradientCheckpointing;
    private final boolean offloadEncoder;
    private final boolean pinMemory;
    private final boolean persistentWorkers;
    private final int numWorkers;
    private final int queueSize;

    private TrainingOptions(Builder b) {
        this.gradientCheckpointing = b.gradientCheckpointing;
        this.offloadEncoder = b.offloadEncoder;
        this.pinMemory = b.pinMemory;
        this.persistentWorkers = b.persistentWorkers;
        this.numWorkers = b.numWorkers;
        this.queueSize = b.queueSize;
    }

    /**
     * @return a builder with the defaults of {@link Platform#current()}
     */
    public static Builder builder() {
        return builder(Platform.current());
    }

    /**
     * @param platform the platform whose defaults to use (OS name, backend, processor count)
     * @return a builder with that platform's defaults
     */
    public static Builder builder(Platform platform) {
        return new Builder(Objects.requireNonNull(platform, "platform"));
    }

    /**
     * @return options with the defaults of this machine
     */
    public static TrainingOptions defaults() {
        return builder().build();
    }

    /**
     * @return a builder holding these options
     */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.gradientCheckpointing = gradientCheckpointing;
        b.offloadEncoder = offloadEncoder;
        b.pinMemory = pinMemory;
        b.persistentWorkers = persistentWorkers;
        b.numWorkers = numWorkers;
        b.queueSize = queueSize;
        return b;
    }

    /**
     * @return whether activations are recomputed in the backward pass instead of kept
     */
    public boolean gradientCheckpointing() {
        return gradientCheckpointing;
    }

    /**
     * @return whether {@link LokrTraining#fit} runs the frozen leading layers (the encoder: layers with
     *         nothing to train) once over the data, caches their outputs in memory, and trains only the
     *         rest of the network on the cached features, so the encoder is not used again after the
     *         first pass (see {@code dev.lokr.dl4j.offload.EncoderOffload})
     */
    public boolean offloadEncoder() {
        return offloadEncoder;
    }

    /**
     * @return whether prefetch workers stage batches on the device (CUDA only)
     */
    public boolean pinMemory() {
        return pinMemory;
    }

    /**
     * @return whether prefetch threads survive {@code reset()} between epochs
     */
    public boolean persistentWorkers() {
        return persistentWorkers;
    }

    /**
     * @return the number of prefetch worker threads asked for; 0 means no background threads. At most
     *     {@link #queueSize()} of them are started, since no more batches are ever in flight
     */
    public int numWorkers() {
        return numWorkers;
    }

    /**
     * @return the maximum number of batches read ahead
     */
    public int queueSize() {
        return queueSize;
    }

    /**
     * Applies {@code numWorkers}, {@code queueSize}, {@code pinMemory} and {@code
     * persistentWorkers} to an iterator. When {@code numWorkers == 0} and {@code pinMemory} is off
     * there is nothing to do and {@code source} itself is returned; otherwise a {@link
     * PrefetchingDataSetIterator}, which the caller should {@code close()} when done.
     *
     * @param source the iterator to wrap
     * @return {@code source} or a prefetching wrapper of it
     */
    public DataSetIterator wrap(DataSetIterator source) {
        Objects.requireNonNull(source, "source");
        if (numWorkers == 0 && !pinMemory) {
            return source;
        }
        return new PrefetchingDataSetIterator(source, this);
    }

    /**
     * The {@link MultiDataSetIterator} form of {@link #wrap(DataSetIterator)}.
     *
     * @param source the iterator to wrap
     * @return {@code source} or a {@link PrefetchingMultiDataSetIterator} of it
     */
    public MultiDataSetIterator wrap(MultiDataSetIterator source) {
        Objects.requireNonNull(source, "source");
        if (numWorkers == 0 && !pinMemory) {
            return source;
        }
        return new PrefetchingMultiDataSetIterator(source, this);
    }

    @Override
    public boolean equals(Object o) {
        if (this == o) {
            return true;
        }
        if (!(o instanceof TrainingOptions)) {
            return false;
        }
        TrainingOptions t = (TrainingOptions) o;
        return gradientCheckpointing == t.gradientCheckpointing
                && offloadEncoder == t.offloadEncoder
                && pinMemory == t.pinMemory
                && persistentWorkers == t.persistentWorkers
                && numWorkers == t.numWorkers
                && queueSize == t.queueSize;
    }

    @Override
    public int hashCode() {
        return Objects.hash(
                gradientCheckpointing,
                offloadEncoder,
                pinMemory,
                persistentWorkers,
                numWorkers,
                queueSize);
    }

    @Override
    public String toString() {
        return "TrainingOptions{gradientCheckpointing="
                + gradientCheckpointing
                + ", offloadEncoder="
                + offloadEncoder
                + ", pinMemory="
                + pinMemory
                + ", persistentWorkers="
                + persistentWorkers
                + ", numWorkers="
                + numWorkers
                + ", queueSize="
                + queueSize
                + "}";
    }

    /** Mutable builder of {@link TrainingOptions}; {@link #build()} validates. */
    public static final class Builder {
        private boolean gradientCheckpointing = true;
        private boolean offloadEncoder = false;
        private boolean pinMemory;
        private boolean persistentWorkers;
        private int numWorkers;
        private int queueSize = DEFAULT_QUEUE_SIZE;

        private Builder() {}

        private Builder(Platform platform) {
            this.pinMemory = platform.cudaBackend();
            this.persistentWorkers = !platform.isWindows();
            this.numWorkers = Math.min(MAX_DEFAULT_WORKERS, platform.availableProcessors());
        }

        /**
         * @param v recompute activations in the backward pass (default true)
         * @return this
         */
        public Builder gradientCheckpointing(boolean v) {
            this.gradientCheckpointing = v;
            return this;
        }

        /**
         * @param v run the frozen encoder once, cache its outputs in memory and train only the rest of
         *          the network on them (default false); see {@link TrainingOptions#offloadEncoder()}
         * @return this
         */
        public Builder offloadEncoder(boolean v) {
            this.offloadEncoder = v;
            return this;
        }

        /**
         * @param v stage batches on the device in the prefetch workers (default: CUDA backend)
         * @return this
         */
        public Builder pinMemory(boolean v) {
            this.pinMemory = v;
            return this;
        }

        /**
         * @param v keep prefetch threads across epochs (default: not on Windows)
         * @return this
         */
        public Builder persistentWorkers(boolean v) {
            this.persistentWorkers = v;
            return this;
        }

        /**
         * @param n prefetch worker threads, 0 to {@value TrainingOptions#MAX_WORKERS} (checked by {@link #build()});
         *     at most {@code queueSize} of them are started
         * @return this
         */
        public Builder numWorkers(int n) {
            this.numWorkers = n;
            return this;
        }

        /**
         * @param n batches read ahead, {@code >= 1} (checked by {@link #build()})
         * @return this
         */
        public Builder queueSize(int n) {
            this.queueSize = n;
            return this;
        }

        /**
         * @return the options
         * @throws IllegalArgumentException if {@code numWorkers} is not within 0 to {@value
         *     TrainingOptions#MAX_WORKERS} or {@code queueSize < 1}; the message names the option, its
         *     value and the rule
         */
        public TrainingOptions build() {
            if (numWorkers < 0) {
                throw new IllegalArgumentException(
                        "numWorkers must be >= 0 (0 = no background threads), got " + numWorkers);
            }
            if (numWorkers > MAX_WORKERS) {
                throw new IllegalArgumentException(
                        "numWorkers must be <= " + MAX_WORKERS + " (threads that preprocess batches), got "
                                + numWorkers);
            }
            if (queueSize < 1) {
                throw new IllegalArgumentException("queueSize must be >= 1, got " + queueSize);
            }
            return new TrainingOptions(this);
        }
    }
}
