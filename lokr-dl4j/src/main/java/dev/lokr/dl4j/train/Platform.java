package dev.lokr.dl4j.train;

import java.util.Locale;
import java.util.Objects;

/**
 * The facts about the running machine that {@link TrainingOptions} derives its defaults from. Use
 * {@link #current()} in production; tests construct one directly to simulate another OS.
 *
 * @param osName the operating system name as in the {@code os.name} system property (e.g. "Linux",
 *     "Mac OS X", "Windows 11")
 * @param cudaBackend whether the ND4J backend is CUDA
 * @param availableProcessors the number of processors the JVM may use, {@code >= 1}
 */
public record Platform(String osName, boolean cudaBackend, int availableProcessors) {
    /** Validates the components. */
    public Platform {
        Objects.requireNonNull(osName, "osName");
        if (availableProcessors < 1) {
            throw new IllegalArgumentException(
                    "availableProcessors must be >= 1, got " + availableProcessors);
        }
    }

    /**
     * @return this JVM's platform: {@code os.name}, the ND4J backend, {@code
     *     Runtime.availableProcessors()}
     */
    public static Platform current() {
        return new Platform(
                System.getProperty("os.name", ""),
                DeviceStaging.isCudaBackend(),
                Runtime.getRuntime().availableProcessors());
    }

    /**
     * @return whether {@link #osName()} names Windows (case-insensitive prefix "windows")
     */
    public boolean isWindows() {
        return osName.toLowerCase(Locale.ROOT).startsWith("windows");
    }
}
