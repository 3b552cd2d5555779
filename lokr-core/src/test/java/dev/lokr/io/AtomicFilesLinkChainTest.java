package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link AtomicFiles} follows a chain of links as far as Linux does (40), and refuses a longer one. */
class AtomicFilesLinkChainTest {

    @TempDir Path dir;

    /** link0 -> link1 -> ... -> link(n - 1) -> target.bin (dangling); returns link0. */
    private Path chain(String name, int n) {
        try {
            for (int i = n - 1; i >= 0; i--) {
                Files.createSymbolicLink(dir.resolve(name + i),
                        Path.of(i == n - 1 ? name + "-target.bin" : name + (i + 1)));
            }
        } catch (UnsupportedOperationException | IOException e) {
            Assumptions.abort("no symbolic links here: " + e);
        }
        return dir.resolve(name + 0);
    }

    @Test
    void fortyLinksAreFollowedAndFortyOneAreRefused() throws IOException {
        byte[] bytes = {1, 2, 3};
        AtomicFiles.write(chain("ok", 40), bytes);
        assertArrayEquals(bytes, Files.readAllBytes(dir.resolve("ok-target.bin")), "written through 40 links");
        Path tooLong = chain("long", 41);
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(tooLong, bytes));
        assertTrue(e.getMessage().contains("too many levels of symbolic links"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("long-target.bin")), "nothing written through 41 links");
    }
}
