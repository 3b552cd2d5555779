package dev.lokr.dl4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.ToIntFunction;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The consumer's calls into the wrapped iterator ({@code inputColumns()}, {@code batch()}, ...) never run while
 * the reader thread is inside it: DL4J's iterators are not thread-safe.
 */
class SourceCallsTest {

    /** A source whose second {@code next()} blocks until released, counting the threads inside it. */
    static final class GatedIterator extends PrefetchTestSupport.SeededIterator {
        private static final long serialVersionUID = 1L;
        final AtomicInteger inside = new AtomicInteger();
        final AtomicInteger overlaps = new AtomicInteger();
        final CountDownLatch readerInside = new CountDownLatch(1);
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger metadataCalls = new AtomicInteger();

        GatedIterator() {
            super(3, 4, 2, 3);
        }

        private void enter() {
            if (inside.incrementAndGet() > 1) {
                overlaps.incrementAndGet();
            }
        }

        @Override
        public DataSet next() {
            enter();
            try {
                if (cursor == 1) {
                    readerInside.countDown();
                    await(release);
                }
                return super.next();
            } finally {
                inside.decrementAndGet();
            }
        }

        private int metadata(int value) {
            enter();
            try {
                metadataCalls.incrementAndGet();
                return value;
            } finally {
                inside.decrementAndGet();
            }
        }

        @Override
        public int inputColumns() {
            return metadata(super.inputColumns());
        }

        @Override
        public int totalOutcomes() {
            return metadata(super.totalOutcomes());
        }

        @Override
        public int batch() {
            return metadata(super.batch());
        }

        @Override
        public List<String> getLabels() {
            metadata(0);
            return super.getLabels();
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            assertTrue(latch.await(20, TimeUnit.SECONDS), "latch not released");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static Stream<Arguments> calls() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (boolean persistent : new boolean[] {false, true}) {
            b.add(Arguments.of("inputColumns", (ToIntFunction<PrefetchingDataSetIterator>) it -> it.inputColumns(),
                    3, persistent));
            b.add(Arguments.of("totalOutcomes", (ToIntFunction<PrefetchingDataSetIterator>) it -> it.totalOutcomes(),
                    2, persistent));
            b.add(Arguments.of("batch", (ToIntFunction<PrefetchingDataSetIterator>) it -> it.batch(), 2, persistent));
            b.add(Arguments.of("getLabels",
                    (ToIntFunction<PrefetchingDataSetIterator>) it -> it.getLabels() == null ? 0 : 1, 1, persistent));
        }
        return b.build();
    }

    @ParameterizedTest(name = "{0}, persistent={3}")
    @MethodSource("calls")
    void aCallWaitsWhileTheReaderIsInsideTheSource(String name, ToIntFunction<PrefetchingDataSetIterator> call,
                                                   int expected, boolean persistent) throws Exception {
        GatedIterator src = new GatedIterator();
        PrefetchingDataSetIterator it = new PrefetchingDataSetIterator(src, 1, 2, persistent,
                new DeviceStaging(false, false, msg -> {
                    throw new AssertionError("unexpected notice: " + msg);
                }));
        try {
            assertTrue(it.hasNext(), name);
            await(src.readerInside);   // the reader is now inside next() for batch 1
            AtomicInteger result = new AtomicInteger(-1);
            Thread caller = new Thread(() -> result.set(call.applyAsInt(it)));
            caller.setDaemon(true);
            caller.start();
            caller.join(300);
            assertEquals(0, src.metadataCalls.get(), name + " entered the source while the reader was inside it");
            src.release.countDown();
            caller.join(Duration.ofSeconds(20).toMillis());
            assertFalse(caller.isAlive(), name + " did not return after the reader left the source");
            assertEquals(expected, result.get(), name);
            assertEquals(1, src.metadataCalls.get(), name);
            for (int i = 0; i < 4; i++) {
                assertTrue(it.hasNext(), name + ": batch " + i);
                assertEquals(i, it.next().getFeatures().getFloat(0), 0f, name + ": batch " + i);
            }
            assertFalse(it.hasNext(), name);
            assertEquals(0, src.overlaps.get(), name + ": two threads were inside the source at once");
        } finally {
            src.release.countDown();
            it.close();
        }
    }
}
