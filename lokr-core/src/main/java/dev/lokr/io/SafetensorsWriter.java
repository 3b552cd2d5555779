package dev.lokr.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes safetensors files atomically and without holding the whole file in memory.
 *
 * <p>The file has the layout of the reference implementation: the 8-byte little-endian header
 * length, a compact JSON header ({@code __metadata__} first when there is metadata, then one entry per
 * tensor with keys {@code dtype}, {@code shape}, {@code data_offsets} in that order), padded with
 * spaces so that the data starts at a multiple of 8 bytes, then each tensor's little-endian bytes
 * back to back in the order of the list. Tensors are converted and written in chunks of at most
 * about 1 MiB, so the writer needs little memory beyond the tensors themselves.
 *
 * <p>The file is written by {@link AtomicFiles#write(Path, AtomicFiles.ChannelWriter)}: to a temporary
 * file beside the target, then moved over it, so readers see either the old file or the complete new
 * one, and a failure leaves the target untouched and no temporary file.
 */
public final class SafetensorsWriter {
  private static final Logger log = LoggerFactory.getLogger(SafetensorsWriter.class);

  /** Bytes converted and written per chunk. */
  private static final int CHUNK_BYTES = 1 << 20;

  private SafetensorsWriter() {}

  /** Computes a tensor's values when the file is written; see {@link Tensor#computed}. */
  @FunctionalInterface
  public interface ValueSource {
    /**
     * @return the values (any numeric ND4J type, read in C order; as many elements as the shape)
     * @throws IOException if reading what they are computed from fails, or the values are refused
     */
    INDArray compute() throws IOException;
  }

  /**
   * One tensor to write: either {@code values} (converted to {@code dtype} while writing) or {@code
   * raw} bytes (written as they are) or a {@code source} reader whose tensor of the same name is
   * copied byte for byte; exactly one of the three. Use the factories {@link #of(String, INDArray,
   * DType)}, {@link #of(String, INDArray)}, {@link #raw(String, DType, long[], ByteBuffer)} and
   * {@link #copied(SafetensorsReader, String)}.
   *
   * <p>{@link #shape()} and {@link #raw()} return copies/duplicates, so a Tensor's description cannot
   * be changed after construction; the bytes and values it refers to are read only when the file is
   * written (do not change them meanwhile).
   *
   * @param name the tensor's name: non-empty and not {@code __metadata__}
   * @param dtype the element type written to the file
   * @param shape the dimensions written to the header (empty for a 0-d tensor)
   * @param values the values, read in C (row-major) order; its element count must equal the shape's
   *     (its own shape may differ); null when {@code raw} is given
   * @param raw the bytes from position to limit, already little-endian {@code dtype} values in C
   *     order; their count must be numel x dtype size; null when {@code values} is given
   * @param source an open reader holding a tensor {@code name} of this dtype and shape, copied when
   *     the file is written; or null
   * @param computed computes the values when the file is written (see {@link #computed}); or null
   */
  public record Tensor(
      String name, DType dtype, long[] shape, INDArray values, ByteBuffer raw, SafetensorsReader source,
      ValueSource computed) {

    /**
     * A tensor of values, raw bytes or a reader's tensor (nothing computed).
     *
     * @param name the tensor's name
     * @param dtype the element type in the file
     * @param shape the dimensions (copied)
     * @param values the values, or null
     * @param raw the bytes, or null
     * @param source the reader to copy from, or null
     * @throws IllegalArgumentException as the canonical constructor
     */
    public Tensor(String name, DType dtype, long[] shape, INDArray values, ByteBuffer raw, SafetensorsReader source) {
      this(name, dtype, shape, values, raw, source, null);
    }

    /**
     * A tensor of values or of raw bytes (no reader source).
     *
     * @param name the tensor's name
     * @param dtype the element type in the file
     * @param shape the dimensions (copied)
     * @param values the values, or null
     * @param raw the bytes, or null
     * @throws IllegalArgumentException as the canonical constructor
     */
    public Tensor(String name, DType dtype, long[] shape, INDArray values, ByteBuffer raw) {
      this(name, dtype, shape, values, raw, null, null);
    }

    /**
     * Validates and copies.
     *
     * @param name the tensor's name
     * @param dtype the element type in the file
     * @param shape the dimensions (copied)
     * @param values the values, or null
     * @param raw the bytes, or null (a read-only view of position..limit is kept; the buffer's own
     *     position is not changed)
     * @throws NullPointerException if name, dtype or shape is null
     * @param source the reader to copy from, or null
     * @throws IllegalArgumentException if the name is empty or {@code __metadata__}; the shape has a
     *     negative dimension or too many elements; not exactly one of values, raw and source is given;
     *     values are given for a dtype that is not {@link DType#readable()}; the element or byte
     *     count does not match the shape; or the source's tensor has another dtype or shape
     */
    public Tensor {
      Objects.requireNonNull(name, "name");
      Objects.requireNonNull(dtype, "dtype");
      Objects.requireNonNull(shape, "shape");
      if (name.isEmpty()) {
        throw new IllegalArgumentException("empty tensor name");
      }
      if (SafetensorsReader.METADATA_KEY.equals(name)) {
        throw new IllegalArgumentException("'" + SafetensorsReader.METADATA_KEY + "' cannot be a tensor name");
      }
      if ((values != null ? 1 : 0) + (raw != null ? 1 : 0) + (source != null ? 1 : 0)
          + (computed != null ? 1 : 0) != 1) {
        throw new IllegalArgumentException(
            "tensor " + Json.quote(name) + ": give exactly one of values, raw, source and computed");
      }
      if ((values != null || computed != null) && !dtype.readable()) {
        throw new IllegalArgumentException("tensor " + Json.quote(name) + ": values cannot be written as "
            + dtype + " (only " + DType.READABLE + "); copy such tensors as raw bytes");
      }
      shape = shape.clone();
      long numel = TensorInfo.numel(shape);
      long bytes;
      try {
        bytes = Math.multiplyExact(numel, dtype.byteSize());
      } catch (ArithmeticException e) {
        throw new IllegalArgumentException("tensor " + Json.quote(name) + ": shape " + Arrays.toString(shape)
            + " x " + dtype + " has more bytes than fit in a long");
      }
      if (raw != null) {
        raw = raw.slice().asReadOnlyBuffer();
        if (raw.remaining() != bytes) {
          throw new IllegalArgumentException("tensor " + Json.quote(name) + ": raw buffer has " + raw.remaining()
              + " bytes but shape " + Arrays.toString(shape) + " x " + dtype + " needs " + bytes);
        }
      } else if (source != null) {
        TensorInfo from = source.info(name);
        if (from.dtype() != dtype || !Arrays.equals(from.shape(), shape)) {
          throw new IllegalArgumentException("tensor " + Json.quote(name) + ": the source holds " + from.dtype()
              + " " + Arrays.toString(from.shape()) + ", not " + dtype + " " + Arrays.toString(shape));
        }
      } else if (values != null) {
        checkValues(name, shape, values);
      }
    }

    /** Refuses values that are not numeric or whose element count is not the shape's. */
    private static void checkValues(String name, long[] shape, INDArray values) {
      checkNumeric(name, values.dataType());
      long numel = TensorInfo.numel(shape);
      if (values.length() != numel) {
        throw new IllegalArgumentException("tensor " + Json.quote(name) + ": values have "
            + values.length() + " elements " + Arrays.toString(values.shape()) + " but shape "
            + Arrays.toString(shape) + " has " + numel);
      }
    }

    /**
     * A tensor whose values are computed when the file is written, just before they are written, and
     * converted to {@code dtype}: a file of many large computed tensors (a merged model) holds one of
     * them at a time, not all. If the computation fails, the write fails as any other (the target is
     * left as it was).
     *
     * @param name the name
     * @param dtype the element type in the file (one of {@link DType#READABLE})
     * @param shape the dimensions; the computed array must have as many elements
     * @param values computes the values, once, when the file is written
     * @return the tensor
     * @throws IllegalArgumentException if the name is invalid or the dtype cannot hold values
     */
    public static Tensor computed(String name, DType dtype, long[] shape, ValueSource values) {
      Objects.requireNonNull(values, "values");
      return new Tensor(name, dtype, shape, null, null, null, values);
    }

    /**
     * A tensor with the array's shape whose values are converted to {@code dtype} when written
     * (rounded to nearest, ties to even, when {@code dtype} is narrower).
     *
     * @param name the name
     * @param values the values (any numeric ND4J type; read in C order when written)
     * @param dtype the element type in the file
     * @return the tensor
     * @throws IllegalArgumentException if the name is invalid or the array is not numeric
     */
    public static Tensor of(String name, INDArray values, DType dtype) {
      Objects.requireNonNull(values, "values");
      return new Tensor(name, dtype, values.shape(), values, null);
    }

    /**
     * A tensor with the array's shape and the dtype matching its data type (FLOAT &rarr; F32, HALF
     * &rarr; F16, BFLOAT16 &rarr; BF16, DOUBLE &rarr; F64).
     *
     * @param name the name
     * @param values the values
     * @return the tensor
     * @throws IllegalArgumentException if the name is invalid or the array has another data type
     */
    public static Tensor of(String name, INDArray values) {
      Objects.requireNonNull(values, "values");
      return of(name, values, DType.fromNd4j(values.dataType()));
    }

    /**
     * A tensor whose bytes are copied as they are, for example from {@link
     * SafetensorsReader#raw(String)} to copy a tensor without converting it.
     *
     * @param name the name
     * @param dtype the element type the bytes hold
     * @param shape the dimensions
     * @param bytes the little-endian bytes, from position to limit (not consumed)
     * @return the tensor
     * @throws IllegalArgumentException if the name is invalid or the byte count is not numel x dtype
     *     size
     */
    public static Tensor raw(String name, DType dtype, long[] shape, ByteBuffer bytes) {
      Objects.requireNonNull(bytes, "bytes");
      return new Tensor(name, dtype, shape, null, bytes);
    }

    /**
     * The tensor {@code name} of an open reader, copied byte for byte whatever its size or dtype
     * (tensors over 2 GiB, which {@link SafetensorsReader#raw(String)} cannot hold in one buffer,
     * included). The bytes are read when the file is written: keep the reader open until then.
     *
     * @param from an open reader
     * @param name a tensor of {@code from}; the copy has the same name, dtype and shape
     * @return the tensor
     * @throws java.util.NoSuchElementException if {@code from} has no such tensor
     */
    public static Tensor copied(SafetensorsReader from, String name) {
      Objects.requireNonNull(from, "from");
      TensorInfo t = from.info(name);
      return new Tensor(name, t.dtype(), t.shape(), null, null, from, null);
    }

    /**
     * The dimensions.
     *
     * @return a copy of the shape
     */
    @Override
    public long[] shape() {
      return shape.clone();
    }

    /**
     * The raw bytes, if any.
     *
     * @return a read-only duplicate (position 0, limit = byte length), or null when values are given
     */
    @Override
    public ByteBuffer raw() {
      return raw == null ? null : raw.duplicate();
    }

    /**
     * The number of elements.
     *
     * @return the product of the shape
     */
    public long numel() {
      return TensorInfo.numel(shape);
    }

    /**
     * The number of bytes in the file.
     *
     * @return numel x dtype size
     */
    public long byteLength() {
      return numel() * dtype.byteSize();
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Tensor t
          && name.equals(t.name)
          && dtype == t.dtype
          && Arrays.equals(shape, t.shape)
          && Objects.equals(values, t.values)
          && Objects.equals(raw, t.raw)
          && source == t.source
          && computed == t.computed;
    }

    @Override
    public int hashCode() {
      return Objects.hash(name, dtype, Arrays.hashCode(shape));
    }

    @Override
    public String toString() {
      return "Tensor[" + name + ", " + dtype + ", " + Arrays.toString(shape)
          + (raw != null ? ", raw" : source != null ? ", copied from " + source.path() : ", values") + "]";
    }

    private static void checkNumeric(String name, DataType type) {
      if (type == DataType.UTF8 || type == DataType.COMPRESSED || type == DataType.UNKNOWN) {
        throw new IllegalArgumentException(
            "tensor " + Json.quote(name) + ": cannot write values of ND4J type " + type);
      }
    }
  }

  /**
   * Writes a safetensors file atomically.
   *
   * @param target the file to create or replace
   * @param metadata the {@code __metadata__} entries (written in iteration order; null or empty
   *     writes no {@code __metadata__})
   * @param tensors the tensors, written in this order
   * @throws IllegalArgumentException if two tensors share a name, a metadata key or value is null,
   *     a name or metadata string is not valid Unicode (a lone surrogate), or the header would exceed
   *     {@link SafetensorsReader#MAX_HEADER_BYTES}
   * @throws IOException if writing fails; the target is then unchanged and no temporary file is left
   */
  public static void write(Path target, Map<String, String> metadata, List<Tensor> tensors) throws IOException {
    Objects.requireNonNull(target, "target");
    Objects.requireNonNull(tensors, "tensors");
    byte[] header = header(metadata, tensors);

    AtomicFiles.write(target, ch -> {
      ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
      writeFully(ch, prefix);
      writeFully(ch, ByteBuffer.wrap(header));
      ByteBuffer scratch = ByteBuffer.allocate(CHUNK_BYTES).order(ByteOrder.LITTLE_ENDIAN);
      for (Tensor t : tensors) {
        if (t.source != null) {
          t.source.transferRaw(t.name, ch);
        } else if (t.raw != null) {
          writeFully(ch, t.raw.duplicate());
        } else if (t.computed != null) {
          INDArray v = t.computed.compute();
          Tensor.checkValues(t.name, t.shape, v);
          writeValues(ch, t, v, scratch);
        } else {
          writeValues(ch, t, t.values, scratch);
        }
      }
    });
    if (log.isDebugEnabled()) {
      log.debug("wrote {}: {} tensors, header {} bytes", target, tensors.size(), header.length);
    }
  }

  /** Builds the padded UTF-8 header, validating names and metadata. */
  private static byte[] header(Map<String, String> metadata, List<Tensor> tensors) {
    Map<String, Object> root = new LinkedHashMap<>();
    if (metadata != null && !metadata.isEmpty()) {
      Map<String, Object> meta = new LinkedHashMap<>();
      for (Map.Entry<String, String> e : metadata.entrySet()) {
        if (e.getKey() == null || e.getValue() == null) {
          throw new IllegalArgumentException("metadata keys and values must not be null: " + e.getKey());
        }
        meta.put(e.getKey(), e.getValue());
      }
      root.put(SafetensorsReader.METADATA_KEY, meta);
    }
    Set<String> names = new HashSet<>();
    long offset = 0;
    for (Tensor t : tensors) {
      Objects.requireNonNull(t, "tensors contains null");
      if (!names.add(t.name())) {
        throw new IllegalArgumentException("duplicate tensor name " + Json.quote(t.name()));
      }
      long end = Math.addExact(offset, t.byteLength());
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("dtype", t.dtype().name());
      entry.put("shape", t.shape);
      entry.put("data_offsets", new long[] {offset, end});
      root.put(t.name(), entry);
      offset = end;
    }
    byte[] json;
    try {
      json = Json.write(root).getBytes(StandardCharsets.UTF_8);
    } catch (JsonException e) {
      throw new IllegalArgumentException("a tensor name or metadata entry cannot be stored: " + e.getMessage(), e);
    }
    int padded = (json.length + 7) & ~7;
    if (json.length > SafetensorsReader.MAX_HEADER_BYTES - 7 || padded > SafetensorsReader.MAX_HEADER_BYTES) {
      throw new IllegalArgumentException("header of " + json.length + " bytes exceeds the limit of "
          + SafetensorsReader.MAX_HEADER_BYTES);
    }
    byte[] out = Arrays.copyOf(json, padded);
    Arrays.fill(out, json.length, padded, (byte) ' ');
    return out;
  }

  /** Converts {@code v} (t's values) to t.dtype chunk by chunk and writes them. */
  private static void writeValues(FileChannel ch, Tensor t, INDArray v, ByteBuffer scratch) throws IOException {
    long n = v.length();
    if (n == 0) {
      return;
    }
    DType dt = t.dtype;
    // A C-order flat view of the values (ND4J copies only when the layout requires it).
    INDArray flat = v.rank() == 1 ? v : v.reshape('c', new long[] {n});
    // Types whose every value a float holds exactly are read as floats; the rest (DOUBLE, integers) as doubles.
    DataType src = v.dataType();
    boolean asDouble = !(src == DataType.FLOAT || src == DataType.BFLOAT16 || src == DataType.FLOAT16
        || src == DType.F16.toNd4j());
    int perChunk = CHUNK_BYTES / dt.byteSize();
    for (long first = 0; first < n; first += perChunk) {
      int count = (int) Math.min(perChunk, n - first);
      INDArray part = flat.get(NDArrayIndex.interval(first, first + count));
      scratch.clear();
      if (asDouble) {
        double[] d = part.toDoubleVector();
        checkCount(t, d.length, count);
        if (dt == DType.F64) {
          scratch.asDoubleBuffer().put(d, 0, count);
        } else {
          for (int i = 0; i < count; i++) {
            dt.putDouble(scratch, i, d[i]);
          }
        }
      } else {
        float[] f = part.toFloatVector();
        checkCount(t, f.length, count);
        if (dt == DType.F32) {
          scratch.asFloatBuffer().put(f, 0, count);
        } else {
          for (int i = 0; i < count; i++) {
            dt.putFloat(scratch, i, f[i]);
          }
        }
      }
      scratch.limit(count * dt.byteSize());
      writeFully(ch, scratch);
    }
  }

  private static void checkCount(Tensor t, int got, int expected) {
    if (got != expected) {
      throw new IllegalStateException("tensor " + Json.quote(t.name) + ": got " + got
          + " values from the array for a chunk of " + expected + " (was the array changed?)");
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer src) throws IOException {
    while (src.hasRemaining()) {
      ch.write(src);
    }
  }
}
