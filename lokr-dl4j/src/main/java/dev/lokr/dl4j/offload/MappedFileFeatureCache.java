package dev.lokr.dl4j.offload;

import dev.lokr.io.ExitDeletion;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * {@link FeatureCache#mappedFile(Path)}: arrays appended to one file as raw little-endian values in C order,
 * an index of (offset, type, shape) per array in memory, read back with positional reads (no mapping of the
 * file outlives a call).
 */
final class MappedFileFeatureCache implements FeatureCache {

    /** Largest array one batch part may take (one Java array holds it when read back). */
    static final long MAX_ARRAY_BYTES = Integer.MAX_VALUE - 8L;
    /** Bytes written per write call. */
    private static final int CHUNK = 1 << 20;

    /** Where one array lies in the file. */
    private static final class Slot {
        final long offset;
        final DataType type;
        final long[] shape;
        final long length;

        Slot(long offset, DataType type, long[] shape, long length) {
            this.offset = offset;
            this.type = type;
            this.shape = shape;
            this.length = length;
        }

        long bytes() {
            return length * type.width();
        }
    }

    private final Path file;
    private final List<Slot[]> index = new ArrayList<>();
    /**
     * The open file, or null once closed. Not a {@code FileChannel}: an interrupt of a thread in a channel's
     * read or write closes the channel for good, which broke the cache for every later call.
     */
    private RandomAccessFile raf;
    private long end;

    MappedFileFeatureCache(Path file) {
        this.file = Objects.requireNonNull(file, "file").toAbsolutePath();
        Path dir = this.file.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new IllegalArgumentException("the folder of the feature cache file " + this.file
                    + " does not exist; create it first");
        }
        try {
            Files.createFile(this.file);
        } catch (FileAlreadyExistsException e) {
            throw new IllegalArgumentException("the feature cache file " + this.file
                    + " already exists; mappedFile creates a new file and refuses to overwrite one (a run that"
                    + " was killed before closing its cache leaves the file behind: delete it if nothing uses it)", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the feature cache file " + this.file, e);
        }
        try {
            raf = new RandomAccessFile(this.file.toFile(), "rw");
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(this.file);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw new UncheckedIOException("cannot open the feature cache file " + this.file,
                    e instanceof IOException io ? io : new IOException(e));
        }
        // a JVM that ends without close() still removes it; not File.deleteOnExit, which cannot be withdrawn
        // and so deleted whatever file was created later at the path of a cache closed long before
        ExitDeletion.register(this.file);
    }

    /** @return the backing file (deleted once closed) */
    Path file() {
        return file;
    }

    @Override
    public void add(DataSet batch) {
        checkOpen();
        Objects.requireNonNull(batch, "batch");
        INDArray[] parts = {batch.getFeatures(), batch.getLabels(), batch.getFeaturesMaskArray(),
                batch.getLabelsMaskArray()};
        Objects.requireNonNull(parts[0], "batch features");
        long total = 0;
        for (int i = 0; i < parts.length; i++) {
            if (parts[i] != null) {
                InMemoryFeatureCache.checkType(parts[i], i);
                long b = parts[i].length() * parts[i].dataType().width();
                if (b > MAX_ARRAY_BYTES) {
                    throw new IllegalArgumentException("the batch's " + InMemoryFeatureCache.partName(i) + " "
                            + java.util.Arrays.toString(parts[i].shape()) + " take " + b + " bytes, more than "
                            + MAX_ARRAY_BYTES + ", the most the file cache stores per array; use smaller batches");
                }
                total += b;
            }
        }
        checkSpace(total);
        Slot[] slots = new Slot[parts.length];
        long start = end;
        try {
            for (int i = 0; i < parts.length; i++) {
                if (parts[i] != null) {
                    slots[i] = write(parts[i]);
                }
            }
        } catch (IOException e) {
            end = start;
            throw new UncheckedIOException("writing batch " + index.size() + " to the feature cache file "
                    + file + " failed", e);
        }
        index.add(slots);
    }

    private void checkSpace(long bytes) {
        long usable;
        try {
            usable = Files.getFileStore(file).getUsableSpace();
        } catch (IOException e) {
            return; // the store cannot tell; the write itself will fail if space runs out
        }
        if (bytes > usable) {
            throw new IllegalStateException("the batch needs " + bytes + " bytes but the file system of the feature"
                    + " cache file " + file + " has only " + usable + " usable bytes left");
        }
    }

    private Slot write(INDArray a) throws IOException {
        INDArray c = a.dup('c');
        long n = c.length();
        Slot slot = new Slot(end, c.dataType(), c.shape().clone(), n);
        ByteBuffer buf = ByteBuffer.allocate((int) slot.bytes()).order(ByteOrder.LITTLE_ENDIAN);
        if (slot.type == DataType.DOUBLE) {
            double[] v = c.data().asDouble();
            checkLength(v.length, n);
            buf.asDoubleBuffer().put(v, 0, (int) n);
        } else {
            float[] v = c.data().asFloat();
            checkLength(v.length, n);
            buf.asFloatBuffer().put(v, 0, (int) n);
        }
        // in chunks: RandomAccessFile copies each write through a native buffer of the write's size
        byte[] bytes = buf.array();
        raf.seek(end);
        for (int from = 0; from < bytes.length; from += CHUNK) {
            raf.write(bytes, from, Math.min(CHUNK, bytes.length - from));
        }
        end += bytes.length;
        return slot;
    }

    private static void checkLength(int bufferLength, long n) {
        if (bufferLength < n) {
            throw new IllegalStateException("a copied array of " + n + " elements has a buffer of only "
                    + bufferLength + " elements");
        }
    }

    @Override
    public DataSet get(int i) {
        checkOpen();
        Objects.checkIndex(i, index.size());
        Slot[] s = index.get(i);
        try {
            return new DataSet(read(s[0]), read(s[1]), read(s[2]), read(s[3]));
        } catch (IOException e) {
            throw new UncheckedIOException("reading batch " + i + " from the feature cache file " + file
                    + " failed", e);
        }
    }

    /**
     * Reads one array back with positional reads of at most {@code CHUNK} bytes. No memory mapping: a mapping
     * lives until the garbage collector frees its buffer, and kept the deleted file's space taken after
     * {@link #close()} (on Windows, it made the delete fail).
     */
    private INDArray read(Slot s) throws IOException {
        if (s == null) {
            return null;
        }
        if (s.length == 0) {
            return Nd4j.create(s.type, s.shape);
        }
        int n = (int) s.length;
        int width = s.type.width();
        double[] dv = s.type == DataType.DOUBLE ? new double[n] : null;
        float[] fv = dv == null ? new float[n] : null;
        byte[] chunk = new byte[(int) Math.min(CHUNK, s.bytes())];
        ByteBuffer buf = ByteBuffer.wrap(chunk).order(ByteOrder.LITTLE_ENDIAN);
        long pos = s.offset;
        long stop = s.offset + s.bytes();
        int at = 0;
        raf.seek(pos);
        while (pos < stop) {
            int len = (int) Math.min(chunk.length, stop - pos);
            raf.readFully(chunk, 0, len);   // EOFException if the file ends early
            buf.clear().limit(len);
            int count = len / width;   // CHUNK holds whole values of either width
            if (dv != null) {
                buf.asDoubleBuffer().get(dv, at, count);
            } else {
                buf.asFloatBuffer().get(fv, at, count);
            }
            at += count;
            pos += len;
        }
        return dv != null ? Nd4j.create(dv, s.shape, 'c') : Nd4j.create(fv, s.shape, 'c');
    }

    @Override
    public int size() {
        checkOpen();
        return index.size();
    }

    @Override
    public long sizeInBytes() {
        return end;
    }

    @Override
    public void close() {
        if (raf == null) {
            return;
        }
        index.clear();
        try {
            raf.close();
            Files.deleteIfExists(file);
            ExitDeletion.unregister(file); // not before: a file that could not be deleted now is deleted at exit
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the feature cache file " + file, e);
        } finally {
            raf = null;
            end = 0;
        }
    }

    private void checkOpen() {
        if (raf == null) {
            throw new IllegalStateException("the feature cache file " + file + " is closed (and deleted)");
        }
    }
}
