package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.LokrAdapter;
import dev.lokr.math.LokrLayout;
import dev.lokr.math.LokrParam;
import dev.lokr.math.LokrParams;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A file that changes under an open reader: truncated (reading the cut-off pages would fault the JVM),
 * rewritten in place as Python's {@code safetensors.save_file} does (the old header's offsets over new
 * bytes), or replaced by a rename (the open file is still read as it was, which is consistent).
 */
class ChangedFileTest {

    @TempDir
    Path dir;

    /** A file of one tensor "t" of {@code n} float32 values i + offset. */
    private Path tensorFile(String name, int n, double offset) throws IOException {
        Path f = dir.resolve(name);
        SafetensorsWriter.write(f, null, List.of(SafetensorsWriter.Tensor.of("t",
                Nd4j.arange(offset, offset + n).castTo(DataType.FLOAT), DType.F32)));
        return f;
    }

    @Test
    void aFileTruncatedAfterOpeningIsRefusedByName() throws Exception {
        // 1 MiB of data: past the first page, so that reading the cut-off part would fault
        Path f = tensorFile("a.safetensors", 1 << 18, 0);
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            assertEquals(5.0, r.read("t", DataType.FLOAT).getDouble(5));   // mapped and read once
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                ch.truncate(Files.size(f) / 2);
            }
            Path copy = dir.resolve("copy.safetensors");
            for (ThrowingRead read : List.<ThrowingRead>of(() -> r.read("t", DataType.DOUBLE),
                    () -> r.readDoubles("t"), () -> r.raw("t"), () -> {
                        SafetensorsWriter.write(copy, null, List.of(SafetensorsWriter.Tensor.copied(r, "t")));
                        return null;
                    })) {
                IOException e = assertThrows(IOException.class, read::run);
                assertTrue(e.getMessage().startsWith(f + ": cannot read tensor 't': the file is now "), e.getMessage());
                assertTrue(e.getMessage().contains("truncated after it was opened"), e.getMessage());
            }
            assertTrue(!Files.exists(copy), "a refused copy leaves no file");
        }
    }

    @Test
    void aFileRewrittenWhileATensorIsCopiedIsRefused() throws Exception {
        Path f = tensorFile("a.safetensors", 1 << 12, 0);
        byte[] other = Files.readAllBytes(tensorFile("b.safetensors", 1 << 12, 5000));
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            java.nio.channels.WritableByteChannel sink = new java.nio.channels.WritableByteChannel() {
                private boolean rewritten;

                @Override
                public int write(ByteBuffer src) throws IOException {
                    if (!rewritten) {
                        rewritten = true;   // the source is rewritten in place while its bytes are copied
                        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                            ch.write(ByteBuffer.wrap(other));
                        }
                        Files.setLastModifiedTime(f, FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 2000));
                    }
                    int n = src.remaining();
                    src.position(src.limit());
                    return n;
                }

                @Override
                public boolean isOpen() {
                    return true;
                }

                @Override
                public void close() {
                }
            };
            IOException e = assertThrows(IOException.class, () -> r.transferRaw("t", sink));
            assertTrue(e.getMessage().contains("the file was rewritten in place"), e.getMessage());
        }
    }

    @Test
    void aFileRewrittenInPlaceIsRefusedAndOneReplacedByRenameKeepsItsOpenedContent() throws Exception {
        Path f = tensorFile("a.safetensors", 64, 0);
        Path other = tensorFile("b.safetensors", 64, 1000);
        try (SafetensorsReader r = SafetensorsReader.open(f)) {
            // rewritten in place (open for writing, truncate, write), the same length but other values
            byte[] bytes = Files.readAllBytes(other);
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(ByteBuffer.wrap(bytes));
            }
            // a coarse file-system clock could give the rewrite the same time: make it differ as a real one would
            Files.setLastModifiedTime(f, FileTime.fromMillis(Files.getLastModifiedTime(f).toMillis() + 2000));
            IOException e = assertThrows(IOException.class, () -> r.read("t", DataType.FLOAT));
            assertTrue(e.getMessage().contains("cannot read tensor 't': the file was rewritten in place after it"
                    + " was opened"), e.getMessage());
            assertThrows(IOException.class, () -> r.readDoubles("t"));
            // copying the tensor byte for byte (what lokr merge does with the tensors it does not adapt)
            Path copy = dir.resolve("copy.safetensors");
            IOException c = assertThrows(IOException.class,
                    () -> SafetensorsWriter.write(copy, null, List.of(SafetensorsWriter.Tensor.copied(r, "t"))));
            assertTrue(c.getMessage().contains("the file was rewritten in place"), c.getMessage());
            assertTrue(!Files.exists(copy), "a refused copy leaves no file");
        }
        Path g = tensorFile("c.safetensors", 64, 0);
        try (SafetensorsReader r = SafetensorsReader.open(g)) {
            Files.move(tensorFile("d.safetensors", 64, 1000), g, StandardCopyOption.REPLACE_EXISTING,
                    StandardCopyOption.ATOMIC_MOVE);
            assertEquals(7.0, r.read("t", DataType.FLOAT).getDouble(7), "the opened file is still read");
        }
    }

    @Test
    void anAdapterFileRewrittenBeforeResolveIsRefused() throws Exception {
        LokrLayout layout = LokrAdapter.builder().rank(2).factor(4).build().layoutFor(16, 16);
        LokrParams p = LokrParams.zeros(layout, DataType.FLOAT);
        for (LokrParam param : layout.params()) {
            INDArray v = p.get(param);
            v.assign(Nd4j.linspace(DataType.FLOAT, 1, v.length(), 1).reshape(v.shape()));
        }
        Path f = dir.resolve("adapter.safetensors");
        LycorisWriter.save(f, Map.of("fc", p), null);
        try (AdapterFile file = AdapterFile.read(f)) {
            try (FileChannel ch = FileChannel.open(f, StandardOpenOption.WRITE)) {
                ch.truncate(Files.size(f) - 8);
            }
            IOException e = assertThrows(IOException.class,
                    () -> file.resolve("lycoris_fc", new long[] {16, 16}, DataType.FLOAT));
            assertTrue(e.getMessage().contains(f + ": cannot read tensor 'lycoris_fc."), e.getMessage());
            assertTrue(e.getMessage().contains("truncated after it was opened"), e.getMessage());
        }
    }

    @FunctionalInterface
    private interface ThrowingRead {
        Object run() throws IOException;
    }
}
