package dev.lokr.dl4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a JVM that ends deletes of {@link FeatureCache#mappedFile} files: the file of a cache left open, and
 * nothing at the path of a cache closed before (a file created there afterwards is someone else's).
 */
class FeatureCacheAtExitTest {

    @TempDir Path dir;

    /** Child: closes a cache, writes its own file at that path, leaves a second cache open, and exits. */
    public static void main(String[] args) throws IOException {
        Path reused = Path.of(args[0]);
        FeatureCache.mappedFile(reused).close();
        Files.writeString(reused, "written after the cache was closed");
        FeatureCache.mappedFile(Path.of(args[1]));
    }

    @Test
    void exitDeletesTheFilesOfOpenCachesOnly() throws Exception {
        Path reused = dir.resolve("features.bin");
        Path leftOpen = dir.resolve("left-open.bin");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                FeatureCacheAtExitTest.class.getName(), reused.toString(), leftOpen.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child ended");
            assertEquals(0, child.exitValue(), "the child's exit status");
            assertTrue(Files.exists(reused), "a file written at the path of a closed cache is kept at exit");
            assertEquals("written after the cache was closed", Files.readString(reused));
            assertFalse(Files.exists(leftOpen), "the file of a cache left open is deleted at exit");
        } finally {
            child.destroyForcibly();
        }
    }
}
