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
     * How far a correct merge may be from the reference's merged value {@code expected} of a weight whose base
     * value is {@code base}: {@code 2^-19 (2 |base| + |expected|)}, 32 float32 roundings ({@code u = 2^-24}) of
     * a bound on the magnitudes involved. The reference computed each merged value in float32: the factor
     * products (a low-rank factor sums {@code r <= 4} products, the Tucker factor {@code r^2 = 16}), the
     * Kronecker product, the scale, the sum with {@code W} and, with DoRA, the norm and the ratio: at most
     * about 24 roundings, each at most {@code u} of a magnitude that {@code |W| + |dW| <= 2 |W| + |W'|} bounds
     * (DoRA's ratio is within ten percent of 1 in these files). A correct merge in float64 adds at most one
     * rounding, to F32. Seen at most: 16 roundings' worth (the Tucker case), under 12 elsewhere. A scale off
     * by one part in 10^5 is about 170 roundings' worth on every case, and even one part in 5 * 10^5 fails.
     * The cases are float32 (F32 files, PyTorch float32 arithmetic), so this is their precision; a relative
     * bound of 1e-5 passed a scale 1e-5 off on half the cases.
     *
     * @param base     the base weight's value
     * @param expected the reference's merged value
     * @return the largest allowed absolute difference
     */
    public static double tolerance(double base, double expected) {
        return 0x1p-19 * (2 * Math.abs(base) + Math.abs(expected));
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
