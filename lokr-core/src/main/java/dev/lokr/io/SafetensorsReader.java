package dev.lokr.io;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.MalformedInputException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Objects;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a safetensors file through a read-only memory mapping, after validating its whole header.
 *
 * <p>{@link #open(Path)} reads only the 8-byte length prefix and the JSON header, and checks them
 * strictly before anything else is done; tensor data is mapped lazily when a tensor is read, and
 * the file is never loaded as a whole. Files larger than 2 GiB are supported: when the data section
 * is larger than a single mapping allows, each read maps only the bytes it needs.
 *
 * <p>Checks made by {@link #open(Path)}, each failing with a {@link SafetensorsFormatException}
 * that names the file, the tensor (if any) and the problem:
 *
 * <ul>
 *   <li>the file has at least 8 bytes; the little-endian unsigned header length is not 0, not
 *       larger than the rest of the file and not larger than {@value #MAX_HEADER_BYTES} bytes
 *       (checked before anything is allocated), and the JVM has {@value #HEAP_PER_HEADER_BYTE}
 *       bytes of free heap per header byte (what parsing a hostile header of tiny entries may need;
 *       a real header of a few thousand tensors is well under a megabyte);
 *   <li>the header is valid UTF-8 and strict JSON ({@link Json}), and a JSON object whose names are
 *       unique and non-empty; its parsed values may take three quarters of the free heap at most
 *       ({@link Json#parse(String, int, long)}; a real header's take about 7 bytes per header byte),
 *       so a hostile header within the check above is refused rather than exhausting the heap;
 *   <li>the optional {@code __metadata__} entry is an object of string values;
 *   <li>every other entry is an object with exactly the keys {@code dtype} (a string naming a
 *       {@link DType}; tensors whose dtype is not {@link DType#readable()} can only be copied),
 *       {@code shape} (an array of at most {@value #MAX_RANK} non-negative integers whose product,
 *       times the dtype size, fits in a long) and {@code data_offsets} (two integers {@code [begin,
 *       end]} with {@code 0 <= begin <= end <= data length});
 *   <li>{@code end - begin} equals the element count times the dtype size;
 *   <li>no two tensors' byte ranges overlap (empty tensors occupy no bytes).
 * </ul>
 *
 * <p>Gaps between tensors and unused bytes after the last one are tolerated (the reference
 * implementation writes neither).
 *
 * <p>A file truncated or rewritten in place after it was opened (its size or modification time
 * changed) is refused when a tensor is read or copied (its bytes may no longer match the header;
 * reading pages cut off would fault), with an {@link IOException} naming the change; a file replaced
 * by a rename keeps being read as it was opened. Without file keys (Windows) only truncation is
 * caught.
 *
 * <p>An open reader can be used from several threads at once. {@link #close()} closes the file;
 * afterwards the data methods ({@link #read}, {@link #readDoubles}, {@link #raw}) throw {@link
 * IllegalStateException}, while the header accessors keep working. Buffers returned by {@link
 * #raw(String)} stay valid after closing (the JVM unmaps them when they become unreachable).
 */
public final class SafetensorsReader implements Closeable {
    /** The largest header length accepted: 100 MiB. */
    public static final long MAX_HEADER_BYTES = 100L * 1024 * 1024;

    /** Heap bytes per header byte that parsing a header may need at worst; see {@link #requireHeap}. */
    static final int HEAP_PER_HEADER_BYTE = 24;

    /** The most dimensions a tensor may have: ND4J's own limit. */
    public static final int MAX_RANK = 32;

    /** The key of the optional string-to-string metadata entry in a header. */
    public static final String METADATA_KEY = "__metadata__";

    private static final Logger log = LoggerFactory.getLogger(SafetensorsReader.class);

    /** The largest single mapping; also the largest buffer handed out. */
    private static final long MAX_MAP_BYTES = Integer.MAX_VALUE;

    /** Largest Java array length that is safe on all JVMs. */
    private static final int MAX_ARRAY = Integer.MAX_VALUE - 8;

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final long dataLength;
    private final Map<String, String> metadata;
    private final Map<String, TensorInfo> byName;
    private final List<TensorInfo> tensors;
    private final Object mapLock = new Object();
    /** The file as it was when opened: its identity, size and modification time (for {@link #requireUnchanged}). */
    private final Snapshot opened;
    private MappedByteBuffer
            dataMap; // whole data section, when it fits one mapping; guarded by mapLock
    private volatile boolean closed;

    private SafetensorsReader(
            Path path,
            FileChannel channel,
            Snapshot opened,
            long dataStart,
            long dataLength,
            Map<String, String> metadata,
            List<TensorInfo> tensors) {
        this.path = path;
        this.channel = channel;
        this.opened = opened;
        this.dataStart = dataStart;
        this.dataLength = dataLength;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableList(tensors);
        Map<String, TensorInfo> m = new LinkedHashMap<>();
        for (TensorInfo t : tensors) {
            m.put(t.name(), t);
        }
        this.byName = m;
    }

    /**
     * Opens and validates a safetensors file.
     *
     * @param path the file
     * @return an open reader; close it when done
     * @throws SafetensorsFormatException if the file is not a valid safetensors file (see the class
     *     description for every check); the message names the file, the tensor and the problem
     * @throws IOException if the file cannot be opened or read, or is not a regular file (a
     *     directory, a named pipe, a device)
     */
    public static SafetensorsReader open(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        requireRegularFile(path);
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            SafetensorsReader r = parse(path, ch, Snapshot.of(path));
            if (log.isDebugEnabled()) {
                log.debug(
                        "opened {}: {} tensors, {} data bytes",
                        path,
                        r.tensors.size(),
                        r.dataLength);
            }
            return r;
        } catch (Throwable t) {
            try {
                ch.close();
            } catch (IOException suppressed) {
                t.addSuppressed(suppressed);
            }
            throw t;
        }
    }

    /**
     * Refuses what is not a regular file before opening it: opening a named pipe for reading blocks
     * until a writer comes, and a directory or device has no usable size.
     *
     * @throws java.nio.file.NoSuchFileException if nothing is at {@code path}
     * @throws IOException naming the path and what it is, if it is not a regular file
     */
    static void requireRegularFile(Path path) throws IOException {
        if (Files.isRegularFile(path)) {
            return;
        }
        if (!Files.exists(path)) {
            throw new java.nio.file.NoSuchFileException(path.toString());
        }
        String kind = Files.isDirectory(path) ? "a directory" : "a pipe, device or other special file";
        throw new IOException(path + ": not a regular file (" + kind + ")");
    }

    private static SafetensorsReader parse(Path path, FileChannel ch, Snapshot opened) throws IOException {
        long size = ch.size();
        if (size < 8) {
            throw new SafetensorsFormatException(
                    path,
                    (size == 0 ? "file is empty" : "file has only " + size + " bytes")
                            + ", too short for the 8-byte header length");
        }
        ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(ch, prefix, 0, path);
        long headerLength = prefix.getLong(0);
        long room = size - 8;
        if (headerLength == 0) {
            throw new SafetensorsFormatException(path, "header length is 0");
        }
        if (headerLength < 0 || headerLength > room) {
            throw new SafetensorsFormatException(
                    path,
                    "header length "
                            + Long.toUnsignedString(headerLength)
                            + " is larger than the "
                            + room
                            + " bytes after the length prefix");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new SafetensorsFormatException(
                    path,
                    "header length "
                            + headerLength
                            + " exceeds the limit of "
                            + MAX_HEADER_BYTES
                            + " bytes");
        }
        if (heapNeed(headerLength) > Heap.free()) {
            // what looked used may be garbage: measure again after a collection before refusing
            System.gc();
            requireHeap(path, headerLength, Heap.free());
        }
        ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
        readFully(ch, headerBytes, 8, path);
        headerBytes.flip();

        String text;
        CharsetDecoder decoder =
                StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            CharBuffer chars = decoder.decode(headerBytes);
            text = chars.toString();
        } catch (CharacterCodingException e) {
            String where =
                    e instanceof MalformedInputException
                            ? " near byte " + (8 + headerBytes.position())
                            : "";
            throw new SafetensorsFormatException(
                    path, null, "header is not valid UTF-8" + where, e);
        }

        Object root;
        try {
            // the only arrays in a header are shapes (rank at most MAX_RANK) and data_offsets (2)
            root = Heap.parseJson(text, MAX_RANK);
        } catch (JsonException e) {
            String problem;
            if (e.heapLimitExceeded()) {
                problem = "header of " + headerLength + " bytes needs more heap to parse than is free; give the"
                        + " JVM more (-Xmx) to read this file: " + e.getMessage();
            } else if (e.limitExceeded()) {
                problem = "header has an array longer than a shape can be (at most " + MAX_RANK
                        + " dimensions): " + e.getMessage();
            } else {
                problem = "header is not valid JSON: " + e.getMessage();
            }
            throw new SafetensorsFormatException(path, null, problem, e);
        }
        if (!(root instanceof Map<?, ?> entries)) {
            throw new SafetensorsFormatException(
                    path, "header is a JSON " + Json.typeName(root) + ", not an object");
        }

        long dataStart = 8 + headerLength;
        long dataLength = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>(entries.size());
        List<long[]> ranges = new ArrayList<>(entries.size()); // {begin, end, index}
        for (Map.Entry<?, ?> e : entries.entrySet()) {
            String name = (String) e.getKey();
            Object value = e.getValue();
            if (METADATA_KEY.equals(name)) {
                readMetadata(path, value, metadata);
                continue;
            }
            if (name.isEmpty()) {
                throw new SafetensorsFormatException(
                        path, "header has a tensor with an empty name");
            }
            TensorInfo info = readEntry(path, name, value, dataStart, dataLength);
            long begin = info.byteOffset() - dataStart;
            ranges.add(new long[] {begin, begin + info.byteLength(), tensors.size()});
            tensors.add(info);
        }
        checkOverlaps(path, tensors, ranges, dataStart);
        return new SafetensorsReader(path, ch, opened, dataStart, dataLength, metadata, tensors);
    }

    private static void readMetadata(Path path, Object value, Map<String, String> out)
            throws SafetensorsFormatException {
        if (!(value instanceof Map<?, ?> map)) {
            throw new SafetensorsFormatException(
                    path,
                    METADATA_KEY
                            + " is a JSON "
                            + Json.typeName(value)
                            + ", expected an object of strings");
        }
        for (Map.Entry<?, ?> m : map.entrySet()) {
            if (!(m.getValue() instanceof String s)) {
                throw new SafetensorsFormatException(
                        path,
                        METADATA_KEY
                                + " value for key "
                                + Json.quote((String) m.getKey())
                                + " is a JSON "
                                + Json.typeName(m.getValue())
                                + ", expected a string");
            }
            out.put((String) m.getKey(), s);
        }
    }

    private static TensorInfo readEntry(
            Path path, String name, Object value, long dataStart, long dataLength)
            throws SafetensorsFormatException {
        if (!(value instanceof Map<?, ?> entry)) {
            throw new SafetensorsFormatException(
                    path,
                    name,
                    "header entry is a JSON "
                            + Json.typeName(value)
                            + ", expected an object with dtype, shape and data_offsets");
        }
        for (Object key : entry.keySet()) {
            if (!"dtype".equals(key) && !"shape".equals(key) && !"data_offsets".equals(key)) {
                throw new SafetensorsFormatException(
                        path,
                        name,
                        "unexpected key "
                                + Json.quote((String) key)
                                + " in header entry (allowed: dtype, shape, data_offsets)");
            }
        }
        for (String required : new String[] {"dtype", "shape", "data_offsets"}) {
            if (!entry.containsKey(required)) {
                throw new SafetensorsFormatException(
                        path, name, "header entry has no '" + required + "'");
            }
        }

        Object dtypeValue = entry.get("dtype");
        if (!(dtypeValue instanceof String dtypeName)) {
            throw new SafetensorsFormatException(
                    path,
                    name,
                    "dtype is a JSON " + Json.typeName(dtypeValue) + ", expected a string");
        }
        DType dtype;
        try {
            dtype = DType.fromName(dtypeName);
        } catch (IllegalArgumentException e) {
            throw new SafetensorsFormatException(path, name, e.getMessage(), e);
        }

        long[] shape = integers(path, name, "shape", entry.get("shape"), -1);
        for (long d : shape) {
            if (d < 0) {
                throw new SafetensorsFormatException(
                        path,
                        name,
                        "shape " + Arrays.toString(shape) + " has a negative dimension");
            }
        }
        long needed;
        try {
            needed = Math.multiplyExact(TensorInfo.numel(shape), dtype.byteSize());
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new SafetensorsFormatException(
                    path,
                    name,
                    "shape "
                            + Arrays.toString(shape)
                            + " x "
                            + dtype
                            + " has more bytes than fit in a long");
        }

        long[] offsets = integers(path, name, "data_offsets", entry.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        String shown = "data_offsets [" + begin + ", " + end + "]";
        if (begin < 0 || end < 0) {
            throw new SafetensorsFormatException(path, name, shown + " are negative");
        }
        if (begin > end) {
            throw new SafetensorsFormatException(path, name, shown + " have begin > end");
        }
        if (end > dataLength) {
            throw new SafetensorsFormatException(
                    path,
                    name,
                    shown
                            + " reach past the end of the data section ("
                            + dataLength
                            + " bytes; is the file truncated?)");
        }
        if (end - begin != needed) {
            throw new SafetensorsFormatException(
                    path,
                    name,
                    shown
                            + " give "
                            + (end - begin)
                            + " bytes but shape "
                            + Arrays.toString(shape)
                            + " x "
                            + dtype
                            + " needs "
                            + needed);
        }
        return new TensorInfo(name, dtype, shape, dataStart + begin, end - begin);
    }


    /** @return the heap that parsing a header of {@code headerLength} bytes may need at worst */
    private static long heapNeed(long headerLength) {
        return headerLength * HEAP_PER_HEADER_BYTE;
    }

    /**
     * Refuses a header whose parse could exhaust the heap: a hostile header within {@link
     * #MAX_HEADER_BYTES} made of tiny entries needs up to {@value #HEAP_PER_HEADER_BYTE} bytes of
     * heap per header byte (measured: a 100 MB header of 1.7 million empty tensors failed with a
     * 1 GB heap and passed with 2 GB).
     *
     * @param headerLength the header's length in bytes
     * @param freeHeap the heap the JVM can still allocate, in bytes
     * @throws SafetensorsFormatException if {@code headerLength * HEAP_PER_HEADER_BYTE > freeHeap}
     */
    static void requireHeap(Path path, long headerLength, long freeHeap)
            throws SafetensorsFormatException {
        long need = heapNeed(headerLength);
        if (need > freeHeap) {
            throw new SafetensorsFormatException(
                    path,
                    "header of "
                            + headerLength
                            + " bytes may need up to "
                            + (need >> 20)
                            + " MiB of heap to parse, but only "
                            + (Math.max(0, freeHeap) >> 20)
                            + " MiB are free; give the JVM more (-Xmx) to read this file");
        }
    }

    /** Reads a JSON array of integers (of length {@code expected}, unless -1). */
    private static long[] integers(Path path, String name, String what, Object value, int expected)
            throws SafetensorsFormatException {
        String want =
                expected < 0 ? "an array of integers" : "an array of " + expected + " integers";
        if (!(value instanceof List<?> list)) {
            throw new SafetensorsFormatException(
                    path, name, what + " is a JSON " + Json.typeName(value) + ", expected " + want);
        }
        if (expected >= 0 && list.size() != expected) {
            throw new SafetensorsFormatException(
                    path, name, what + " has " + list.size() + " elements, expected " + want);
        }
        long[] out = new long[list.size()];
        for (int i = 0; i < out.length; i++) {
            Object v = list.get(i);
            if (!(v instanceof Long l)) {
                String kind =
                        v instanceof Double
                                ? "a non-integer or out-of-range number " + v
                                : "a JSON " + Json.typeName(v);
                throw new SafetensorsFormatException(
                        path, name, what + " element " + i + " is " + kind + ", expected " + want);
            }
            out[i] = l;
        }
        return out;
    }

    private static void checkOverlaps(
            Path path, List<TensorInfo> tensors, List<long[]> ranges, long dataStart)
            throws SafetensorsFormatException {
        List<long[]> nonEmpty = new ArrayList<>(ranges.size());
        for (long[] r : ranges) {
            if (r[1] > r[0]) {
                nonEmpty.add(r);
            }
        }
        nonEmpty.sort(Comparator.<long[]>comparingLong(r -> r[0]).thenComparingLong(r -> r[1]));
        for (int i = 1; i < nonEmpty.size(); i++) {
            long[] prev = nonEmpty.get(i - 1);
            long[] cur = nonEmpty.get(i);
            if (cur[0] < prev[1]) {
                TensorInfo a = tensors.get((int) prev[2]);
                TensorInfo b = tensors.get((int) cur[2]);
                throw new SafetensorsFormatException(
                        path,
                        b.name(),
                        "bytes ["
                                + cur[0]
                                + ", "
                                + cur[1]
                                + ") of the data section overlap tensor "
                                + Json.quote(a.name())
                                + " at ["
                                + prev[0]
                                + ", "
                                + prev[1]
                                + ")");
            }
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer dst, long position, Path path)
            throws IOException {
        long pos = position;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos);
            if (n < 0) {
                throw new EOFException(
                        path
                                + ": file ended while reading bytes at "
                                + pos
                                + " (was it truncated?)");
            }
            pos += n;
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Accessors

    /**
     * The file this reader was opened on.
     *
     * @return the path given to {@link #open(Path)}
     */
    public Path path() {
        return path;
    }

    /**
     * The header's {@code __metadata__} entries, in header order.
     *
     * @return an unmodifiable map; empty when the file has no metadata
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * Every tensor, in the order of the header.
     *
     * @return an unmodifiable list
     */
    public List<TensorInfo> tensors() {
        return tensors;
    }

    /**
     * Whether the file has a tensor of this name.
     *
     * @param name a tensor name
     * @return true if present
     */
    public boolean contains(String name) {
        return byName.containsKey(name);
    }

    /**
     * Describes one tensor.
     *
     * @param name a tensor name
     * @return its header entry
     * @throws NoSuchElementException if the file has no such tensor (the message names the file and
     *     the tensor)
     */
    public TensorInfo info(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) {
            throw new NoSuchElementException(path + ": no tensor named " + Json.quote(name));
        }
        return t;
    }

    /**
     * The size of the data section (everything after the header) in bytes.
     *
     * @return the data length
     */
    public long dataLength() {
        return dataLength;
    }

    // ---------------------------------------------------------------------------------------------
    // Data

    /**
     * Reads one tensor into a new ND4J array.
     *
     * <p>The array has the file's shape (a 0-d tensor gives a rank-0 scalar array; a shape with a 0
     * dimension gives an empty array of that shape), C (row-major) order, and the requested data
     * type; the values are converted exactly (F16/BF16/F32 to either type, F64 to DOUBLE) or
     * rounded to nearest (F64 to FLOAT).
     *
     * @param name the tensor
     * @param as {@link DataType#FLOAT} or {@link DataType#DOUBLE}
     * @return a new array that does not share memory with the file
     * @throws NoSuchElementException if there is no such tensor
     * @throws IllegalArgumentException if {@code as} is neither FLOAT nor DOUBLE
     * @throws UnsupportedOperationException if the tensor's dtype is not {@link DType#readable()}
     * @throws IllegalStateException if the reader is closed
     * @throws IOException if mapping the file fails, or the file was truncated or rewritten in place
     *     since it was opened
     */
    public INDArray read(String name, DataType as) throws IOException {
        return read(name, as, MAX_ARRAY);
    }

    /**
     * As {@link #read(String, DataType)}, filling arrays of more than {@code maxArray} elements in
     * chunks.
     */
    INDArray read(String name, DataType as, int maxArray) throws IOException {
        Objects.requireNonNull(as, "as");
        if (as != DataType.FLOAT && as != DataType.DOUBLE) {
            throw new IllegalArgumentException("can only read as FLOAT or DOUBLE, not " + as);
        }
        TensorInfo t = readableInfo(name);
        ensureOpen();
        long n = t.numel();
        long[] shape = t.shape();
        if (n == 0) {
            return Nd4j.create(as, shape);
        }
        return whileUnchanged(name, () -> decode(t, as, maxArray));
    }

    /** The values of a non-empty tensor {@code t} as a new array; see {@link #read(String, DataType, int)}. */
    private INDArray decode(TensorInfo t, DataType as, int maxArray) throws IOException {
        long n = t.numel();
        long[] shape = t.shape();
        if (n <= maxArray) {
            if (as == DataType.FLOAT) {
                float[] values = new float[(int) n];
                decodeFloats(t, 0, (int) n, values);
                return Nd4j.create(values, shape, 'c');
            }
            double[] values = new double[(int) n];
            decodeDoubles(t, 0, (int) n, values);
            return Nd4j.create(values, shape, 'c');
        }
        // Too many elements for one Java array: fill a native array through a flat view, chunk by
        // chunk.
        INDArray out = Nd4j.createUninitialized(as, shape, 'c');
        INDArray flat = out.reshape('c', new long[] {n});
        int chunk = Math.max(1, Math.min(maxArray, 1 << 22));
        for (long first = 0; first < n; first += chunk) {
            int count = (int) Math.min(chunk, n - first);
            INDArray part;
            if (as == DataType.FLOAT) {
                float[] values = new float[count];
                decodeFloats(t, first, count, values);
                part = Nd4j.createFromArray(values);
            } else {
                double[] values = new double[count];
                decodeDoubles(t, first, count, values);
                part = Nd4j.createFromArray(values);
            }
            flat.get(NDArrayIndex.interval(first, first + count)).assign(part);
        }
        return out;
    }

    /**
     * Reads one tensor's values as doubles, in C (row-major) order (exact for every dtype).
     *
     * @param name the tensor
     * @return a new array of {@code numel()} values (one value for a 0-d tensor)
     * @throws NoSuchElementException if there is no such tensor
     * @throws UnsupportedOperationException if the tensor has more elements than a Java array can
     *     hold, or its dtype is not {@link DType#readable()}
     * @throws IllegalStateException if the reader is closed
     * @throws IOException if mapping the file fails, or the file was truncated or rewritten in place
     *     since it was opened
     */
    public double[] readDoubles(String name) throws IOException {
        TensorInfo t = readableInfo(name);
        ensureOpen();
        long n = t.numel();
        if (n > MAX_ARRAY) {
            throw new UnsupportedOperationException(
                    path
                            + ": tensor "
                            + Json.quote(name)
                            + " has "
                            + n
                            + " elements, more than a Java array holds; use read(name, type)");
        }
        double[] out = new double[(int) n];
        if (n == 0) {
            return out;
        }
        return whileUnchanged(name, () -> {
            decodeDoubles(t, 0, (int) n, out);
            return out;
        });
    }

    /**
     * The tensor's bytes exactly as stored: a read-only, little-endian buffer whose position is 0
     * and whose limit is the tensor's byte length, backed by the file mapping (no copy). Useful to
     * copy tensors unchanged with {@link SafetensorsWriter.Tensor#raw}.
     *
     * @param name the tensor
     * @return a new read-only buffer over the tensor's bytes
     * @throws NoSuchElementException if there is no such tensor
     * @throws UnsupportedOperationException if the tensor is larger than 2 GiB - 1 bytes (use
     *     {@link #read(String, DataType)})
     * @throws IllegalStateException if the reader is closed
     * @throws IOException if mapping the file fails, or the file was truncated or rewritten in place
     *     since it was opened
     */
    public ByteBuffer raw(String name) throws IOException {
        TensorInfo t = info(name);
        ensureOpen();
        if (t.byteLength() > MAX_MAP_BYTES) {
            throw new UnsupportedOperationException(
                    path
                            + ": tensor "
                            + Json.quote(name)
                            + " has "
                            + t.byteLength()
                            + " bytes, more than one buffer can hold; use read(name, type)");
        }
        return whileUnchanged(name, () -> region(t.byteOffset() - dataStart, (int) t.byteLength()));
    }

    /**
     * Writes the tensor's stored bytes to {@code out}, in pieces of any size (no 2 GiB limit), by the
     * file system's own copy where it has one.
     *
     * @throws IOException if reading or writing fails, or the file is shorter than its header says
     */
    void transferRaw(String name, WritableByteChannel out) throws IOException {
        TensorInfo t = info(name);
        long at = t.byteOffset();
        long left = t.byteLength();
        ensureOpen();
        requireUnchanged(name);
        while (left > 0) {
            long n;
            try {
                // positional: no shared channel state, so no lock (a concurrent close ends the copy)
                n = channel.transferTo(at, left, out);
            } catch (java.nio.channels.ClosedChannelException e) {
                if (!channel.isOpen()) {
                    throw new IllegalStateException(path + ": the reader was closed while tensor "
                            + Json.quote(name) + " was being copied", e);
                }
                throw e;
            }
            if (n <= 0) {
                throw new IOException(
                        path + ": tensor " + Json.quote(name) + " ends early: the file changed while it was copied");
            }
            at += n;
            left -= n;
        }
        requireUnchanged(name);
    }

    /** The tensor's info, refusing a dtype whose values are not read (an integer or boolean tensor). */
    private TensorInfo readableInfo(String name) {
        TensorInfo t = info(name);
        if (!t.dtype().readable()) {
            throw new UnsupportedOperationException(
                    path
                            + ": tensor "
                            + Json.quote(name)
                            + " has dtype "
                            + t.dtype()
                            + "; values can be read only from "
                            + DType.READABLE
                            + " tensors (copy others with raw or SafetensorsWriter.Tensor.copied)");
        }
        return t;
    }

    /** Decodes elements [first, first + count) of t into out[0, count). */
    private void decodeFloats(TensorInfo t, long first, int count, float[] out) throws IOException {
        DType dt = t.dtype();
        forEachRegion(
                t,
                first,
                count,
                (b, done, k) -> {
                    if (dt == DType.F32) {
                        b.asFloatBuffer().get(out, done, k);
                    } else {
                        for (int i = 0; i < k; i++) {
                            out[done + i] = dt.getFloat(b, i);
                        }
                    }
                });
    }

    /** Decodes elements [first, first + count) of t into out[0, count). */
    private void decodeDoubles(TensorInfo t, long first, int count, double[] out)
            throws IOException {
        DType dt = t.dtype();
        forEachRegion(
                t,
                first,
                count,
                (b, done, k) -> {
                    if (dt == DType.F64) {
                        b.asDoubleBuffer().get(out, done, k);
                    } else {
                        for (int i = 0; i < k; i++) {
                            out[done + i] = dt.getDouble(b, i);
                        }
                    }
                });
    }

    /** Receives elements [done, done + k) of a decode, starting at element 0 of {@code b}. */
    private interface RegionDecoder {
        void decode(ByteBuffer b, int done, int k);
    }

    /**
     * Walks elements [first, first + count) of t in regions of at most one mapping each and hands
     * every region to {@code decoder}.
     */
    private void forEachRegion(TensorInfo t, long first, int count, RegionDecoder decoder)
            throws IOException {
        DType dt = t.dtype();
        int perMap = (int) (MAX_MAP_BYTES / dt.byteSize());
        int done = 0;
        while (done < count) {
            int k = Math.min(count - done, perMap);
            ByteBuffer b =
                    region(
                            t.byteOffset() - dataStart + (first + done) * dt.byteSize(),
                            k * dt.byteSize());
            decoder.decode(b, done, k);
            done += k;
        }
    }

    /**
     * A read-only little-endian buffer over bytes [offset, offset + length) of the data section.
     * Maps the whole data section once when it fits one mapping, and just the region otherwise.
     */
    private ByteBuffer region(long offset, int length) throws IOException {
        if (length == 0) {
            return ByteBuffer.allocate(0).asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }
        ByteBuffer b;
        if (dataLength <= MAX_MAP_BYTES) {
            ByteBuffer whole;
            synchronized (mapLock) {
                ensureOpen();
                if (dataMap == null) {
                    dataMap = channel.map(FileChannel.MapMode.READ_ONLY, dataStart, dataLength);
                }
                whole = dataMap.duplicate();
            }
            whole.position((int) offset).limit((int) offset + length);
            b = whole.slice();
        } else {
            synchronized (mapLock) {
                ensureOpen();
                b = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + offset, length);
            }
        }
        return b.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The identity, size and modification time of a file, read through its path. */
    private record Snapshot(Object fileKey, long size, java.nio.file.attribute.FileTime modified) {
        static Snapshot of(Path path) throws IOException {
            java.nio.file.attribute.BasicFileAttributes a =
                    Files.readAttributes(path, java.nio.file.attribute.BasicFileAttributes.class);
            return new Snapshot(a.fileKey(), a.size(), a.lastModifiedTime());
        }
    }

    /**
     * Refuses to read from a file that changed since it was opened: one truncated below the data its
     * header describes (reading the missing pages would fault), or one rewritten in place (the same
     * file, now with another size or modification time: its bytes may no longer match the header; a
     * {@code touch} counts too). A file replaced by a rename keeps being read as opened, which is
     * consistent. Where the file system has no file keys (Windows), only truncation is caught.
     *
     * @throws IOException naming the file, the tensor and the change
     */
    private void requireUnchanged(String tensor) throws IOException {
        long size = channel.size();
        if (size < dataStart + dataLength) {
            throw new IOException(path + ": cannot read tensor " + Json.quote(tensor) + ": the file is now " + size
                    + " bytes, shorter than the " + (dataStart + dataLength) + " its header describes; it was"
                    + " truncated after it was opened");
        }
        Snapshot now;
        try {
            now = Snapshot.of(path);
        } catch (IOException gone) {
            return;   // deleted or moved away: the open file itself is what is read
        }
        // without a file key (Windows) a rename cannot be told from a rewrite: only truncation is caught there
        if (opened.fileKey() != null && opened.fileKey().equals(now.fileKey())
                && (now.size() != opened.size() || !now.modified().equals(opened.modified()))) {
            throw new IOException(path + ": cannot read tensor " + Json.quote(tensor) + ": the file was rewritten"
                    + " in place after it was opened (its size or modification time changed: now " + now.size()
                    + " bytes, modified " + now.modified() + "); open it again");
        }
    }

    /** A read of the file that may fail with an {@link IOException}. */
    @FunctionalInterface
    private interface FileRead<T> {
        T get() throws IOException;
    }

    /**
     * Runs {@code read} of {@code tensor}'s bytes between two {@link #requireUnchanged} checks, so that it
     * returns only bytes of the file as it was opened; a failure of the read itself (a mapping refused, a
     * fault on pages cut off) is reported as the file's change when the file changed.
     */
    private <T> T whileUnchanged(String tensor, FileRead<T> read) throws IOException {
        requireUnchanged(tensor);
        T result;
        try {
            result = read.get();
        } catch (InternalError e) {
            throw changedWhileRead(tensor, e);
        } catch (IOException e) {
            throw changedOr(tensor, e);
        }
        requireUnchanged(tensor);
        return result;
    }

    /**
     * The exception for a failed read of {@code tensor}: the file-change report if the file changed (with
     * {@code failure} suppressed in it), else {@code failure} itself.
     */
    private IOException changedOr(String tensor, IOException failure) {
        try {
            requireUnchanged(tensor);
        } catch (IOException changed) {
            changed.addSuppressed(failure);
            return changed;
        }
        return failure;
    }

    /** What a fault while reading mapped bytes (the file shrank meanwhile) becomes. */
    private IOException changedWhileRead(String tensor, InternalError e) {
        return new IOException(path + ": cannot read tensor " + Json.quote(tensor) + ": the file was truncated or"
                + " changed while it was being read", e);
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException(path + ": reader is closed");
        }
    }

    /**
     * Closes the file. Idempotent. Later calls to the data methods throw {@link
     * IllegalStateException}; buffers already returned by {@link #raw(String)} stay readable.
     *
     * @throws IOException if closing the channel fails
     */
    @Override
    public void close() throws IOException {
        synchronized (mapLock) {
            if (closed) {
                return;
            }
            closed = true;
            dataMap = null;
        }
        channel.close();
    }

    @Override
    public String toString() {
        return "SafetensorsReader["
                + path
                + ", "
                + tensors.size()
                + " tensors"
                + (closed ? ", closed" : "")
                + "]";
    }
}
