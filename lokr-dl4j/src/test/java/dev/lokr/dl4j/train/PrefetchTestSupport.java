package dev.lokr.dl4j.train;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/** Shared fixtures for the prefetch tests: a seeded source iterator and thread inspection. */
final class PrefetchTestSupport {
  private PrefetchTestSupport() {}

  /** Features of batch {@code i}: [rows, cols], element 0 is the batch index, the rest seeded. */
  static INDArray features(long seed, int i, int rows, int cols) {
    Random r = new Random(seed * 1_000_003L + i);
    float[] v = new float[rows * cols];
    for (int k = 0; k < v.length; k++) {
      v[k] = r.nextFloat();
    }
    v[0] = i;
    return Nd4j.create(v, new long[] {rows, cols}, DataType.FLOAT);
  }

  static INDArray labels(long seed, int i, int rows) {
    Random r = new Random(seed * 7_919L + i);
    INDArray l = Nd4j.zeros(DataType.FLOAT, rows, 2);
    for (int k = 0; k < rows; k++) {
      l.putScalar(k, r.nextInt(2), 1f);
    }
    return l;
  }

  /**
   * A sequential, resettable iterator of {@code numBatches} fresh batches; optionally throws {@code
   * failure} when asked for batch {@code failAt}.
   */
  static class SeededIterator implements DataSetIterator {
    private static final long serialVersionUID = 1L;
    final long seed;
    final int numBatches;
    final int rows;
    final int cols;
    final int failAt;
    final RuntimeException failure;
    final boolean resettable;
    int cursor;
    int resets;

    SeededIterator(long seed, int numBatches, int rows, int cols) {
      this(seed, numBatches, rows, cols, -1, null, true);
    }

    SeededIterator(
        long seed,
        int numBatches,
        int rows,
        int cols,
        int failAt,
        RuntimeException failure,
        boolean resettable) {
      this.seed = seed;
      this.numBatches = numBatches;
      this.rows = rows;
      this.cols = cols;
      this.failAt = failAt;
      this.failure = failure;
      this.resettable = resettable;
    }

    @Override
    public boolean hasNext() {
      return cursor < numBatches;
    }

    @Override
    public DataSet next() {
      int i = cursor++;
      if (i == failAt) {
        throw failure;
      }
      return new DataSet(features(seed, i, rows, cols), labels(seed, i, rows));
    }

    @Override
    public DataSet next(int num) {
      throw new UnsupportedOperationException();
    }

    @Override
    public int inputColumns() {
      return cols;
    }

    @Override
    public int totalOutcomes() {
      return 2;
    }

    @Override
    public boolean resetSupported() {
      return resettable;
    }

    @Override
    public boolean asyncSupported() {
      return true;
    }

    @Override
    public void reset() {
      if (!resettable) {
        throw new UnsupportedOperationException("not resettable");
      }
      cursor = 0;
      resets++;
    }

    @Override
    public int batch() {
      return rows;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
      throw new UnsupportedOperationException();
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
      return null;
    }

    @Override
    public List<String> getLabels() {
      return List.of("a", "b");
    }
  }

  /** Reference batches straight from a fresh source. */
  static List<DataSet> reference(long seed, int numBatches, int rows, int cols) {
    List<DataSet> out = new ArrayList<>();
    SeededIterator it = new SeededIterator(seed, numBatches, rows, cols);
    while (it.hasNext()) {
      out.add(it.next());
    }
    return out;
  }

  /** Live threads whose name starts with {@code prefix}. */
  static Set<Thread> liveThreads(String prefix) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.isAlive() && t.getName().startsWith(prefix))
        .collect(Collectors.toSet());
  }

  /** Waits up to {@code millis} for no live thread with {@code prefix}; returns those left. */
  static Set<Thread> awaitNoThreads(String prefix, long millis) throws InterruptedException {
    long end = System.nanoTime() + millis * 1_000_000L;
    Set<Thread> live = liveThreads(prefix);
    while (!live.isEmpty() && System.nanoTime() < end) {
      Thread.sleep(5);
      live = liveThreads(prefix);
    }
    return live;
  }

  /** A preprocessor that sleeps a seeded 0..2 ms (to shuffle worker completion) and doubles features. */
  static DataSetPreProcessor jitterDouble(long seed) {
    return ds -> {
      long idx = (long) ds.getFeatures().getFloat(0);
      Random r = new Random(seed ^ (idx * 31 + 17));
      try {
        Thread.sleep(r.nextInt(3));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      ds.getFeatures().muli(2);
      ds.getFeatures().putScalar(0, idx);
    };
  }
}
