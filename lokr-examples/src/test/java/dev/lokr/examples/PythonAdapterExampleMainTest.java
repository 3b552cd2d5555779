package dev.lokr.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link PythonAdapterExample#main}'s one-line reasons (it exits, so it runs in a child JVM). */
class PythonAdapterExampleMainTest {

    @TempDir
    Path dir;

    private record Result(int code, String err) {}

    private static Result main(Path arg) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path err = Files.createTempFile("example-stderr", ".txt");   // a file: a full pipe cannot block the child
        Process child = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                PythonAdapterExample.class.getName(), arg.toString())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
        try {
            assertTrue(child.waitFor(120, TimeUnit.SECONDS), "the example did not end");
            return new Result(child.exitValue(), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            child.destroyForcibly();
            Files.deleteIfExists(err);
        }
    }

    @Test
    void aPathThatIsNoFolderIsNamedAsSuch() throws Exception {
        Result r = main(dir.resolve("nope"));
        assertEquals(1, r.code(), r.err());
        String expected = "PythonAdapterExample: " + dir.resolve("nope") + " is not a folder";
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith(expected)), r.err());
    }

    @Test
    void aFolderWithoutTheFilesNamesTheErrorsType() throws Exception {
        Result r = main(dir);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("PythonAdapterExample: NoSuchFileException: ")), r.err());
    }
}
