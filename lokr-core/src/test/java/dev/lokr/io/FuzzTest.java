package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.LongStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Mutates valid files (generated ones and the parity-case files) at random: opening one and reading
 * every tensor must either succeed or throw {@link SafetensorsFormatException}. Anything else
 * (another exception, an error such as OutOfMemoryError, a hang) fails with the seed and iteration.
 */
class FuzzTest {
    private static final int ITERATIONS_PER_SEED = 500;
    private static final byte[] INTERESTING =
            "{}[]\",:-0123456789eE. \\/ntfu\u0000\u00ff".getBytes(StandardCharsets.ISO_8859_1);
    private static final String[] NUMBERS = {
        "-1",
        "0",
        "1e400",
        "0.5",
        "99999999999999999999",
        "9223372036854775807",
        "4294967296",
        "-9223372036854775808",
        "1E2",
        "00",
        "",
        "null",
        "\"4\""
    };

    private static final List<byte[]> corpus = new ArrayList<>();
    private static final List<String> corpusNames = new ArrayList<>();

    @TempDir static Path dir;

    @BeforeAll
    static void buildCorpus() throws IOException {
        Path a = dir.resolve("gen-a.safetensors");
        SafetensorsWriter.write(
                a,
                Map.of("format", "pt", "note", "x"),
                List.of(
                        SafetensorsWriter.Tensor.of(
                                "w.lokr_w1",
                                Nd4j.createFromArray(new float[][] {{1, 2, 3}, {4, 5, 6}}),
                                DType.F32),
                        SafetensorsWriter.Tensor.of("alpha", Nd4j.scalar(4.0), DType.F16),
                        SafetensorsWriter.Tensor.of(
                                "empty", Nd4j.create(DataType.FLOAT, 0, 3), DType.BF16),
                        SafetensorsWriter.Tensor.of(
                                "d", Nd4j.createFromArray(0.1, -2e300, 3, 4), DType.F64)));
        Path b = dir.resolve("gen-b.safetensors");
        SafetensorsWriter.write(
                b,
                null,
                List.of(SafetensorsWriter.Tensor.of("x", Nd4j.rand(DataType.FLOAT, 5), DType.F32)));
        Path c = dir.resolve("gen-c.safetensors");
        List<SafetensorsWriter.Tensor> many = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            many.add(
                    SafetensorsWriter.Tensor.of(
                            "t" + i,
                            Nd4j.rand(DataType.FLOAT, i % 3 + 1, 2),
                            DType.values()[i % 4]));
        }
        SafetensorsWriter.write(c, Map.of(), many);
        for (Path p : List.of(a, b, c)) {
            corpus.add(Files.readAllBytes(p));
            corpusNames.add(p.getFileName().toString());
        }
        for (Path p : IoTestSupport.parityFiles()) {
            if (Files.size(p) <= 64 * 1024) {
                corpus.add(Files.readAllBytes(p));
                corpusNames.add(IoTestSupport.parityRoot().relativize(p).toString());
            }
        }
    }

    static LongStream seeds() {
        return LongStream.of(0xF0220001L, 0xF0220002L, 0xF0220003L, 0xF0220004L);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void mutatedFilesOpenOrFailCleanly(long seed) throws IOException {
        SplittableRandom r = new SplittableRandom(seed);
        int opened = 0;
        int rejected = 0;
        for (int it = 0; it < ITERATIONS_PER_SEED; it++) {
            int pick = r.nextInt(corpus.size());
            StringBuilder how = new StringBuilder(corpusNames.get(pick));
            byte[] bytes = mutate(corpus.get(pick), r, how);
            if (r.nextInt(8) == 0) {
                bytes = mutate(bytes, r, how);
            }
            Path file = dir.resolve("fuzz-" + seed + "-" + it + ".safetensors");
            Files.write(file, bytes);
            long start = System.nanoTime();
            try {
                readEverything(file);
                opened++;
            } catch (SafetensorsFormatException expected) {
                rejected++;
                if (!expected.getMessage().startsWith(file.toString())) {
                    fail(
                            "seed "
                                    + seed
                                    + ", iteration "
                                    + it
                                    + " ("
                                    + how
                                    + "): message does not name the file: "
                                    + expected.getMessage());
                }
            } catch (Throwable t) {
                throw new AssertionError(
                        "seed " + seed + ", iteration " + it + " (" + how + "): " + t, t);
            } finally {
                Files.deleteIfExists(file);
            }
            long millis = (System.nanoTime() - start) / 1_000_000;
            if (millis > 5_000) {
                fail(
                        "seed "
                                + seed
                                + ", iteration "
                                + it
                                + " ("
                                + how
                                + ") took "
                                + millis
                                + " ms");
            }
        }
        assertTrue(
                opened > 20 && rejected > 20,
                "seed " + seed + ": opened " + opened + ", rejected " + rejected);
    }

    private static void readEverything(Path file) throws IOException {
        try (SafetensorsReader in = SafetensorsReader.open(file)) {
            in.metadata().size();
            for (TensorInfo t : in.tensors()) {
                INDArray f = in.read(t.name(), DataType.FLOAT);
                if (!Arrays.equals(f.shape(), t.shape())) {
                    throw new AssertionError("shape " + Arrays.toString(f.shape()) + " for " + t);
                }
                double[] d = in.readDoubles(t.name());
                if (d.length != t.numel()) {
                    throw new AssertionError(d.length + " values for " + t);
                }
                if (in.raw(t.name()).remaining() != t.byteLength()) {
                    throw new AssertionError("raw length for " + t);
                }
            }
        }
    }

    private static byte[] mutate(byte[] original, SplittableRandom r, StringBuilder how) {
        byte[] b = original.clone();
        if (b.length < 8) { // an earlier mutation truncated the prefix: grow the file again
            byte[] longer = Arrays.copyOf(b, b.length + r.nextInt(1, 32));
            for (int i = b.length; i < longer.length; i++) {
                longer[i] = (byte) r.nextInt(256);
            }
            how.append(", regrow to ").append(longer.length);
            return longer;
        }
        long headerLength =
                b.length >= 8 ? ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0) : 0;
        int headerEnd =
                (int)
                        Math.max(
                                8,
                                Math.min(
                                        b.length,
                                        8 + Math.max(0, Math.min(headerLength, b.length))));
        int kind = r.nextInt(10);
        switch (kind) {
            case 0 -> { // flip bits in the header
                int n = r.nextInt(1, 4);
                for (int i = 0; i < n && headerEnd > 8; i++) {
                    int at = r.nextInt(8, headerEnd);
                    b[at] ^= (byte) (1 << r.nextInt(8));
                    how.append(", flip bit at ").append(at);
                }
            }
            case 1 -> { // JSON-significant characters in the header
                int n = r.nextInt(1, 4);
                for (int i = 0; i < n && headerEnd > 8; i++) {
                    int at = r.nextInt(8, headerEnd);
                    b[at] = INTERESTING[r.nextInt(INTERESTING.length)];
                    how.append(", set ").append(at).append(" to ").append(b[at]);
                }
            }
            case 2 -> { // random header byte
                if (headerEnd > 8) {
                    int at = r.nextInt(8, headerEnd);
                    b[at] = (byte) r.nextInt(256);
                    how.append(", random byte at ").append(at);
                }
            }
            case 3 -> { // the length prefix
                if (b.length >= 8) {
                    long v =
                            switch (r.nextInt(5)) {
                                case 0 -> r.nextLong();
                                case 1 -> headerLength + r.nextInt(-16, 17);
                                case 2 -> 0x7FFFFFFFFFFFFFF0L;
                                case 3 -> -1L;
                                default -> headerLength ^ (1L << r.nextInt(64));
                            };
                    ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
                    how.append(", length prefix ").append(Long.toUnsignedString(v));
                }
            }
            case 4 -> { // truncate
                int len = r.nextInt(b.length + 1);
                how.append(", truncate to ").append(len);
                return Arrays.copyOf(b, len);
            }
            case 5 -> { // data bytes: the file stays valid
                for (int i = 0; i < 8 && headerEnd < b.length; i++) {
                    int at = r.nextInt(headerEnd, b.length);
                    b[at] = (byte) r.nextInt(256);
                }
                how.append(", data bytes");
            }
            case 6 -> { // replace a run of digits in the header with another number
                String text = new String(b, 8, headerEnd - 8, StandardCharsets.ISO_8859_1);
                int at = r.nextInt(text.length() + 1);
                int s = at;
                while (s < text.length() && !Character.isDigit(text.charAt(s))) {
                    s++;
                }
                int e = s;
                while (e < text.length() && Character.isDigit(text.charAt(e))) {
                    e++;
                }
                String number =
                        r.nextBoolean()
                                ? NUMBERS[r.nextInt(NUMBERS.length)]
                                : Long.toString(r.nextLong(-5, 1_000_000));
                String changed = text.substring(0, s) + number + text.substring(e);
                how.append(", number at ").append(s).append(" -> ").append(number);
                return withHeader(
                        b,
                        headerEnd,
                        changed.getBytes(StandardCharsets.ISO_8859_1),
                        r.nextInt(4) != 0);
            }
            case 7 -> { // delete or insert bytes in the header
                int at = r.nextInt(8, headerEnd + 1);
                byte[] header = Arrays.copyOfRange(b, 8, headerEnd);
                byte[] changed;
                int rel = at - 8;
                if (r.nextBoolean() && header.length > 0) {
                    int n = Math.min(r.nextInt(1, 8), header.length - rel);
                    changed = new byte[header.length - n];
                    System.arraycopy(header, 0, changed, 0, rel);
                    System.arraycopy(header, rel + n, changed, rel, header.length - rel - n);
                    how.append(", delete ").append(n).append(" at ").append(at);
                } else {
                    int n = r.nextInt(1, 8);
                    changed = new byte[header.length + n];
                    System.arraycopy(header, 0, changed, 0, rel);
                    for (int i = 0; i < n; i++) {
                        changed[rel + i] = INTERESTING[r.nextInt(INTERESTING.length)];
                    }
                    System.arraycopy(header, rel, changed, rel + n, header.length - rel);
                    how.append(", insert ").append(n).append(" at ").append(at);
                }
                return withHeader(b, headerEnd, changed, r.nextBoolean());
            }
            case 8 -> { // append bytes
                int n = r.nextInt(1, 64);
                byte[] longer = Arrays.copyOf(b, b.length + n);
                for (int i = b.length; i < longer.length; i++) {
                    longer[i] = (byte) r.nextInt(256);
                }
                how.append(", append ").append(n);
                return longer;
            }
            default -> { // swap two header bytes
                if (headerEnd > 9) {
                    int x = r.nextInt(8, headerEnd);
                    int y = r.nextInt(8, headerEnd);
                    byte t = b[x];
                    b[x] = b[y];
                    b[y] = t;
                    how.append(", swap ").append(x).append(" and ").append(y);
                }
            }
        }
        return b;
    }

    /** Replaces the header bytes [8, headerEnd) and optionally fixes the length prefix. */
    private static byte[] withHeader(byte[] b, int headerEnd, byte[] header, boolean fixPrefix) {
        byte[] out = new byte[8 + header.length + (b.length - headerEnd)];
        System.arraycopy(b, 0, out, 0, Math.min(8, b.length));
        System.arraycopy(header, 0, out, 8, header.length);
        System.arraycopy(b, headerEnd, out, 8 + header.length, b.length - headerEnd);
        if (fixPrefix) {
            ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        }
        return out;
    }
}
