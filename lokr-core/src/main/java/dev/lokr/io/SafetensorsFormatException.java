package dev.lokr.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Thrown when a safetensors file is malformed: the one exception that {@link SafetensorsReader}
 * documents for every problem with a file's contents (as opposed to I/O failures, which stay plain
 * {@link IOException}s).
 *
 * <p>The message always names the file, the tensor when the problem belongs to one, and the
 * problem, for example:
 *
 * <pre>{@code
 * bad.safetensors: tensor 'x.lokr_w1': data_offsets [0, 12] give 12 bytes but shape [2, 3] x F32 needs 24
 * }</pre>
 *
 * <p>The parts are also available separately through {@link #file()}, {@link #tensor()} and {@link
 * #problem()}.
 */
public final class SafetensorsFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The file's path. */
    private final String file;

    /** The tensor's name, or null. */
    private final String tensor;

    /** The problem without file and tensor. */
    private final String problem;

    /**
     * Creates an exception for a problem with the file as a whole (the length prefix, the header).
     *
     * @param file the file
     * @param problem what is wrong
     */
    public SafetensorsFormatException(Path file, String problem) {
        this(file, null, problem, null);
    }

    /**
     * Creates an exception for a problem with one tensor's header entry.
     *
     * @param file the file
     * @param tensor the tensor's name, or null when the problem is not about one tensor
     * @param problem what is wrong
     */
    public SafetensorsFormatException(Path file, String tensor, String problem) {
        this(file, tensor, problem, null);
    }

    /**
     * Creates an exception with a cause (for example the {@link JsonException} of a bad header).
     *
     * @param file the file
     * @param tensor the tensor's name, or null when the problem is not about one tensor
     * @param problem what is wrong
     * @param cause the underlying exception, or null
     */
    public SafetensorsFormatException(Path file, String tensor, String problem, Throwable cause) {
        super(compose(file, tensor, problem), cause);
        this.file = String.valueOf(file);
        this.tensor = tensor;
        this.problem = problem;
    }

    private static String compose(Path file, String tensor, String problem) {
        StringBuilder b = new StringBuilder().append(file).append(": ");
        if (tensor != null) {
            b.append("tensor ").append(Json.quote(tensor)).append(": ");
        }
        return b.append(problem).toString();
    }

    /**
     * The file, as the path was given to the reader.
     *
     * @return the file's path as a string
     */
    public String file() {
        return file;
    }

    /**
     * The tensor the problem belongs to.
     *
     * @return the tensor's name, or null when the problem concerns the file as a whole
     */
    public String tensor() {
        return tensor;
    }

    /**
     * The problem alone, without the file and tensor names.
     *
     * @return the problem
     */
    public String problem() {
        return problem;
    }
}
