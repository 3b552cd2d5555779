package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A failed write must leave an existing target byte-identical and no temporary files behind. */
class AtomicWriteTest {
    @TempDir Path dir;
    private Path target;
    private byte[] original;

    @BeforeEach
    void existingTarget() throws IOException {
        target = dir.resolve("model.safetensors");
        SafetensorsWriter.write(
                target,
                Map.of("version", "1"),
                List.of(
                        SafetensorsWriter.Tensor.of(
                                "w", Nd4j.createFromArray(1f, 2f, 3f), DType.F32)));
        original = Files.readAllBytes(target);
    }

    private void assertUntouched(String why) throws IOException {
        assertArrayEquals(original, Files.readAllBytes(target), why + ": target changed");
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir), why + ": temporary files left behind");
    }

    /**
     * An array that reports a valid shape but fails as soon as its values are read: the writer has
     * already written the header and earlier tensors to the temporary file when it fails.
     */
    private static INDArray failingArray(INDArray real) {
        Set<String> allowed =
                Set.of(
                        "shape",
                        "length",
                        "rank",
                        "dataType",
                        "isEmpty",
                        "ordering",
                        "stride",
                        "isView",
                        "isScalar",
                        "wasClosed",
                        "hashCode",
                        "equals",
                        "toString");
        return (INDArray)
                Proxy.newProxyInstance(
                        INDArray.class.getClassLoader(),
                        new Class<?>[] {INDArray.class},
                        (proxy, method, args) -> {
                            if (!allowed.contains(method.getName())) {
                                throw new IllegalStateException(
                                        "injected failure in " + method.getName());
                            }
                            try {
                                return method.invoke(real, args);
                            } catch (InvocationTargetException e) {
                                throw e.getCause();
                            }
                        });
    }

    @Test
    void failureMidWriteLeavesTargetUntouched() throws IOException {
        INDArray big = Nd4j.rand(64, 64);
        List<SafetensorsWriter.Tensor> tensors =
                List.of(
                        SafetensorsWriter.Tensor.raw(
                                "first", DType.F32, new long[] {4}, ByteBuffer.allocate(16)),
                        SafetensorsWriter.Tensor.of("second", big, DType.F16),
                        SafetensorsWriter.Tensor.of("broken", failingArray(big), DType.F32));
        IllegalStateException e =
                assertThrows(
                        IllegalStateException.class,
                        () -> SafetensorsWriter.write(target, Map.of(), tensors));
        assertTrue(e.getMessage().startsWith("injected failure"), e.getMessage());
        assertUntouched("failure while converting values");
    }

    @Test
    void invalidInputLeavesTargetUntouched() throws IOException {
        INDArray a = Nd4j.createFromArray(1f, 2f);
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.write(
                                target,
                                null,
                                List.of(
                                        SafetensorsWriter.Tensor.of("x", a, DType.F32),
                                        SafetensorsWriter.Tensor.of("x", a, DType.F16))));
        assertUntouched("duplicate names");
        Map<String, String> nullValue = new HashMap<>();
        nullValue.put("k", null);
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.write(
                                target,
                                nullValue,
                                List.of(SafetensorsWriter.Tensor.of("x", a, DType.F32))));
        assertUntouched("null metadata value");
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.write(
                                target,
                                null,
                                List.of(
                                        SafetensorsWriter.Tensor.of(
                                                "bad\ud800name", a, DType.F32))));
        assertUntouched("lone surrogate in a name");
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.write(
                                target,
                                Map.of("k", "\udc00"),
                                List.of(SafetensorsWriter.Tensor.of("x", a, DType.F32))));
        assertUntouched("lone surrogate in metadata");
        assertThrows(
                IllegalArgumentException.class,
                () ->
                        SafetensorsWriter.Tensor.raw(
                                "x", DType.F32, new long[] {2}, ByteBuffer.allocate(7)));
        assertThrows(
                IllegalArgumentException.class,
                () -> SafetensorsWriter.Tensor.of("__metadata__", a, DType.F32));
        assertUntouched("bad tensors");
    }

    @Test
    void targetThatCannotBeReplacedLeavesNoTemporaryFile() throws IOException {
        Path folder = dir.resolve("folder.safetensors");
        Files.createDirectory(folder);
        Files.write(folder.resolve("inside"), new byte[] {1});
        assertThrows(
                IOException.class,
                () ->
                        SafetensorsWriter.write(
                                folder,
                                null,
                                List.of(
                                        SafetensorsWriter.Tensor.of(
                                                "x", Nd4j.createFromArray(1f), DType.F32))));
        assertTrue(Files.isDirectory(folder));
        assertArrayEquals(new byte[] {1}, Files.readAllBytes(folder.resolve("inside")));
        assertUntouched("target is a non-empty directory");
    }

    @Test
    void computedTensorsAreComputedOneAtATimeAsTheyAreWritten() throws IOException {
        List<String> events = new java.util.ArrayList<>();
        SafetensorsWriter.write(target, null, List.of(
                SafetensorsWriter.Tensor.computed("a", DType.F32, new long[] {2}, () -> {
                    events.add("a");
                    return Nd4j.createFromArray(1.0, 2.0);
                }),
                SafetensorsWriter.Tensor.of("b", Nd4j.createFromArray(3f), DType.F16),
                SafetensorsWriter.Tensor.computed("c", DType.BF16, new long[] {1, 1}, () -> {
                    events.add("c");
                    return Nd4j.createFromArray(new float[][] {{4f}});
                })));
        assertEquals(List.of("a", "c"), events, "each computed once, in file order");
        try (SafetensorsReader r = SafetensorsReader.open(target)) {
            assertArrayEquals(new double[] {1, 2}, r.readDoubles("a"), 0.0);
            assertArrayEquals(new double[] {4}, r.readDoubles("c"), 0.0);
        }
        original = Files.readAllBytes(target);
        // a computation that fails, or gives the wrong element count, fails the write and leaves the target
        IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(target, null, List.of(
                SafetensorsWriter.Tensor.of("x", Nd4j.createFromArray(1f), DType.F32),
                SafetensorsWriter.Tensor.computed("y", DType.F32, new long[] {4}, () -> {
                    throw new IOException("cannot compute y");
                }))));
        assertEquals("cannot compute y", e.getMessage());
        assertUntouched("a failed computation");
        IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> SafetensorsWriter.write(
                target, null, List.of(SafetensorsWriter.Tensor.computed("y", DType.F32, new long[] {4},
                        () -> Nd4j.createFromArray(1f, 2f)))));
        assertTrue(wrong.getMessage().contains("values have 2 elements [2] but shape [4] has 4"), wrong.getMessage());
        assertUntouched("a computation of the wrong size");
    }

    @Test
    void anyContentIsWrittenTheSameWay() throws IOException {
        AtomicFiles.write(target, new byte[] {7, 8, 9});
        assertArrayEquals(new byte[] {7, 8, 9}, Files.readAllBytes(target));
        original = Files.readAllBytes(target);
        IOException e = assertThrows(IOException.class, () -> AtomicFiles.write(target, ch -> {
            ch.write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
            throw new IOException("disk full");
        }));
        assertEquals("disk full", e.getMessage());
        assertUntouched("a body that fails half-way");
    }

    @Test
    void aPipeOrALinkToOneIsNotReplaced() throws IOException, InterruptedException {
        // a FIFO stands for every non-regular file: replacing a device by a file would destroy it
        // (/dev/null, as root); the test does not touch a real device
        Path fifo = dir.resolve("pipe.safetensors");
        Process mk = new ProcessBuilder("mkfifo", fifo.toString()).redirectErrorStream(true).start();
        Assumptions.assumeTrue(mk.waitFor() == 0 && Files.exists(fifo), "mkfifo is not available");
        Path link = dir.resolve("link.safetensors");
        Files.createSymbolicLink(link, fifo);
        for (Path t : List.of(fifo, link)) {
            IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(t, null, List.of(one())));
            assertEquals(t + ": is not a regular file (a pipe, device or socket); lokr replaces only regular files",
                    e.getMessage());
            assertTrue(Files.isSymbolicLink(link) && Files.exists(fifo) && !Files.isRegularFile(fifo), t.toString());
        }
        assertUntouched("a pipe as the target");
    }

    @Test
    void missingFolderFailsCleanly() {
        Path nowhere = dir.resolve("missing").resolve("x.safetensors");
        assertThrows(
                NoSuchFileException.class,
                () ->
                        SafetensorsWriter.write(
                                nowhere,
                                null,
                                List.of(
                                        SafetensorsWriter.Tensor.of(
                                                "x", Nd4j.createFromArray(1f), DType.F32))));
        assertFalse(Files.exists(nowhere.getParent()));
        NoSuchFileException e =
                assertThrows(
                        NoSuchFileException.class,
                        () -> SafetensorsWriter.write(nowhere, null, List.of(one())));
        assertTrue(
                e.getMessage().contains(nowhere.toString()) && e.getMessage().contains("does not exist")
                        && !e.getMessage().contains(".tmp"),
                "the message names the target, not a temporary file: " + e.getMessage());
    }

    private static SafetensorsWriter.Tensor one() {
        return SafetensorsWriter.Tensor.of("x", Nd4j.createFromArray(1f), DType.F32);
    }

    @Test
    void aTargetNameAsLongAsTheFileSystemAllowsCanBeWritten() throws IOException {
        Path longName = dir.resolve("w".repeat(255 - ".safetensors".length()) + ".safetensors");
        SafetensorsWriter.write(longName, null, List.of(one()));
        SafetensorsWriter.write(longName, null, List.of(one()));
        try (SafetensorsReader in = SafetensorsReader.open(longName)) {
            assertEquals(1, in.tensors().size());
        }
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
    }

    @Test
    void aReadOnlyTargetIsReplacedAndStaysReadOnly() throws IOException {
        Assumptions.assumeTrue(
                Files.getFileStore(dir).supportsFileAttributeView(java.nio.file.attribute.PosixFileAttributeView.class));
        Set<java.nio.file.attribute.PosixFilePermission> readOnly =
                java.nio.file.attribute.PosixFilePermissions.fromString("r--r--r--");
        Files.setPosixFilePermissions(target, readOnly);
        // as root every file is writable: the bug this guards against (permissions copied before writing)
        // then cannot show, so only the kept permissions are checked
        boolean enforced = !Files.isWritable(target);
        SafetensorsWriter.write(target, null, List.of(one()));
        assertEquals(readOnly, Files.getPosixFilePermissions(target));
        try (SafetensorsReader in = SafetensorsReader.open(target)) {
            assertEquals(List.of("x"), in.tensors().stream().map(TensorInfo::name).toList());
        }
        Assumptions.assumeTrue(enforced, "running as root: a read-only file is still writable here");
    }

    @Test
    void aSymbolicLinkTargetReplacesTheFileItPointsTo() throws IOException {
        Path link = dir.resolve("link.safetensors");
        try {
            Files.createSymbolicLink(link, target.getFileName());
        } catch (UnsupportedOperationException | IOException e) {
            Assumptions.abort("no symbolic links here: " + e);
        }
        SafetensorsWriter.write(link, null, List.of(one()));
        assertTrue(Files.isSymbolicLink(link), "the link is kept");
        try (SafetensorsReader in = SafetensorsReader.open(target)) {
            assertEquals(List.of("x"), in.tensors().stream().map(TensorInfo::name).toList());
        }
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
    }

    @Test
    void aDanglingOrChainedLinkCreatesTheFileItPointsTo() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("sub"));
        Path first = dir.resolve("first.safetensors");
        Path second = sub.resolve("second.safetensors");
        try {
            Files.createSymbolicLink(first, dir.relativize(second));         // first -> sub/second
            Files.createSymbolicLink(second, Path.of("nowhere.safetensors")); // sub/second -> sub/nowhere (dangling)
        } catch (UnsupportedOperationException | IOException e) {
            Assumptions.abort("no symbolic links here: " + e);
        }
        SafetensorsWriter.write(first, null, List.of(one()));
        assertTrue(Files.isSymbolicLink(first) && Files.isSymbolicLink(second), "both links are kept");
        try (SafetensorsReader in = SafetensorsReader.open(sub.resolve("nowhere.safetensors"))) {
            assertEquals(List.of("x"), in.tensors().stream().map(TensorInfo::name).toList());
        }
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
        assertEquals(List.of(), IoTestSupport.tmpFiles(sub));
        Path loop = dir.resolve("loop.safetensors");
        Files.createSymbolicLink(loop, loop.getFileName());
        IOException e = assertThrows(IOException.class, () -> SafetensorsWriter.write(loop, null, List.of(one())));
        assertTrue(e.getMessage().contains("too many levels of symbolic links"), e.getMessage());
    }

    @Test
    void dotDotAfterALinkedFolderIsResolvedAsTheFileSystemResolvesIt() throws IOException {
        Path sub = Files.createDirectories(dir.resolve("real").resolve("sub"));
        try {
            Files.createSymbolicLink(dir.resolve("alias"), dir.relativize(sub));                  // alias -> real/sub
            Files.createSymbolicLink(sub.resolve("l.safetensors"), Path.of("../x.safetensors")); // -> real/x
        } catch (UnsupportedOperationException | IOException e) {
            Assumptions.abort("no symbolic links here: " + e);
        }
        Path realX = dir.resolve("real").resolve("x.safetensors");
        Files.writeString(realX, "old");
        SafetensorsWriter.write(dir.resolve("alias").resolve("l.safetensors"), null, List.of(one()));
        try (SafetensorsReader in = SafetensorsReader.open(realX)) {
            assertEquals(List.of("x"), in.tensors().stream().map(TensorInfo::name).toList());
        }
        assertFalse(Files.exists(dir.resolve("x.safetensors")), "no stray file beside the link");
        // not a link: alias/../y is real/y for the OS
        SafetensorsWriter.write(dir.resolve("alias").resolve("..").resolve("y.safetensors"), null, List.of(one()));
        assertTrue(Files.exists(dir.resolve("real").resolve("y.safetensors")));
        assertFalse(Files.exists(dir.resolve("y.safetensors")));
    }

    @Test
    void successfulWriteReplacesTheTarget() throws IOException {
        SafetensorsWriter.write(
                target,
                Map.of("version", "2"),
                List.of(
                        SafetensorsWriter.Tensor.of(
                                "w", Nd4j.createFromArray(4.0, 5.0), DType.F64)));
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
        try (SafetensorsReader in = SafetensorsReader.open(target)) {
            assertEquals(Map.of("version", "2"), in.metadata());
            assertArrayEquals(new double[] {4, 5}, in.readDoubles("w"));
        }
    }

    @Test
    void rewritingAFileFromItsOwnReaderWorks() throws IOException {
        try (SafetensorsReader in = SafetensorsReader.open(target)) {
            TensorInfo w = in.info("w");
            SafetensorsWriter.write(
                    target,
                    in.metadata(),
                    List.of(
                            SafetensorsWriter.Tensor.raw("w", w.dtype(), w.shape(), in.raw("w")),
                            SafetensorsWriter.Tensor.of(
                                    "extra",
                                    in.read("w", org.nd4j.linalg.api.buffer.DataType.FLOAT),
                                    DType.BF16)));
            assertArrayEquals(
                    new double[] {1, 2, 3}, in.readDoubles("w"), "old mapping still readable");
        }
        try (SafetensorsReader in = SafetensorsReader.open(target)) {
            assertArrayEquals(new double[] {1, 2, 3}, in.readDoubles("w"));
            assertArrayEquals(new double[] {1, 2, 3}, in.readDoubles("extra"));
        }
    }

    @Test
    void permissionsAreNotOwnerOnly() throws IOException {
        Assumptions.assumeTrue(
                Files.getFileStore(dir).supportsFileAttributeView(PosixFileAttributeView.class));
        assertEquals(
                "rw-r--r--", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rw-rw----"));
        SafetensorsWriter.write(
                target,
                null,
                List.of(SafetensorsWriter.Tensor.of("w", Nd4j.createFromArray(1f), DType.F32)));
        assertEquals(
                "rw-rw----", PosixFilePermissions.toString(Files.getPosixFilePermissions(target)));
    }

    @Test
    void anEmptyPathAndAFolderAreRefusedByName() throws IOException {
        IOException empty = assertThrows(IOException.class, () -> AtomicFiles.write(Path.of(""), new byte[1]));
        assertEquals("the output path is empty; name a file to write", empty.getMessage());
        IOException folder = assertThrows(IOException.class, () -> AtomicFiles.write(dir, new byte[1]));
        assertEquals(dir + ": is a directory, cannot write a file there", folder.getMessage());
        assertEquals(List.of(), IoTestSupport.tmpFiles(dir));
    }
}
