package dev.lokr.dl4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lokr.dl4j.train.PrefetchTestSupport.SeededIterator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

class TrainingOptionsTest {

    static Stream<Arguments> platforms() {
        return Stream.of(
                Arguments.of("Linux", false, 16, true, false, 4),
                Arguments.of("Linux", true, 2, true, true, 2),
                Arguments.of("Mac OS X", false, 8, true, false, 4),
                Arguments.of("Mac OS X", false, 1, true, false, 1),
                Arguments.of("Windows 11", false, 12, false, false, 4),
                Arguments.of("Windows Server 2022", true, 3, false, true, 3),
                Arguments.of("windows 10", false, 4, false, false, 4));
    }

    @ParameterizedTest(name = "{0} cuda={1} cpus={2}")
    @MethodSource("platforms")
    void defaultsFollowThePlatform(
            String os, boolean cuda, int cpus, boolean persistent, boolean pin, int workers) {
        String ctx = os + " cuda=" + cuda + " cpus=" + cpus;
        TrainingOptions o = TrainingOptions.builder(new Platform(os, cuda, cpus)).build();
        assertEquals(persistent, o.persistentWorkers(), ctx + ": persistentWorkers");
        assertEquals(pin, o.pinMemory(), ctx + ": pinMemory");
        assertEquals(workers, o.numWorkers(), ctx + ": numWorkers");
        assertEquals(4, o.queueSize(), ctx + ": queueSize");
        assertTrue(o.gradientCheckpointing(), ctx + ": gradientCheckpointing");
        assertFalse(o.offloadEncoder(), ctx + ": offloadEncoder");
    }

    @Test
    void currentPlatformDefaults() {
        Platform p = Platform.current();
        TrainingOptions o = TrainingOptions.defaults();
        assertEquals(TrainingOptions.builder(p).build(), o);
        assertEquals(
                !System.getProperty("os.name").toLowerCase().startsWith("windows"),
                o.persistentWorkers());
        assertEquals(Math.min(4, Runtime.getRuntime().availableProcessors()), o.numWorkers());
        assertEquals(DeviceStaging.isCudaBackend(), o.pinMemory());
    }

