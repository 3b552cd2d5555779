package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed files: each must fail to open with a SafetensorsFormatException naming file and
 * problem.
 */
class BadFilesTest {
    @TempDir Path dir;

    private static final String F32_2X3 =
            "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";

    private static String entry(String dtype, String shape, String offsets) {
        return "{\"dtype\":\""
                + dtype
                + "\",\"shape\":"
                + shape
                + ",\"data_offsets\":"
                + offsets
                + "}";
    }

    private static Arguments bad(String what, byte[] bytes, String tensor, String fragment) {
        return Arguments.of(what, bytes, tensor, fragment);
    }

    private static Arguments badHeader(
            String what, String header, int dataBytes, String tensor, String fragment) {
        return bad(what, IoTestSupport.file(header, new byte[dataBytes]), tensor, fragment);
    }

    static Stream<Arguments> badFiles() {
        byte[] invalidUtf8 =
                "{\"a\u00ff\":1}".getBytes(StandardCharsets.ISO_8859_1); // a lone 0xFF byte
        return Stream.of(
                bad("empty file", new byte[0], null, "file is empty"),
                bad("5-byte file", new byte[5], null, "file has only 5 bytes"),
                bad(
                        "header length 0",
                        IoTestSupport.file(0, new byte[0], new byte[16]),
                        null,
                        "header length is 0"),
                bad(
                        "header longer than file",
                        IoTestSupport.file(100, "{}".getBytes(StandardCharsets.UTF_8), new byte[8]),
                        null,
                        "header length 100 is larger than the 10 bytes after the length prefix"),
                bad(
                        "header length near 2^63",
                        IoTestSupport.file(
                                0x7FFFFFFFFFFFFFF0L,
                                "{}".getBytes(StandardCharsets.UTF_8),
                                new byte[0]),
                        null,
                        "header length 9223372036854775792 is larger than"),
                bad(
                        "header length 2^64-1",
                        IoTestSupport.file(
                                0xFFFFFFFFFFFFFFFFL,
                                "{}".getBytes(StandardCharsets.UTF_8),
                                new byte[0]),
                        null,
                        "header length 18446744073709551615 is larger than"),
                bad(
                        "header length 2^63",
                        IoTestSupport.file(Long.MIN_VALUE, new byte[0], new byte[0]),
                        null,
                        "header length 9223372036854775808 is larger than"),
                bad(
                        "invalid UTF-8",
                        IoTestSupport.file(invalidUtf8.length, invalidUtf8, new byte[0]),
                        null,
                        "header is not valid UTF-8 near byte 11"),
                badHeader(
                        "invalid JSON",
                        "{\"a\":",
                        0,
                        null,
                        "header is not valid JSON: line 1, column 6"),
                badHeader(
                        "JSON with trailing garbage", "{} x", 0, null, "header is not valid JSON"),
                badHeader("trailing comma", "{\"x\":" + F32_2X3 + ",}", 24, null, "trailing comma"),
                badHeader(
                        "non-object JSON",
                        "[1,2]",
                        0,
                        null,
                        "header is a JSON array, not an object"),
                badHeader(
                        "JSON string", "\"x\"", 0, null, "header is a JSON string, not an object"),
                badHeader(
                        "truncated data",
                        "{\"x\":" + F32_2X3 + "}",
                        10,
                        "x",
                        "data_offsets [0, 24] reach past the end of the data section (10 bytes"),
                badHeader(
                        "overlap",
                        "{\"a\":"
                                + entry("F32", "[2]", "[0,8]")
                                + ",\"b\":"
                                + entry("F32", "[2]", "[4,12]")
                                + "}",
                        12,
                        "b",
                        "bytes [4, 12) of the data section overlap tensor 'a' at [0, 8)"),
                badHeader(
                        "overlap by one byte",
                        "{\"a\":"
                                + entry("F32", "[2]", "[0,8]")
                                + ",\"b\":"
                                + entry("F16", "[2]", "[7,11]")
                                + "}",
                        12,
                        "b",
                        "bytes [7, 11) of the data section overlap tensor 'a' at [0, 8)"),
                badHeader(
                        "overlap, unsorted",
                        "{\"b\":"
                                + entry("F32", "[3]", "[8,20]")
                                + ",\"a\":"
                                + entry("F32", "[4]", "[0,16]")
                                + "}",
                        20,
                        "b",
                        "overlap tensor 'a'"),
                badHeader(
                        "same range twice",
                        "{\"a\":"
                                + entry("F32", "[2]", "[0,8]")
                                + ",\"b\":"
                                + entry("F32", "[2]", "[0,8]")
                                + "}",
                        8,
                        "b",
                        "overlap tensor 'a'"),
                badHeader(
                        "out-of-range offsets",
                        "{\"x\":" + entry("F32", "[250]", "[0,1000]") + "}",
                        24,
                        "x",
                        "reach past the end"),
                badHeader(
                        "negative offsets",
                        "{\"x\":" + entry("F32", "[2]", "[-8,0]") + "}",
                        24,
                        "x",
                        "data_offsets [-8, 0] are negative"),
                badHeader(
                        "begin > end",
                        "{\"x\":" + entry("F32", "[]", "[8,4]") + "}",
                        24,
                        "x",
                        "data_offsets [8, 4] have begin > end"),
                badHeader(
                        "sub-byte dtype F4",
                        "{\"x\":" + entry("F4", "[2]", "[0,1]") + "}",
                        1,
                        "x",
                        "unsupported dtype 'F4'"),
                badHeader(
                        "dtype XYZ",
                        "{\"x\":" + entry("XYZ", "[2]", "[0,2]") + "}",
                        2,
                        "x",
                        "unsupported dtype 'XYZ' (supported: F32, F16, BF16, F64; copied unchanged: BOOL"),
                badHeader(
                        "dtype not a string",
                        "{\"x\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}",
                        4,
                        "x",
                        "dtype is a JSON number, expected a string"),
                badHeader(
                        "byte count mismatch",
                        "{\"x.lokr_w1\":" + entry("F32", "[2,3]", "[0,12]") + "}",
                        24,
                        "x.lokr_w1",
                        "data_offsets [0, 12] give 12 bytes but shape [2, 3] x F32 needs 24"),
                badHeader(
                        "negative dims",
                        "{\"x\":" + entry("F32", "[-1,2]", "[0,8]") + "}",
                        8,
                        "x",
                        "shape [-1, 2] has a negative dimension"),
                badHeader(
                        "overflowing dims",
                        "{\"x\":" + entry("F32", "[4294967296,4294967296]", "[0,8]") + "}",
                        8,
                        "x",
                        "has more bytes than fit in a long"),
                badHeader(
                        "overflowing bytes",
                        "{\"x\":" + entry("F64", "[2305843009213693952]", "[0,8]") + "}",
                        8,
                        "x",
                        "has more bytes than fit in a long"),
                badHeader(
                        "dimension beyond long",
                        "{\"x\":" + entry("F32", "[1e30]", "[0,8]") + "}",
                        8,
                        "x",
                        "shape element 0 is a non-integer or out-of-range number"),
                badHeader(
                        "fractional dim",
                        "{\"x\":" + entry("F32", "[1.5]", "[0,8]") + "}",
                        8,
                        "x",
                        "shape element 0 is a non-integer"),
                badHeader(
                        "dim as string",
                        "{\"x\":" + entry("F32", "[\"2\"]", "[0,8]") + "}",
                        8,
                        "x",
                        "shape element 0 is a JSON string"),
                badHeader(
                        "shape not an array",
                        "{\"x\":" + entry("F32", "2", "[0,8]") + "}",
                        8,
                        "x",
                        "shape is a JSON number"),
                badHeader(
                        "three offsets",
                        "{\"x\":" + entry("F32", "[2]", "[0,8,8]") + "}",
                        8,
                        "x",
                        "data_offsets has 3 elements, expected an array of 2 integers"),
                badHeader(
                        "offset as float",
                        "{\"x\":" + entry("F32", "[2]", "[0,8.0]") + "}",
                        8,
                        "x",
                        "data_offsets element 1 is a non-integer"),
                badHeader(
                        "duplicate names",
                        "{\"x\":" + F32_2X3 + ",\"x\":" + F32_2X3 + "}",
                        24,
                        null,
                        "duplicate key 'x'"),
                badHeader(
                        "empty name",
                        "{\"\":" + entry("F32", "[2]", "[0,8]") + "}",
                        8,
                        null,
                        "tensor with an empty name"),
                badHeader(
                        "entry not an object",
                        "{\"x\":[1]}",
                        0,
                        "x",
                        "header entry is a JSON array"),
                badHeader(
                        "missing data_offsets",
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[]}}",
                        4,
                        "x",
                        "header entry has no 'data_offsets'"),
                badHeader(
                        "missing dtype",
                        "{\"x\":{\"shape\":[],\"data_offsets\":[0,4]}}",
                        4,
                        "x",
                        "header entry has no 'dtype'"),
                badHeader(
                        "extra key",
                        "{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"extra\":1}}",
                        4,
                        "x",
                        "unexpected key 'extra'"),
                badHeader(
                        "metadata value not a string",
                        "{\"__metadata__\":{\"k\":1}}",
                        0,
                        null,
                        "__metadata__ value for key 'k' is a JSON number, expected a string"),
                badHeader(
                        "metadata value null",
                        "{\"__metadata__\":{\"k\":null}}",
                        0,
                        null,
                        "is a JSON null"),
                badHeader(
                        "metadata not an object",
                        "{\"__metadata__\":[\"a\"]}",
                        0,
                        null,
                        "__metadata__ is a JSON array"),
                badHeader("depth bomb", "[".repeat(10000), 0, null, "nesting deeper than 64"),
                badHeader(
                        "huge number",
                        "{\"x\":" + entry("F32", "[1e999]", "[0,4]") + "}",
                        4,
                        null,
                        "out of the range of a double"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badFiles")
    void rejected(String what, byte[] bytes, String tensor, String fragment) throws IOException {
        Path file = dir.resolve("bad.safetensors");
        Files.write(file, bytes);
        SafetensorsFormatException e =
                assertTimeoutPreemptively(
                        Duration.ofSeconds(10),
                        () ->
                                assertThrows(
                                        SafetensorsFormatException.class,
                                        () -> SafetensorsReader.open(file).close(),
                                        what));
        String msg = e.getMessage();
        assertTrue(msg.startsWith(file + ": "), what + ": " + msg);
        assertTrue(msg.contains(fragment), what + ": expected '" + fragment + "' in: " + msg);
        assertEquals(file.toString(), e.file(), what);
        assertEquals(tensor, e.tensor(), what + ": " + msg);
        if (tensor != null) {
            assertTrue(msg.contains("tensor '" + tensor + "': "), what + ": " + msg);
        }
        assertTrue(msg.endsWith(e.problem()), what);
    }

    @Test
    void exampleMessage() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        Files.write(
                file,
                IoTestSupport.file(
                        "{\"x.lokr_w1\":" + entry("F32", "[2,3]", "[0,12]") + "}", new byte[12]));
        SafetensorsFormatException e =
                assertThrows(SafetensorsFormatException.class, () -> SafetensorsReader.open(file));
        assertEquals(
                file
                        + ": tensor 'x.lokr_w1': data_offsets [0, 12] give 12 bytes but shape [2, 3] x F32 needs 24",
                e.getMessage());
    }

