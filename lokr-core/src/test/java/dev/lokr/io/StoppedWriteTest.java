package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A JVM stopped (SIGTERM, as Ctrl-C or a service manager sends) while {@link AtomicFiles} writes leaves no
 * temporary file behind and the target as it was.
 */
class StoppedWriteTest {

    @TempDir Path dir;

    /** Child: writes a megabyte to the temporary file, says so on stdout, then waits to be stopped. */
    public static void main(String[] args) throws IOException {
        AtomicFiles.write(Path.of(args[0]), ch -> {
            ch.write(ByteBuffer.allocate(1 << 20));
            System.out.println("writing");
            System.out.flush();
            try {
                Thread.sleep(120_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
    }

    @Test
    void aStoppedWriteLeavesNoTemporaryFile() throws Exception {
        Path target = dir.resolve("merged.safetensors");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                StoppedWriteTest.class.getName(), target.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            String line = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream())).readLine();
            assertEquals("writing", line, "the child started writing");
            assertEquals(1, IoTestSupport.tmpFiles(dir).size(), "a temporary file while writing");
            child.destroy();   // SIGTERM
            assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the child ended");
            assertEquals(List.of(), IoTestSupport.tmpFiles(dir), "the shutdown hook deleted the temporary file");
            assertFalse(Files.exists(target), "no target");
        } finally {
            child.destroyForcibly();
        }
    }
}
