package dev.lokr.dl4j.offload;

import org.nd4j.linalg.dataset.DataSet;

import java.nio.file.Path;

/**
 * An ordered store of mini-batches: features, labels and their optional masks. Batches are read back in
 * the order they were added, as new arrays (modifying a returned batch never changes the cache).
 *
 * <p>Two kinds: {@link #inMemory()} keeps detached copies on the heap/host, and {@link #mappedFile(Path)}
 * writes raw little-endian values to a file and reads them back from it (the OS caches what fits), for data larger
 * than memory. Only FLOAT and DOUBLE arrays are stored. A cache is not thread-safe. Close it when done:
 * closing frees the arrays or deletes the file, after which every method but {@code close} and
 * {@code sizeInBytes} (then 0) fails.
 */
public interface FeatureCache extends AutoCloseable {

    /**
     * A cache that keeps detached copies of the arrays in memory.
     *
     * @return an empty cache
     */
    static FeatureCache inMemory() {
        return new InMemoryFeatureCache();
    }

    /**
     * A cache backed by a new file: every array is appended to it as raw little-endian {@code float}s or
     * {@code double}s in C order, with an in-memory index of offsets, types and shapes, and read back with
     * positional reads; no mapping of the file outlives a call, so once {@link #close()} has deleted the file
     * its space is free. An interrupt of the calling thread neither cuts a read or write short nor is lost.
     *
     * @param file the file to create; it must not exist and its folder must exist
     * @return an empty cache
     * @throws IllegalArgumentException if the file exists or its folder does not
     * @throws java.io.UncheckedIOException if the file cannot be created
     */
    static FeatureCache mappedFile(Path file) {
        return new MappedFileFeatureCache(file);
    }

    /**
     * Appends a batch. The arrays are copied (or written out); the caller may reuse them.
     *
     * @param batch features {@code [n, ...]}, labels {@code [n, ...]} or null, and optional feature and label
     *              masks; each FLOAT or DOUBLE
     * @throws IllegalArgumentException if an array is not FLOAT or DOUBLE, or is too large for the cache
     * @throws IllegalStateException    if the cache is closed
     */
    void add(DataSet batch);

    /**
     * Reads a batch back.
     *
     * @param index 0 to {@link #size()} - 1, in the order of {@link #add}
     * @return new arrays equal to the ones added, masks null where none were added
     * @throws IndexOutOfBoundsException if index is out of range
     * @throws IllegalStateException     if the cache is closed
     */
    DataSet get(int index);

    /**
     * @return the number of batches added
     * @throws IllegalStateException if the cache is closed (so training on a closed cache fails instead of
     *                               seeing an empty one)
     */
    int size();

    /**
     * @return the bytes of array data held (in memory or in the file); 0 once closed
     */
    long sizeInBytes();

    /**
     * Frees the arrays or deletes the file. Calling it again does nothing.
     *
     * @throws java.io.UncheckedIOException if the file cannot be deleted
     */
    @Override
    void close();
}
