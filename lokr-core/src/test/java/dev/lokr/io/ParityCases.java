package dev.lokr.io;

import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.stream.Stream;

/**
 * The reference parity cases ({@code parity-cases/} in lokr-core's test resources) as a folder on
 * disk, for this module's tests and, through lokr-core's test-jar, for the other modules' tests.
 * From the jar they are copied once to {@code target/parity-cases} of the running module, since a
 * jar entry is not a file the safetensors reader can map.
 */
public final class ParityCases {

    private static Path root;

    private ParityCases() {
    }

    /**
     * @return the folder holding one sub-folder per case
     * @throws IllegalStateException if the cases are not on the test class path or cannot be copied
     */
    public static synchronized Path root() {
        if (root != null) {
            return root;
        }
        URL url = ParityCases.class.getResource("/parity-cases");
        if (url == null) {
            throw new IllegalStateException("parity-cases not on the test class path (lokr-core test-jar)");
        }
        try {
            if (!"jar".equals(url.getProtocol())) {
                root = Path.of(url.toURI());
                return root;
            }
            Path target = Path.of("target", "parity-cases").toAbsolutePath();
            try (FileSystem fs = FileSystems.newFileSystem(url.toURI(), Map.of());
                    Stream<Path> walk = Files.walk(fs.getPath("/parity-cases"))) {
                for (Path p : (Iterable<Path>) walk::iterator) {
                    Path dst = target.resolve(fs.getPath("/parity-cases").relativize(p).toString());
                    if (Files.isDirectory(p)) {
                        Files.createDirectories(dst);
                    } else {
                        Files.copy(p, dst, StandardCopyOption.REPLACE_EXISTING);
                    }
                }
            }
            root = target;
            return root;
        } catch (Exception e) {
            throw new IllegalStateException("cannot read the parity cases from " + url + ": " + e.getMessage(), e);
        }
    }
}
