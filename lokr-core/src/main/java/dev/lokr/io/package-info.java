/**
 * Reading and writing <a href="https://github.com/huggingface/safetensors">safetensors</a> files,
 * the format LyCORIS and PEFT use for adapters and base weights, plus the small strict JSON library
 * their headers need.
 *
 * <h2>The format</h2>
 *
 * <p>A safetensors file is: an 8-byte little-endian unsigned header length {@code N}; {@code N} bytes
 * of UTF-8 JSON, an object mapping each tensor name to {@code {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}} plus an optional {@code "__metadata__"} object of strings; then the
 * raw little-endian tensor data, with {@code data_offsets} counted from the first byte after the
 * header ({@code 8 + N}). Tensors are stored in C (row-major) order.
 *
 * <h2>Classes</h2>
 *
 * <ul>
 *   <li>{@link dev.lokr.io.SafetensorsReader}: opens a file, validates its header strictly, and reads
 *       tensors from a read-only memory mapping into ND4J arrays, {@code double[]} or raw buffers;
 *       works for files over 2 GiB.
 *   <li>{@link dev.lokr.io.SafetensorsWriter}: writes a file atomically (temporary file, fsync,
 *       atomic rename), streaming tensors from ND4J arrays (converted to the file's dtype), raw
 *       bytes, or another open reader's tensors (copied unchanged, of any size).
 *   <li>{@link dev.lokr.io.ExitDeletion}: files a shutdown hook deletes if the JVM ends while they are
 *       registered (temporary files of atomic writes, the DL4J module's feature-cache files).
 *   <li>{@link dev.lokr.io.TensorInfo}: one tensor's header entry (name, dtype, shape, location).
 *   <li>{@link dev.lokr.io.DType}: the format's element types; bit-exact conversions to and from
 *       float/double for F32, F16, BF16 and F64, the others only carried byte for byte.
 *   <li>{@link dev.lokr.io.SafetensorsFormatException}: the single exception for a malformed file;
 *       its message names the file, the tensor and the problem.
 *   <li>{@link dev.lokr.io.AdapterFile}: reads a LoKR adapter in the LyCORIS or the PEFT layout
 *       (detected from the keys and an {@code adapter_config.json} beside it) and resolves each module
 *       against its target weight shape into {@link dev.lokr.math.LokrParams};
 *       {@link dev.lokr.io.AdapterFormatException} names the file, the module and the problem.
 *   <li>{@link dev.lokr.io.LycorisWriter}: saves modules in the LyCORIS layout (scalar folded into
 *       {@code lokr_w1}, {@code alpha} written so that {@code alpha / r} is the scale, options in the metadata).
 *   <li>{@link dev.lokr.io.AdapterMerge}: merges an adapter file into a base weight file, every tensor
 *       keeping its dtype.
 *   <li>{@link dev.lokr.io.Json} and {@link dev.lokr.io.JsonException}: an RFC 8259 parser with
 *       duplicate-key, depth and number checks, and a writer whose output always parses back.
 * </ul>
 *
 * <h2>Example</h2>
 *
 * <pre>{@code
 * try (SafetensorsReader in = SafetensorsReader.open(Path.of("adapter.safetensors"))) {
 *   INDArray w1 = in.read("lycoris_proj.lokr_w1", DataType.FLOAT);
 *   List<SafetensorsWriter.Tensor> out = new ArrayList<>();
 *   out.add(SafetensorsWriter.Tensor.of("proj.weight", merged, DType.F32));
 *   for (TensorInfo t : in.tensors()) {  // copy the rest unchanged, whatever their dtype and size
 *     out.add(SafetensorsWriter.Tensor.copied(in, t.name()));
 *   }
 *   SafetensorsWriter.write(Path.of("merged.safetensors"), in.metadata(), out);
 * }
 * }</pre>
 *
 * <p>Values are read and written as F32, F16, BF16 and F64. Tensors of the format's other whole-byte
 * dtypes ({@code I64}, {@code BOOL}, {@code F8_E4M3} ...) open and can be copied; reading their values
 * throws an exception naming the dtype. The sub-byte dtypes ({@code F4}, {@code F6_*}) are rejected
 * when the file is opened.
 */
package dev.lokr.io;
