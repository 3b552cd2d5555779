package dev.lokr.io;

import java.io.IOException;
import java.nio.file.Path;

/**
 * The single exception for an adapter file that is readable safetensors but not a usable LoKR
 * adapter: a missing factor ({@code lokr_w1_a} without {@code lokr_w1_b}), factor shapes that do
 * not multiply out to the target weight, a module that matches no (or more than one) base tensor, a
 * missing or malformed {@code adapter_config.json}. The message names the file, the module (when
 * the problem is about one) and the problem, with the shapes involved.
 *
 * <p>Malformed safetensors themselves are reported as {@link SafetensorsFormatException}; both are
 * {@link IOException}s.
 */
public final class AdapterFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    /** The file's path, or null. */
    private final String file;

    /** The module's name, or null. */
    private final String module;

    /** The problem without file and module. */
    private final String problem;

    /**
     * Creates an exception.
     *
     * @param file the adapter (or base) file, or null when there is none
     * @param module the module's name as stored in the file, or null when the problem is not about
     *     one
     * @param problem what is wrong, with the values involved
     */
    public AdapterFormatException(Path file, String module, String problem) {
        super(compose(file, module, problem));
        this.file = file == null ? null : file.toString();
        this.module = module;
        this.problem = problem;
    }

    private static String compose(Path file, String module, String problem) {
        StringBuilder sb = new StringBuilder();
        if (file != null) {
            sb.append(file).append(": ");
        }
        if (module != null) {
            sb.append("module ").append(Json.quote(module)).append(": ");
        }
        return sb.append(problem).toString();
    }

    /**
     * The file's path.
     *
     * @return the path as text, or null
     */
    public String file() {
        return file;
    }

    /**
     * The module the problem is about.
     *
     * @return the module's name as stored in the file, or null
     */
    public String module() {
        return module;
    }

    /**
     * The problem alone.
     *
     * @return the message without file and module
     */
    public String problem() {
        return problem;
    }
}