    @Test
    void headerOverTheLimitIsRejectedBeforeReadingIt() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        long length = SafetensorsReader.MAX_HEADER_BYTES + 8;
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(8 + length); // sparse
            f.write(
                    ByteBuffer.allocate(8)
                            .order(ByteOrder.LITTLE_ENDIAN)
                            .putLong(0, length)
                            .array());
        }
        SafetensorsFormatException e =
                assertThrows(SafetensorsFormatException.class, () -> SafetensorsReader.open(file));
        assertTrue(e.getMessage().contains("exceeds the limit of 104857600 bytes"), e.getMessage());
        assertNull(e.tensor());
    }

    @Test
    void aShapeOfMoreThan32DimensionsIsRejectedWhileParsing() throws IOException {
        String dims = String.join(",", java.util.Collections.nCopies(33, "1"));
        Path file = dir.resolve("rank33.safetensors");
        Files.write(file, IoTestSupport.file(entryHeader("x", entry("F32", "[" + dims + "]", "[0,4]")), new byte[4]));
        SafetensorsFormatException e =
                assertThrows(SafetensorsFormatException.class, () -> SafetensorsReader.open(file));
        assertTrue(e.getMessage().contains("more than " + SafetensorsReader.MAX_RANK + " elements"), e.getMessage());
        assertTrue(e.getMessage().contains("longer than a shape can be (at most 32 dimensions)")
                && !e.getMessage().contains("not valid JSON"), e.getMessage());
        Files.write(file, IoTestSupport.file("{\"x\": [1,]}", new byte[0]));
        e = assertThrows(SafetensorsFormatException.class, () -> SafetensorsReader.open(file));
        assertTrue(e.getMessage().contains("header is not valid JSON"), e.getMessage());
        String ok = String.join(",", java.util.Collections.nCopies(32, "1"));
        Files.write(file, IoTestSupport.file(entryHeader("x", entry("F32", "[" + ok + "]", "[0,4]")), new byte[4]));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertEquals(32, in.info("x").rank());
        }
    }

    private static String entryHeader(String name, String entry) {
        return "{\"" + name + "\":" + entry + "}";
    }

    @Test
    void aHeaderThatCouldExhaustTheHeapIsRefusedWithTheNeed() throws IOException {
        Path file = dir.resolve("big.safetensors");
        SafetensorsReader.requireHeap(file, 1000, 1000L * SafetensorsReader.HEAP_PER_HEADER_BYTE);
        SafetensorsFormatException e =
                assertThrows(
                        SafetensorsFormatException.class,
                        () -> SafetensorsReader.requireHeap(file, 100L << 20, 512L << 20));
        assertTrue(
                e.getMessage().contains("header of 104857600 bytes")
                        && e.getMessage().contains("only 512 MiB are free")
                        && e.getMessage().contains("-Xmx"),
                e.getMessage());
    }

    @Test
    void aFolderIsNotOpened() throws IOException {
        Path folder = Files.createDirectory(dir.resolve("folder.safetensors"));
        IOException e = assertThrows(IOException.class, () -> SafetensorsReader.open(folder));
        assertTrue(e.getMessage().contains(folder + ": not a regular file (a directory)"), e.getMessage());
    }

    @Test
    void aNamedPipeIsRefusedWithoutBlocking() throws Exception {
        Path fifo = dir.resolve("pipe.safetensors");
        try {
            Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
            org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0 && Files.exists(fifo), "mkfifo failed");
        } catch (IOException noMkfifo) {
            org.junit.jupiter.api.Assumptions.abort("no mkfifo here: " + noMkfifo);
        }
        IOException e =
                assertTimeoutPreemptively(
                        Duration.ofSeconds(20),
                        () -> assertThrows(IOException.class, () -> SafetensorsReader.open(fifo)));
        assertTrue(e.getMessage().contains("not a regular file (a pipe, device or other special file)"), e.getMessage());
    }

    @Test
    void jsonCauseIsKept() throws IOException {
        Path file = dir.resolve("bad.safetensors");
        Files.write(file, IoTestSupport.file("{\"a\":tru}", new byte[0]));
        SafetensorsFormatException e =
                assertThrows(SafetensorsFormatException.class, () -> SafetensorsReader.open(file));
        assertInstanceOf(JsonException.class, e.getCause());
    }

    @Test
    void toleratedOddities() throws IOException {
        // Gaps, trailing bytes, empty tensors anywhere, whitespace padding, and metadata anywhere
        // are fine.
        Path file = dir.resolve("odd.safetensors");
        String header =
                "  {\"b\":"
                        + entry("F32", "[1]", "[12,16]")
                        + ",\"__metadata__\":{},\"e\":"
                        + entry("F16", "[0,3]", "[14,14]")
                        + ",\"a\":"
                        + entry("BF16", "[2]", "[0,4]")
                        + "}\n\t ";
        Files.write(file, IoTestSupport.file(header, new byte[20]));
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            assertEquals(3, in.tensors().size());
            assertEquals("b", in.tensors().get(0).name());
            assertEquals(0, in.readDoubles("e").length);
        }
    }
}
