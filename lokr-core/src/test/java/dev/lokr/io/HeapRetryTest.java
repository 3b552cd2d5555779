package dev.lokr.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Heap#parseJson}: a budget broken only because garbage looked like used heap is measured again after a
 * collection, and the text parses. Run in a child JVM with a 64 MiB heap: the text's values take half the free
 * heap by the parser's estimate; garbage leaves 40% of it free (a budget of 30%) at the first try.
 */
class HeapRetryTest {

    /** Child JVM: prints the parsed list's size, or the outcome's class and message. */
    public static void main(String[] args) {
        try {
            System.gc();
            long clean = Heap.free();
            int n = (int) (clean * 0.5 / 64);   // "{}," is an empty map (56 bytes) and a list element (8)
            String text = "[" + "{},".repeat(n - 1) + "{}]";
            System.gc();
            clean = Heap.free();
            List<byte[]> garbage = new ArrayList<>();
            while (Heap.free() > clean * 0.4) {
                garbage.add(new byte[1 << 20]);
            }
            garbage = null;   // unreachable, but counted as used until the next collection
            Object parsed = Heap.parseJson(text, Integer.MAX_VALUE);
            System.out.println(((List<?>) parsed).size() == n ? "parsed" : "wrong size");
        } catch (OutOfMemoryError e) {
            System.out.println("OutOfMemoryError");
        } catch (Exception e) {
            System.out.println(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    @Test
    void aBudgetBrokenByGarbageIsMeasuredAgainAfterACollection() throws IOException, InterruptedException {
        assertEquals("parsed", HostileHeapTest.inSmallHeap(HeapRetryTest.class));
    }
}
