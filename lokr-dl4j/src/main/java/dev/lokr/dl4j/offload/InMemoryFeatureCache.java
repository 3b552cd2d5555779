package dev.lokr.dl4j.offload;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/** {@link FeatureCache#inMemory()}: detached copies in a list. */
final class InMemoryFeatureCache implements FeatureCache {

    private final List<INDArray[]> batches = new ArrayList<>();
    private long bytes;
    private boolean closed;

    @Override
    public void add(DataSet batch) {
        checkOpen();
        Objects.requireNonNull(batch, "batch");
        INDArray[] parts = {batch.getFeatures(), batch.getLabels(), batch.getFeaturesMaskArray(),
                batch.getLabelsMaskArray()};
        Objects.requireNonNull(parts[0], "batch features");
        INDArray[] copies = new INDArray[parts.length];
        for (int i = 0; i < parts.length; i++) {
            if (parts[i] != null) {
                checkType(parts[i], i);
                copies[i] = parts[i].dup('c');
                if (copies[i].isAttached()) {
                    copies[i] = copies[i].detach();
                }
                bytes += copies[i].length() * copies[i].dataType().width();
            }
        }
        batches.add(copies);
    }

    @Override
    public DataSet get(int index) {
        checkOpen();
        Objects.checkIndex(index, batches.size());
        INDArray[] b = batches.get(index);
        return new DataSet(dup(b[0]), dup(b[1]), dup(b[2]), dup(b[3]));
    }

    @Override
    public int size() {
        checkOpen();
        return batches.size();
    }

    @Override
    public long sizeInBytes() {
        return bytes;
    }

    @Override
    public void close() {
        closed = true;
        batches.clear();
        bytes = 0;
    }

    static void checkType(INDArray a, int part) {
        DataType t = a.dataType();
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            throw new IllegalArgumentException("the batch's " + partName(part) + " have data type " + t
                    + "; a feature cache stores only FLOAT and DOUBLE arrays");
        }
    }

    static String partName(int part) {
        switch (part) {
            case 0: return "features";
            case 1: return "labels";
            case 2: return "feature mask";
            default: return "label mask";
        }
    }

    private static INDArray dup(INDArray a) {
        return a == null ? null : a.dup('c');
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the in-memory feature cache is closed");
        }
    }
}
