package dev.lokr.benchmarks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The helpers of the paired-ratio and chart reports: the median leaves its input alone; dims and batch name the row once. */
class ReportHelpersTest {

    @Test
    void theMedianDoesNotSortItsInput() {
        double[] values = {4, 1, 3, 2};
        assertEquals(2.5, PairedRatios.median(values));
        assertArrayEquals(new double[] {4, 1, 3, 2}, values, "not modified");
    }

    @Test
    void dimsAndBatchAreNamedOnceEvenWhenTheyDiffer() {
        Map<String, Object> small = Map.of("dims", "1024x1024", "batch", "64", "rank", "8");
        Map<String, Object> big = Map.of("dims", "4096x4096", "batch", "256", "rank", "8");
        assertEquals("1024x1024 b64", ResultsChart.setting(small, List.of(small, big)));
        assertEquals("4096x4096 b256", ResultsChart.setting(big, List.of(small, big)));
    }
}
