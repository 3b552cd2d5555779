package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * JSON from files is parsed within the free heap: a hostile safetensors header or PEFT config of tiny values,
 * small enough to pass the header's size check, ends in a format error naming the heap, not in an
 * {@link OutOfMemoryError}. Checked in a child JVM with a 64 MiB heap: the config's values would not fit in it,
 * and neither would those of a header 4% within the size check of 24 bytes of heap per header byte (without the
 * budget, the child ran out of memory on both).
 */
class HostileHeapTest {

    @TempDir
    Path dir;

    /** {@code {"k0":{"a":{},"b":{},...},"k1":{...},...}}: about 160 bytes of heap per 6 bytes of text. */
    static String tinyValues(long bytes) {
        StringBuilder inner = new StringBuilder("{");
        String names = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        for (int i = 0; i < names.length(); i++) {
            inner.append(i == 0 ? "" : ",").append('"').append(names.charAt(i)).append("\":{}");
        }
        inner.append('}');
        StringBuilder out = new StringBuilder("{");
        for (int i = 0; out.length() + inner.length() + 12 < bytes; i++) {
            out.append(i == 0 ? "" : ",").append("\"k").append(i).append("\":").append(inner);
        }
        return out.append('}').toString();
    }

    static byte[] safetensors(String header) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return b.array();
    }

    @Test
    void theParserStopsAtItsHeapBudget() {
        String text = tinyValues(10_000);
        JsonException e = assertThrows(JsonException.class, () -> Json.parse(text, 4, 50_000));
        assertTrue(e.heapLimitExceeded() && e.limitExceeded(), e.getMessage());
        assertTrue(e.getMessage().contains("the parsed values would take more than 0 MiB of heap (50000 bytes)"),
                e.getMessage());
        assertTrue(Json.parse(text, 4, 10_000_000) instanceof Map, "within a budget it parses");
        assertEquals(Json.parse(text), Json.parse(text, Integer.MAX_VALUE, 10_000_000));
        JsonException array = assertThrows(JsonException.class, () -> Json.parse("[1,2,3]", 2, 10_000));
        assertTrue(array.limitExceeded() && !array.heapLimitExceeded(), array.getMessage());
        // every kind of value counts
        for (String t : List.of("[" + "1,".repeat(2000) + "1]", "[" + "\"x\",".repeat(2000) + "\"x\"]",
                "[" + "[],".repeat(2000) + "[]]", "\"" + "y".repeat(60_000) + "\"",
                "[" + "\"\\u00e9\",".repeat(2000) + "\"z\"]")) {
            assertThrows(JsonException.class, () -> Json.parse(t, Integer.MAX_VALUE, 20_000), t.substring(0, 12));
            Json.parse(t, Integer.MAX_VALUE, 1_000_000);
        }
        assertThrows(IllegalArgumentException.class, () -> Json.parse("1", 1, -1));
    }

    /** Run in a child JVM: opens or reads the file, prints the outcome's class and message on one line. */
    public static void main(String[] args) {
        try {
            if (args[0].equals("header")) {
                // sized from this JVM's free heap: 4% within the size check of 24 bytes of heap per header byte
                System.gc();
                Files.write(Path.of(args[1]), safetensors(tinyValues((long) (Heap.free() * 0.96 / 24))));
                System.gc();
                SafetensorsReader.open(Path.of(args[1])).close();
            } else {
                AdapterFile.read(Path.of(args[1])).close();
            }
            System.out.println("opened");
        } catch (OutOfMemoryError e) {
            System.out.println("OutOfMemoryError");
        } catch (Exception e) {
            System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    private String child(String what, Path file) throws IOException, InterruptedException {
        return inSmallHeap(HostileHeapTest.class, what, file.toString());
    }

    /**
     * Runs {@code main}'s {@code main(args)} in a child JVM with a 64 MiB heap (serial GC) and this class path.
     *
     * @return what it printed, trimmed
     */
    static String inSmallHeap(Class<?> main, String... args) throws IOException, InterruptedException {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(javaBin, "-Xmx64m", "-XX:+UseSerialGC", "-cp",
                System.getProperty("java.class.path"), main.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the child ended");
            return out;
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void aHostileHeaderWithinTheSizeCheckIsAFormatError() throws Exception {
        // the child writes a header just within the size check; its values would take about all of the heap
        Path file = dir.resolve("tiny.safetensors");
        String out = child("header", file);
        assertTrue(out.startsWith("SafetensorsFormatException: ") && out.contains("needs more heap to parse")
                && out.contains("-Xmx"), out);
    }

    @Test
    void aHostilePeftConfigIsAFormatError() throws Exception {
        Path folder = Files.createDirectory(dir.resolve("peft"));
        String header = "{\"base_model.model.fc.lokr_w1\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"base_model.model.fc.lokr_w2\":{\"dtype\":\"F32\",\"shape\":[4,4],\"data_offsets\":[16,80]}}";
        byte[] h = safetensors(header);
        byte[] all = new byte[h.length + 80];
        System.arraycopy(h, 0, all, 0, h.length);
        Files.write(folder.resolve("adapter_model.safetensors"), all);
        String config = "{\"peft_type\":\"LOKR\",\"r\":8,\"alpha\":8,\"x\":" + tinyValues(4_000_000) + "}";
        Files.writeString(folder.resolve("adapter_config.json"), config);
        String out = child("adapter", folder.resolve("adapter_model.safetensors"));
        assertTrue(out.startsWith("AdapterFormatException: ") && out.contains("needs more heap to parse")
                && out.contains("-Xmx"), out);
    }
}
