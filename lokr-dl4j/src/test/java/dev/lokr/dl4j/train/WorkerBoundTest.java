package dev.lokr.dl4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.lokr.dl4j.train.PrefetchTestSupport.SeededIterator;
import org.junit.jupiter.api.Test;

/** {@link TrainingOptions#MAX_WORKERS} is the last worker count accepted: one more is refused, in both places. */
class WorkerBoundTest {

    private static DeviceStaging noStaging() {
        return new DeviceStaging(false, false, msg -> {
            throw new AssertionError("unexpected notice: " + msg);
        });
    }

    @Test
    void oneWorkerPastTheBoundIsRefused() {
        Platform linux = new Platform("Linux", false, 4);
        int over = TrainingOptions.MAX_WORKERS + 1;
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TrainingOptions.builder(linux).numWorkers(over).build());
        assertEquals("numWorkers must be <= 256 (threads that preprocess batches), got 257", e.getMessage());
        IllegalArgumentException it = assertThrows(IllegalArgumentException.class,
                () -> new PrefetchingDataSetIterator(new SeededIterator(1, 1, 1, 1), over, 1, true, noStaging()));
        assertEquals("numWorkers must be within 0 to 256, got 257", it.getMessage());
        // the bound itself: only queueSize workers start, so this is cheap
        try (PrefetchingDataSetIterator ok = new PrefetchingDataSetIterator(new SeededIterator(1, 1, 1, 1),
                TrainingOptions.MAX_WORKERS, 1, true, noStaging())) {
            ok.next();
        }
    }
}
