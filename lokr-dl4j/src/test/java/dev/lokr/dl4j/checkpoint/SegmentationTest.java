package dev.lokr.dl4j.checkpoint;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class SegmentationTest {

    @Test
    void everyKAndAutomatic() {
        assertArrayEquals(new int[] {0, 3, 6}, Segmentation.everyK(3).resolve(new long[8]));
        assertArrayEquals(new int[] {0}, Segmentation.everyK(10).resolve(new long[8]));
        assertArrayEquals(new int[] {0, 1, 2}, Segmentation.everyK(1).resolve(new long[3]));
        // ceil(sqrt(10)) = 4
        assertArrayEquals(new int[] {0, 4, 8}, Segmentation.sqrt().resolve(new long[10]));
        assertArrayEquals(new int[] {0}, Segmentation.sqrt().resolve(new long[1]));
        // quarters of ceil(n/4) from the end, the remainder first (the last segment is not recomputed)
        assertArrayEquals(new int[] {0, 4, 11, 18}, Segmentation.automatic().resolve(new long[25]));
        assertArrayEquals(new int[] {0, 2, 5, 8}, Segmentation.automatic().resolve(new long[11]));
        assertArrayEquals(new int[] {0, 2, 4, 6}, Segmentation.automatic().resolve(new long[8]));
        assertArrayEquals(new int[] {0, 2, 4}, Segmentation.automatic().resolve(new long[6]));
        assertArrayEquals(new int[] {0, 1, 3}, Segmentation.automatic().resolve(new long[5]));
        assertArrayEquals(new int[] {0, 1, 2, 3}, Segmentation.automatic().resolve(new long[4]));
        assertArrayEquals(new int[] {0, 1}, Segmentation.automatic().resolve(new long[2]));
        assertArrayEquals(new int[] {0}, Segmentation.automatic().resolve(new long[1]));
    }

    @Test
    void budgetIsGreedyAndOversizedUnitsStandAlone() {
        long[] bytes = {100, 100, 100, 500, 50, 50, 100};
        assertArrayEquals(new int[] {0, 2, 3, 4}, Segmentation.byMemoryBudget(200).resolve(bytes));
        assertArrayEquals(new int[] {0}, Segmentation.byMemoryBudget(10_000).resolve(bytes));
        assertArrayEquals(new int[] {0, 1, 2, 3, 4, 5, 6}, Segmentation.byMemoryBudget(1).resolve(bytes));
    }

    static Stream<Long> seeds() {
        return Stream.of(1L, 2L, 3L, 4L, 5L);
    }

    @ParameterizedTest
    @MethodSource("seeds")
    void budgetSegmentsStayWithinBudgetUnlessSingleUnit(long seed) {
        java.util.Random r = new java.util.Random(seed);
        long[] bytes = IntStream.range(0, 1 + r.nextInt(30)).mapToLong(i -> r.nextInt(1000)).toArray();
        long budget = 1 + r.nextInt(2000);
        int[] starts = Segmentation.byMemoryBudget(budget).resolve(bytes);
        String ctx = "seed " + seed + " bytes " + Arrays.toString(bytes) + " budget " + budget;
        for (int s = 0; s < starts.length; s++) {
            int to = s + 1 < starts.length ? starts[s + 1] : bytes.length;
            long sum = 0;
            for (int i = starts[s]; i < to; i++) {
                sum += bytes[i];
            }
            assertTrue(sum <= budget || to - starts[s] == 1, ctx + ": segment " + s + " holds " + sum);
            if (s + 1 < starts.length) {
                // greedy: the next unit did not fit
                assertTrue(sum > 0 && sum + bytes[to] > budget, ctx + ": segment " + s + " could have grown");
            }
        }
    }

    static IntStream unitCounts() {
        return IntStream.rangeClosed(1, 300);
    }

    @ParameterizedTest
    @MethodSource("unitCounts")
    void automaticIsAtMostFourSegmentsWithTheLastOnesFull(int n) {
        int[] starts = Segmentation.automatic().resolve(new long[n]);
        String ctx = "n " + n + " starts " + Arrays.toString(starts);
        int m = (n + 3) / 4;
        assertTrue(starts.length >= 1 && starts.length <= 4 && starts[0] == 0, ctx);
        assertEquals(Math.min(4, (n + m - 1) / m), starts.length, ctx);
        for (int s = 0; s < starts.length; s++) {
            int to = s + 1 < starts.length ? starts[s + 1] : n;
            assertTrue(to > starts[s], ctx + ": empty segment " + s);
            if (s > 0) {
                assertEquals(m, to - starts[s], ctx + ": segment " + s + " must hold ceil(n/4) units");
            } else {
                assertTrue(to - starts[s] <= m, ctx + ": the first segment holds at most ceil(n/4) units");
            }
        }
    }

    @Test
    void manualBoundariesAreValidated() {
        assertArrayEquals(new int[] {0, 2, 5}, Segmentation.manual(2, 5).resolve(new long[7]));
        assertArrayEquals(new int[] {0}, Segmentation.manual().resolve(new long[7]));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Segmentation.manual(0, 3));
        assertTrue(e.getMessage().contains("must be >= 1") && e.getMessage().contains("got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Segmentation.manual(3, 3));
        assertTrue(e.getMessage().contains("strictly increasing") && e.getMessage().contains("[3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Segmentation.manual(2, 7).resolve(new long[7]));
        assertTrue(e.getMessage().contains("boundary 7") && e.getMessage().contains("units 7"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Segmentation.everyK(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Segmentation.byMemoryBudget(0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
    }
}
