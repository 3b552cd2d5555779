package dev.lokr.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** Helpers shared by the io tests. */
final class IoTestSupport {
    private IoTestSupport() {}

    /** The dtypes whose values are read and written: F32, F16, BF16, F64. */
    static List<DType> readableDTypes() {
        return java.util.Arrays.stream(DType.values()).filter(DType::readable).collect(Collectors.toList());
    }

    /** Bytes of a file with the given header text (not padded) and data section. */
    static byte[] file(String header, byte[] data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        return file(h.length, h, data);
    }

    /** Bytes of a file with an arbitrary length prefix, header bytes and data. */
    static byte[] file(long prefix, byte[] header, byte[] data) {
        ByteBuffer b =
                ByteBuffer.allocate(8 + header.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(prefix).put(header).put(data);
        return b.array();
    }

    /** The folder of the parity cases on the test class path. */
    static Path parityRoot() {
        return ParityCases.root();
    }

    /** Every parity case folder, sorted. */
    static List<Path> parityCases() {
        try (Stream<Path> s = Files.list(parityRoot())) {
            return s.filter(Files::isDirectory).sorted().collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Every .safetensors file under the parity cases, sorted. */
    static List<Path> parityFiles() {
        try (Stream<Path> s = Files.walk(parityRoot())) {
            return s.filter(p -> p.getFileName().toString().endsWith(".safetensors"))
                    .sorted()
                    .collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Names the files left in a folder whose names end with .tmp. */
    static List<String> tmpFiles(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".tmp"))
                    .collect(Collectors.toList());
        }
    }
}
