package dev.lokr.dl4j.offload;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Round trips through both caches, the mapped file's life cycle, and refusals. */
class FeatureCacheTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void setUp() {
        OffloadFixtures.singleThreaded();
    }

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        long seed = 100;
        for (String kind : new String[] {"memory", "mapped"}) {
            for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                out.add(Arguments.of(kind, type, seed++));
            }
        }
        return out.stream();
    }

    FeatureCache cache(String kind, String name) {
        return kind.equals("memory") ? FeatureCache.inMemory() : FeatureCache.mappedFile(dir.resolve(name));
    }

    /** Batches of several ranks, some with masks, one with a non-C-order view as features. */
    static List<DataSet> batches(DataType type, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        List<DataSet> out = new ArrayList<>();
        out.add(new DataSet(OffloadFixtures.uniform(new long[] {4, 7}, type, r),
                OffloadFixtures.uniform(new long[] {4, 3}, type, r)));
        out.add(new DataSet(OffloadFixtures.uniform(new long[] {2, 3, 4, 5}, type, r),
                OffloadFixtures.uniform(new long[] {2, 3}, type, r), null,
                OffloadFixtures.uniform(new long[] {2, 1}, type, r)));
        out.add(new DataSet(OffloadFixtures.uniform(new long[] {3, 2, 6}, type, r),
                OffloadFixtures.uniform(new long[] {3, 4, 6}, type, r),
                OffloadFixtures.uniform(new long[] {3, 6}, type, r),
                OffloadFixtures.uniform(new long[] {3, 6}, type, r)));
        out.add(new DataSet(OffloadFixtures.uniform(new long[] {5, 4}, type, r).transpose(),
                OffloadFixtures.uniform(new long[] {4, 2}, DataType.FLOAT, r)));
        return out;
    }

    @ParameterizedTest(name = "{0} {1} seed={2}")
    @MethodSource("cases")
    void batchesComeBackExactlyAndInOrder(String kind, DataType type, long seed) {
        String id = kind + " " + type + " seed=" + seed;
        List<DataSet> in = batches(type, seed);
        try (FeatureCache cache = cache(kind, "round-trip.bin")) {
            long bytes = 0;
            for (DataSet ds : in) {
                cache.add(ds);
                for (INDArray a : new INDArray[] {ds.getFeatures(), ds.getLabels(), ds.getFeaturesMaskArray(),
                        ds.getLabelsMaskArray()}) {
                    bytes += a == null ? 0 : a.length() * a.dataType().width();
                }
            }
            assertEquals(in.size(), cache.size(), id);
            assertEquals(bytes, cache.sizeInBytes(), id);
            for (int round = 0; round < 2; round++) {
                for (int i = 0; i < in.size(); i++) {
                    DataSet got = cache.get(i);
                    assertSame(in.get(i).getFeatures(), got.getFeatures(), id + " batch " + i + " features");
                    assertSame(in.get(i).getLabels(), got.getLabels(), id + " batch " + i + " labels");
                    assertSame(in.get(i).getFeaturesMaskArray(), got.getFeaturesMaskArray(), id + " batch " + i);
                    assertSame(in.get(i).getLabelsMaskArray(), got.getLabelsMaskArray(), id + " batch " + i);
                    got.getFeatures().addi(1.0); // must not reach the cache
                }
            }
            assertThrows(IndexOutOfBoundsException.class, () -> cache.get(in.size()), id);
        }
    }

    private static void assertSame(INDArray expected, INDArray actual, String message) {
        if (expected == null) {
            assertNull(actual, message);
            return;
        }
        assertEquals(expected.dataType(), actual.dataType(), message);
        assertEquals(java.util.Arrays.toString(expected.shape()), java.util.Arrays.toString(actual.shape()), message);
        assertEquals(expected, actual, message);
    }

    /** add copies the batch: changing the arrays afterwards does not reach the cache. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void addedArraysAreCopied(String kind) {
        DataSet in = batches(DataType.FLOAT, 7).get(2);
        DataSet expected = in.copy();
        try (FeatureCache cache = cache(kind, "copies.bin")) {
            cache.add(in);
            in.getFeatures().addi(1.0);
            in.getLabels().addi(1.0);
            in.getFeaturesMaskArray().addi(1.0);
            in.getLabelsMaskArray().addi(1.0);
            DataSet got = cache.get(0);
            assertSame(expected.getFeatures(), got.getFeatures(), kind + " features");
            assertSame(expected.getLabels(), got.getLabels(), kind + " labels");
            assertSame(expected.getFeaturesMaskArray(), got.getFeaturesMaskArray(), kind + " feature mask");
            assertSame(expected.getLabelsMaskArray(), got.getLabelsMaskArray(), kind + " label mask");
        }
    }

    /** Once closed, a cache of either kind holds nothing (sizeInBytes 0) and refuses every other call. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void aClosedCacheHoldsNothingAndRefusesUse(String kind) {
        FeatureCache cache = cache(kind, "closed.bin");
        DataSet batch = batches(DataType.DOUBLE, 8).get(0);
        cache.add(batch);
        assertTrue(cache.sizeInBytes() > 0, kind);
        cache.close();
        assertEquals(0, cache.sizeInBytes(), kind + ": a closed cache holds nothing");
        assertThrows(IllegalStateException.class, cache::size, kind);
        assertThrows(IllegalStateException.class, () -> cache.get(0), kind);
        assertThrows(IllegalStateException.class, () -> cache.add(batch), kind);
        cache.close();
    }

    @Test
    void theMappedFileHoldsTheDataAndIsDeletedOnClose() throws Exception {
        Path file = dir.resolve("cache.bin");
        FeatureCache cache = FeatureCache.mappedFile(file);
        assertTrue(Files.exists(file));
        INDArray x = Nd4j.createFromArray(new float[][] {{1.5f, -2f}, {3f, 0.25f}});
        cache.add(new DataSet(x, null));
        assertEquals(16, Files.size(file));
        byte[] raw = Files.readAllBytes(file);
        java.nio.ByteBuffer le = java.nio.ByteBuffer.wrap(raw).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(1.5f, le.getFloat(0));
        assertEquals(0.25f, le.getFloat(12));
        assertEquals(x, cache.get(0).getFeatures());
        assertNull(cache.get(0).getLabels());
        cache.close();
        assertFalse(Files.exists(file), "the cache file must be deleted on close");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> cache.get(0));
        assertTrue(e.getMessage().contains("closed"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> cache.add(new DataSet(x, null)));
        assertEquals(0, cache.sizeInBytes(), "a closed cache holds nothing");
        cache.close();
    }

    /**
     * No mapping of the cache file outlives a read (Linux: the process's mappings in /proc/self/maps), so the
     * file's space is free as soon as close() deletes it. Before, each read mapped the file and the mapping
     * lived until a garbage collection: a deleted cache file larger than memory kept its disk space, and on
     * Windows close() could not delete the file.
     */
    @Test
    void noMappingOfTheFileOutlivesAReadOrClose() throws Exception {
        Path maps = Path.of("/proc/self/maps");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(maps), "needs /proc/self/maps (Linux)");
        Path file = dir.resolve("unmapped.bin");
        FeatureCache cache = FeatureCache.mappedFile(file);
        String name = file.toRealPath().toString();
        List<DataSet> in = batches(DataType.FLOAT, 21);
        for (DataSet ds : in) {
            cache.add(ds);
        }
        for (int i = 0; i < in.size(); i++) {
            assertSame(in.get(i).getFeatures(), cache.get(i).getFeatures(), "batch " + i);
        }
        assertEquals(List.of(), mappingsOf(maps, name), "mappings of the cache file after reads");
        cache.close();
        assertFalse(Files.exists(file));
        assertEquals(List.of(), mappingsOf(maps, name), "mappings of the deleted cache file after close()");
    }

    /**
     * A thread with its interrupt status set adds to and reads from a file cache as any other, keeps the status,
     * and the cache goes on working. Before, the interrupt closed the cache's file channel (as NIO channels do):
     * that call failed, and so did every later one, with a ClosedChannelException, until the cache was closed.
     */
    @Test
    void anInterruptedThreadUsesTheFileCacheAndKeepsItsInterrupt() {
        List<DataSet> in = batches(DataType.DOUBLE, 23);
        try (FeatureCache cache = FeatureCache.mappedFile(dir.resolve("interrupted.bin"))) {
            cache.add(in.get(0));
            DataSet got;
            try {
                Thread.currentThread().interrupt();
                cache.add(in.get(1));
                got = cache.get(0);
                assertTrue(Thread.currentThread().isInterrupted(), "the interrupt status is kept");
            } finally {
                Thread.interrupted();
            }
            assertSame(in.get(0).getFeatures(), got.getFeatures(), "batch 0, read while interrupted");
            for (int i = 0; i < 2; i++) {
                assertSame(in.get(i).getFeatures(), cache.get(i).getFeatures(), "batch " + i + " afterwards");
                assertSame(in.get(i).getLabels(), cache.get(i).getLabels(), "batch " + i + " afterwards");
            }
            cache.add(in.get(2));
            assertEquals(3, cache.size());
        }
    }

    private static List<String> mappingsOf(Path maps, String name) throws java.io.IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(maps)) {
            if (line.contains(name)) {
                out.add(line);
            }
        }
        return out;
    }

    @Test
    void anExistingFileIsNeverOverwritten() throws Exception {
        Path file = dir.resolve("taken.bin");
        Files.write(file, new byte[] {1, 2, 3});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> FeatureCache.mappedFile(file));
        assertTrue(e.getMessage().contains("already exists") && e.getMessage().contains("delete it if nothing uses it"),
                e.getMessage());
        assertEquals(3, Files.size(file));
        IllegalArgumentException noDir = assertThrows(IllegalArgumentException.class,
                () -> FeatureCache.mappedFile(dir.resolve("missing").resolve("x.bin")));
        assertTrue(noDir.getMessage().contains("does not exist"), noDir.getMessage());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("kinds")
    void unsupportedDataTypesAreRefused(String kind) {
        try (FeatureCache cache = cache(kind, "types.bin")) {
            INDArray ints = Nd4j.createFromArray(new int[][] {{1, 2}});
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cache.add(new DataSet(Nd4j.ones(DataType.FLOAT, 1, 2), ints)));
            assertTrue(e.getMessage().contains("labels") && e.getMessage().contains("INT"),
                    kind + ": " + e.getMessage());
            assertEquals(0, cache.size(), kind);
        }
    }

    static Stream<String> kinds() {
        return Stream.of("memory", "mapped");
    }
}
