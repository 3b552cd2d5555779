package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * lokr's own {@code lokr.modules} metadata whose parsed values would not fit in the heap budget is refused with
 * a format error naming the heap, not ignored like badly typed metadata (its DoRA axis, detachNorm and rank
 * would be lost silently). Run in a child JVM with a 64 MiB heap: the header passes the size check of 24 bytes
 * of heap per header byte, but the metadata's empty objects (about 21 bytes of heap per byte by the parser's
 * estimate) break the budget of three quarters of the free heap.
 */
class MetadataHeapTest {

    @TempDir
    Path dir;

    /** Child JVM: writes an adapter whose metadata is sized from this JVM's free heap, then reads it. */
    public static void main(String[] args) {
        try {
            Path file = Path.of(args[0]);
            // ND4J first: what it keeps on the heap is not free for the read either
            List<SafetensorsWriter.Tensor> tensors = List.of(
                    SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w1", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32),
                    SafetensorsWriter.Tensor.of("lycoris_fc.lokr_w2", Nd4j.ones(DataType.FLOAT, 2, 2), DType.F32));
            System.gc();
            // [{},{},...]: no quotes to escape, so the header is about as long as the metadata; 4% within the
            // size check, its values take about 0.85 of the free heap by the parser's estimate (64 bytes a "{},")
            int n = (int) (Heap.free() * 0.96 / 24 / 3);
            String meta = "[" + "{},".repeat(n) + "{}]";
            SafetensorsWriter.write(file, Map.of(AdapterFile.META_MODULES, meta), tensors);
            meta = null;
            System.gc();
            AdapterFile.read(file).close();
            System.out.println("opened");
        } catch (OutOfMemoryError e) {
            System.out.println("OutOfMemoryError");
        } catch (Exception e) {
            System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    @Test
    void metadataBeyondTheHeapBudgetIsAFormatErrorNotIgnored() throws IOException, InterruptedException {
        String out = HostileHeapTest.inSmallHeap(MetadataHeapTest.class, dir.resolve("meta.safetensors").toString());
        assertTrue(out.startsWith("AdapterFormatException: ") && out.contains("metadata lokr.modules needs more"
                + " heap to parse") && out.contains("-Xmx"), out);
    }
}
