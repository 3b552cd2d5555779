package dev.lokr.dl4j.train;

/**
 * Thrown by a prefetching iterator's {@code hasNext()}/{@code next()} when the wrapped iterator or
 * a worker's per-batch processing failed. The original throwable is the {@linkplain #getCause()
 * cause}; the message names the batch index (0-based, within the epoch) and where it failed.
 */
public final class PrefetchException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final long batchIndex;

    PrefetchException(String message, long batchIndex, Throwable cause) {
        super(message, cause);
        this.batchIndex = batchIndex;
    }

    /**
     * @return the 0-based index, within the current epoch, of the batch that failed
     */
    public long batchIndex() {
        return batchIndex;
    }
}
