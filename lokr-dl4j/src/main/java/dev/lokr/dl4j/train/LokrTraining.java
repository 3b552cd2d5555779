package dev.lokr.dl4j.train;

import dev.lokr.dl4j.checkpoint.CheckpointedTrainer;
import dev.lokr.dl4j.checkpoint.Segmentation;
import dev.lokr.dl4j.offload.EncoderOffload;
import dev.lokr.dl4j.offload.FeatureCache;
import dev.lokr.dl4j.offload.OffloadedTraining;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Trains a network the way a {@link TrainingOptions} asks: prefetching data loading
 * ({@code numWorkers}, {@code pinMemory}, {@code persistentWorkers}), gradient checkpointing
 * ({@link CheckpointedTrainer} with {@link Segmentation#automatic()}), and frozen-encoder offload
 * ({@link EncoderOffload} with an in-memory feature cache). Without dropout and data augmentation
 * the result equals {@code net.fit(data, epochs)} within float tolerance, whatever the options, with one
 * exception that {@link EncoderOffload} explains: a plain layer "frozen" only by a {@code NoOp} updater
 * still moves under {@code net.fit} (DL4J applies its raw gradient) but stays fixed when offloaded. LoKR
 * layers' frozen {@code W} and {@code b}, {@code FrozenLayer}s and layers frozen by
 * {@code LokrNetworks.apply(..., freezeOthers = true)} are fixed either way. With offload, the network's
 * listeners follow the head while it trains: {@code iterationDone} and the epoch callbacks get the network,
 * brought up to date from the head first (parameters, updater state, counts, score; a copy of the head's
 * parameters per callback), so a listener that evaluates or saves the model sees the whole network, and
 * one that throws leaves the network with every step trained so far; the callbacks inside a step get the
 * head. The network's {@code score()} afterwards is the head's last score. With gradient checkpointing,
 * listeners get every callback but {@code onForwardPass} (see {@link CheckpointedTrainer}).
 */
public final class LokrTraining {

    private LokrTraining() {
    }

    /**
     * Trains {@code net} for {@code epochs} passes over {@code data}.
     *
     * @param net     an initialised network, modified (trained)
     * @param data    the training data; reset, as {@code net.fit} resets it, when an epoch starts with no next batch
     * @param epochs  number of epochs, at least 1
     * @param options how to train
     * @throws IllegalArgumentException if {@code epochs < 1}; if {@code epochs > 1} and the iterator to train on
     *                                  does not support reset (without offload, {@code data}); if checkpointing is on and the network or the
     *                                  data is one it does not support (the message says why: turn
     *                                  {@code gradientCheckpointing} off); if offload is on and the network has
     *                                  no frozen prefix to offload
     */
    public static void fit(MultiLayerNetwork net, DataSetIterator data, int epochs, TrainingOptions options) {
        Objects.requireNonNull(net, "net");
        Objects.requireNonNull(data, "data");
        Objects.requireNonNull(options, "options");
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        DataSetIterator source = options.wrap(data);
        try {
            if (options.offloadEncoder()) {
                try (FeatureCache cache = FeatureCache.inMemory()) {
                    OffloadedTraining off = EncoderOffload.prepare(net, source, cache);
                    if (net.getListeners() != null && !net.getListeners().isEmpty()) {
                        List<TrainingListener> seeTheNetwork = new ArrayList<>();
                        for (TrainingListener l : net.getListeners()) {
                            seeTheNetwork.add(new FullNetworkListener(l, off, net));
                        }
                        off.head().setListeners(seeTheNetwork);
                    }
                    train(off.head(), off.features(), epochs, options.gradientCheckpointing());
                    off.writeBack(net);
                }
            } else {
                train(net, source, epochs, options.gradientCheckpointing());
            }
        } finally {
            if (source != data && source instanceof AutoCloseable) {
                try {
                    ((AutoCloseable) source).close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing the prefetching iterator failed: " + e.getMessage(), e);
                }
            }
        }
    }

    private static void train(MultiLayerNetwork net, DataSetIterator data, int epochs, boolean checkpointing) {
        if (epochs > 1 && !data.resetSupported()) {
            throw new IllegalArgumentException("training for " + epochs + " epochs needs an iterator that supports"
                    + " reset(), and " + data.getClass().getName() + " does not; train one epoch at a time instead");
        }
        if (!checkpointing) {
            net.fit(data, epochs);
            return;
        }
        CheckpointedTrainer trainer = CheckpointedTrainer.of(net, Segmentation.automatic());
        for (int e = 0; e < epochs; e++) {
            trainer.fit(data);   // resets an exhausted iterator, as net.fit does
        }
    }
}