    @Test
    void validationNamesTheOptionAndValue() {
        Platform linux = new Platform("Linux", false, 4);
        IllegalArgumentException e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TrainingOptions.builder(linux).numWorkers(-3).build());
        assertEquals("numWorkers must be >= 0 (0 = no background threads), got -3", e.getMessage());
        e =
                assertThrows(
                        IllegalArgumentException.class,
                        () -> TrainingOptions.builder(linux).queueSize(0).build());
        assertEquals("queueSize must be >= 1, got 0", e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> TrainingOptions.builder(linux).numWorkers(Integer.MAX_VALUE).build());
        assertEquals("numWorkers must be <= 256 (threads that preprocess batches), got " + Integer.MAX_VALUE,
                e.getMessage());
        assertEquals(TrainingOptions.MAX_WORKERS,
                TrainingOptions.builder(linux).numWorkers(TrainingOptions.MAX_WORKERS).build().numWorkers());
        e = assertThrows(IllegalArgumentException.class, () -> new Platform("Linux", false, 0));
        assertEquals("availableProcessors must be >= 1, got 0", e.getMessage());
        // boundaries are accepted
        TrainingOptions o = TrainingOptions.builder(linux).numWorkers(0).queueSize(1).build();
        assertEquals(0, o.numWorkers());
        assertEquals(1, o.queueSize());
    }

    static Stream<Long> seeds() {
        return Stream.of(1L, 2L, 3L, 4L, 5L);
    }

    @ParameterizedTest(name = "seed={0}")
    @MethodSource("seeds")
    void toBuilderEqualsHashCodeToString(long seed) {
        Random r = new Random(seed);
        TrainingOptions o =
                TrainingOptions.builder(new Platform("Linux", false, 4))
                        .gradientCheckpointing(r.nextBoolean())
                        .offloadEncoder(r.nextBoolean())
                        .pinMemory(r.nextBoolean())
                        .persistentWorkers(r.nextBoolean())
                        .numWorkers(r.nextInt(9))
                        .queueSize(1 + r.nextInt(9))
                        .build();
        TrainingOptions copy = o.toBuilder().build();
        assertEquals(o, copy, "seed=" + seed);
        assertEquals(o.hashCode(), copy.hashCode(), "seed=" + seed);
        assertEquals(o.toString(), copy.toString(), "seed=" + seed);
        assertTrue(o.toString().contains("numWorkers=" + o.numWorkers()), o.toString());
        assertTrue(o.toString().contains("queueSize=" + o.queueSize()), o.toString());
        List<TrainingOptions> variants =
                List.of(
                        o.toBuilder().gradientCheckpointing(!o.gradientCheckpointing()).build(),
                        o.toBuilder().offloadEncoder(!o.offloadEncoder()).build(),
                        o.toBuilder().pinMemory(!o.pinMemory()).build(),
                        o.toBuilder().persistentWorkers(!o.persistentWorkers()).build(),
                        o.toBuilder().numWorkers(o.numWorkers() + 1).build(),
                        o.toBuilder().queueSize(o.queueSize() + 1).build());
        for (TrainingOptions v : variants) {
            assertNotEquals(o, v, "seed=" + seed + ": " + v);
            assertNotEquals(o.toString(), v.toString(), "seed=" + seed);
        }
    }

    @Test
    void wrapAppliesTheSettings() throws Exception {
        Platform linux = new Platform("Linux", false, 4);
        SeededIterator src = new SeededIterator(1, 5, 2, 3);
        assertSame(
                src,
                TrainingOptions.builder(linux).numWorkers(0).pinMemory(false).build().wrap(src),
                "nothing to do: the source itself");
        DataSetIterator wrapped =
                TrainingOptions.builder(linux)
                        .numWorkers(2)
                        .queueSize(3)
                        .persistentWorkers(true)
                        .build()
                        .wrap(src);
        assertTrue(wrapped instanceof PrefetchingDataSetIterator, wrapped.getClass().getName());
        PrefetchingDataSetIterator p = (PrefetchingDataSetIterator) wrapped;
        assertTrue(p.toString().contains("numWorkers=2"), p.toString());
        assertTrue(p.toString().contains("queueSize=3"), p.toString());
        assertTrue(p.toString().contains("persistentWorkers=true"), p.toString());
        assertTrue(p.toString().contains("pinMemory=false"), p.toString());
        int n = 0;
        while (p.hasNext()) {
            p.next();
            n++;
        }
        assertEquals(5, n);
        assertEquals(
                3,
                PrefetchTestSupport.liveThreads(p.threadNamePrefix()).size(),
                "reader + 2 workers");
        p.close();
        assertEquals(0, PrefetchTestSupport.awaitNoThreads(p.threadNamePrefix(), 5_000).size());
        // no more workers than batches in flight
        PrefetchingDataSetIterator few = (PrefetchingDataSetIterator) TrainingOptions.builder(linux)
                .numWorkers(6).queueSize(2).persistentWorkers(true).build().wrap(new SeededIterator(1, 5, 2, 3));
        int m = 0;
        while (few.hasNext()) {
            few.next();
            m++;
        }
        assertEquals(5, m);
        assertEquals(3, PrefetchTestSupport.liveThreads(few.threadNamePrefix()).size(), "reader + 2 workers");
        few.close();
        assertEquals(0, PrefetchTestSupport.awaitNoThreads(few.threadNamePrefix(), 5_000).size());
    }

    @Test
    void wrapAppliesTheSettingsToMultiDataSetIterators() throws Exception {
        Platform linux = new Platform("Linux", false, 4);
        org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator src =
                new org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter(new SeededIterator(2, 4, 2, 3));
        assertSame(
                src,
                TrainingOptions.builder(linux).numWorkers(0).pinMemory(false).build().wrap(src),
                "nothing to do: the source itself");
        for (TrainingOptions o : List.of(
                TrainingOptions.builder(linux).numWorkers(2).queueSize(3).pinMemory(false).build(),
                TrainingOptions.builder(linux).numWorkers(0).pinMemory(true).build())) {
            org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator wrapped = o.wrap(src);
            assertTrue(wrapped instanceof PrefetchingMultiDataSetIterator, o + ": " + wrapped.getClass().getName());
            String s = wrapped.toString();
            assertTrue(s.contains("numWorkers=" + o.numWorkers()), s);
            assertTrue(s.contains("queueSize=" + o.queueSize()), s);
            assertTrue(s.contains("pinMemory=" + o.pinMemory()), s);
            ((PrefetchingMultiDataSetIterator) wrapped).close();
        }
    }
}
